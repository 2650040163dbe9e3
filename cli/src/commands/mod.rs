//! One module per command group. Each exposes its clap arguments and a `run` function taking
//! the shared [`Context`].

pub mod admin;
pub mod alert;
pub mod concern;
pub mod demo;
pub mod devices;
pub mod duress;
pub mod encounter;
pub mod erase;
pub mod hub;
pub mod incident;
pub mod init;
pub mod invite;
pub mod people;
pub mod person;
pub mod report;
pub mod retention;
pub mod review;
pub mod shift;
pub mod sync;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::errors::CliResult;

fn export_run(ctx: &Context, a: report::ExportArgs) -> CliResult {
    report::export(ctx, a)
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> CliResult {
    let ctx = Context::new(cli.data_dir, cli.user)?;
    match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Shift(c) => shift::run(&ctx, c),
        Command::Log(a) => encounter::log(&ctx, a),
        Command::Amend(a) => encounter::amend(&ctx, a),
        Command::List(a) => encounter::list(&ctx, a),
        Command::Person(c) => person::run(&ctx, c),
        Command::Alert(c) => alert::run(&ctx, c),
        Command::Concern(c) => concern::run(&ctx, c),
        Command::Incident(c) => incident::run(&ctx, c),
        Command::Audit(a) => admin::audit(&ctx, a),
        Command::Check(a) => admin::check(&ctx, a),
        Command::Rebuild(a) => admin::rebuild(&ctx, a),
        Command::Hub(c) => hub::run(&ctx, c),
        Command::Invite(a) => invite::invite(&ctx, a),
        Command::Enrol(a) => invite::enrol(&ctx, a),
        Command::Sync(a) => sync::run(&ctx, a),
        Command::Devices(c) => devices::run(&ctx, c),
        Command::Duress(c) => duress::run(&ctx, c),
        Command::Review(a) => review::run(&ctx, a),
        Command::People(c) => people::run(&ctx, c),
        Command::Report(a) => report::report(&ctx, a),
        Command::Export(a) => export_run(&ctx, a),
        Command::Demo(a) => demo::run(a),
        Command::Retention(c) => retention::run(&ctx, c),
        Command::Purge(a) => retention::purge(&ctx, a),
    }
}
