//! `outreach`: the command for team leads and operators of the outreach logger.
//!
//! This file only parses, dispatches and turns failures into one line on stderr and an exit
//! code. The commands live in `commands/`, shared helpers in `context`, `output` and `parse`.

mod cli;
mod commands;
mod context;
mod errors;
mod output;
mod parse;
mod remote;

use std::process::ExitCode;

use clap::Parser;

use crate::errors::{one_line, usage_line, Exit};

fn main() -> ExitCode {
    // A panic message can quote data; never print one. A bug becomes one generic line.
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(run);
    match result {
        Ok(code) => code,
        Err(_) => {
            eprintln!("error: internal error in outreach (a bug); please report the command you ran, without any personal data");
            ExitCode::from(Exit::Other as u8)
        }
    }
}

fn run() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                _ => {
                    eprintln!("error: {}", usage_line(&e));
                    ExitCode::from(Exit::Usage as u8)
                }
            };
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e.message));
            ExitCode::from(e.exit as u8)
        }
    }
}
