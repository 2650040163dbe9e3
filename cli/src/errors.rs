//! The CLI's error type and exit codes.
//!
//! Every failure becomes ONE line on stderr that starts with `error: ` and says what to do next.
//! Messages never carry personal data: the core's errors name fields and rules, never values,
//! and the CLI's own parse errors follow the same rule (they name the option, never echo what
//! was typed into it).

use std::path::Path;

use outreach_core::Error as CoreError;

/// Process exit codes. Documented in `cli/README.md`; tests rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything else (damaged store, state errors such as "no shift open", i/o).
    Other = 1,
    /// The command line could not be parsed (clap's own code).
    Usage = 2,
    /// Wrong passphrase or key.
    WrongKey = 3,
    /// No store where one was expected, or a record id that does not exist.
    NotFound = 4,
    /// An input failed validation.
    Invalid = 5,
}

/// A failure of one command: an exit code and a one-line message (without the `error: `
/// prefix, which `main` adds).
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub exit: Exit,
    /// One line, no personal data, says what to do next.
    pub message: String,
}

impl CliError {
    /// A validation failure of one of the CLI's own options.
    pub fn invalid(option: &str, rule: impl std::fmt::Display) -> Self {
        CliError {
            exit: Exit::Invalid,
            message: format!("invalid {option}: {rule}"),
        }
    }

    /// Any other failure.
    pub fn other(message: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Other,
            message: message.into(),
        }
    }

    /// Maps a core error, naming the store directory where that helps the operator.
    pub fn from_core(e: CoreError, dir: &Path) -> Self {
        let d = dir.display();
        let (exit, message) = match e {
            CoreError::WrongKey => (
                Exit::WrongKey,
                format!("wrong passphrase for the store in {d}; try again (or check OUTREACH_DATA_DIR / --data-dir)"),
            ),
            CoreError::NoStore(_) => (
                Exit::NotFound,
                format!("no store in {d}; run `outreach init` first (or check OUTREACH_DATA_DIR / --data-dir)"),
            ),
            CoreError::NotFound { kind, id } => (
                Exit::NotFound,
                format!("{kind} {id} not found on this device; check the id (see `outreach list` or `outreach person find`)"),
            ),
            CoreError::Invalid { field, reason } => (Exit::Invalid, format!("invalid {field}: {reason}")),
            CoreError::AlreadyExists(_) => (
                Exit::Other,
                format!("a store already exists in {d}; use it as it is, or choose another --data-dir"),
            ),
            CoreError::Corrupt(what) => (
                Exit::Other,
                format!("the store in {d} is damaged ({what}); nothing was changed; restore it from another device or a backup"),
            ),
            CoreError::TooNew { found, supported } => (
                Exit::Other,
                format!("the store in {d} has schema version {found}, newer than this outreach supports ({supported}); update outreach"),
            ),
            CoreError::State(msg) => (Exit::Other, msg),
            other => (Exit::Other, format!("{other}; nothing was saved by this command")),
        };
        CliError {
            exit,
            message: one_line(&message),
        }
    }
}

/// Flattens a message to one line (defensive: core messages are one line already).
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Shorthand for command results.
pub type CliResult<T = ()> = Result<T, CliError>;

/// Usage errors from clap, rendered as one line WITHOUT echoing what was typed: a stray
/// positional argument may well be the phone number someone meant to check.
pub fn usage_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let strings = |k: ContextKind| -> Vec<String> {
        match e.get(k) {
            Some(ContextValue::String(s)) => vec![s.clone()],
            Some(ContextValue::Strings(v)) => v.clone(),
            _ => vec![],
        }
    };
    // Definitions (`--zone <ZONE>`) are safe to show; user tokens only when they look like an
    // option name.
    let defined = |k: ContextKind| strings(k).join(", ");
    let looks_like_flag = |s: &str| {
        s.starts_with('-')
            && s.len() <= 40
            && s.trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == '-')
    };
    let looks_like_word =
        |s: &str| s.len() <= 30 && s.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    let what = match e.kind() {
        ErrorKind::MissingRequiredArgument => {
            format!("missing required {}", defined(ContextKind::InvalidArg))
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "a subcommand is needed".to_string()
        }
        ErrorKind::UnknownArgument => match strings(ContextKind::InvalidArg).first() {
            Some(a) if looks_like_flag(a) => format!("unknown option {a}"),
            _ => "unexpected argument (not shown)".to_string(),
        },
        ErrorKind::InvalidSubcommand => match strings(ContextKind::InvalidSubcommand).first() {
            Some(a) if looks_like_word(a) => format!("unknown command {a}"),
            _ => "unknown command (not shown)".to_string(),
        },
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            if strings(ContextKind::InvalidValue)
                .iter()
                .all(|v| v.is_empty())
            {
                format!("a value is needed for {}", defined(ContextKind::InvalidArg))
            } else {
                format!("invalid value for {}", defined(ContextKind::InvalidArg))
            }
        }
        ErrorKind::ArgumentConflict => {
            let prior = defined(ContextKind::PriorArg);
            if prior.is_empty() {
                format!(
                    "{} cannot be used with one of the other options given",
                    defined(ContextKind::InvalidArg)
                )
            } else {
                format!(
                    "{} cannot be used with {prior}",
                    defined(ContextKind::InvalidArg)
                )
            }
        }
        ErrorKind::TooManyValues | ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            format!(
                "wrong number of values for {}",
                defined(ContextKind::InvalidArg)
            )
        }
        ErrorKind::NoEquals => format!(
            "{} needs `=` before its value",
            defined(ContextKind::InvalidArg)
        ),
        ErrorKind::InvalidUtf8 => "arguments must be valid UTF-8".to_string(),
        _ => "the command line could not be understood".to_string(),
    };
    let what = what.trim_end().to_string();
    format!("{}; see `{} --help`", one_line(&what), command_path(e))
}

/// The subcommand path (`outreach shift start`) from the usage line of clap's rendered
/// message. The usage line is built from definitions only; nothing else of the rendering is used.
fn command_path(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let usage = rendered
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("Usage:"))
        .unwrap_or("");
    let words: Vec<&str> = usage
        .split_whitespace()
        .take_while(|w| {
            !w.starts_with('-') && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .collect();
    if words.first() == Some(&"outreach") {
        words.join(" ")
    } else {
        "outreach".to_string()
    }
}
