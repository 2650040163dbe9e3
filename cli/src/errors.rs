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
    /// The hub could not be reached, or is busy or failing (retry later; nothing was lost).
    Network = 6,
    /// The hub refused: wrong setup code, unknown/used/expired invite, unknown device, not a lead.
    Refused = 7,
    /// The hub refuses this device because a lead revoked it.
    Revoked = 8,
    /// Cancelled with Ctrl-C (the shell's usual code for SIGINT); nothing was lost.
    Cancelled = 130,
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
            CoreError::Wiped => (
                Exit::Revoked,
                format!("the store in {d} has been wiped (a lead's remote wipe order, or the team's dead-man timer) and cannot be recovered; to use this device again, ask a lead for a new invite (outreach enrol)"),
            ),
            other => (Exit::Other, format!("{other}; nothing was saved by this command")),
        };
        CliError {
            exit,
            message: one_line(&message),
        }
    }
}

/// Maps an error of a hub-facing operation (register, invite, enrol, sync, devices): network
/// failures, hub refusals and verification failures each get a message saying what to do next
/// and their own exit code; anything else goes through [`CliError::from_core`].
pub fn from_sync(e: CoreError, dir: &Path) -> CliError {
    let (exit, message) = match e {
        CoreError::Network(kind) => (
            Exit::Network,
            format!("cannot reach the hub ({}); nothing was lost; check the network and the hub address, then try again", one_line(&kind)),
        ),
        CoreError::Cancelled => (
            Exit::Cancelled,
            "cancelled; nothing lost, run `outreach sync` again".to_string(),
        ),
        CoreError::Crypto(_) => (
            Exit::Other,
            "data from the hub failed verification, so none of it was applied; run `outreach sync` again, and tell a lead if this repeats (the hub or the network may be tampered with)".to_string(),
        ),
        CoreError::Hub { code, status, retryable } => hub_refusal(&code, status, retryable),
        other => return CliError::from_core(other, dir),
    };
    CliError {
        exit,
        message: one_line(&message),
    }
}

/// The exit code and message for a typed refusal from the hub (protocol error codes, see
/// docs/PROTOCOL.md). Codes are protocol words, never data, so they are safe to show.
fn hub_refusal(code: &str, status: u16, retryable: bool) -> (Exit, String) {
    let code = one_line(code);
    let refused = |m: &str| (Exit::Refused, m.to_string());
    match code.as_str() {
        "revoked" => (
            Exit::Revoked,
            "the hub refuses this device: a team lead has revoked it, so it can no longer sync; hand it to a lead (to use it again it must be enrolled anew with a new invite)".to_string(),
        ),
        "unknown_device" => refused("the hub does not know this device or its team; check the hub address, or enrol this device again with a new invite from a lead"),
        "bad_setup_code" => refused("the hub refused the setup code; check it (`outreach hub serve` prints it, or the file it names, at start) and run the command again"),
        "forbidden" => refused("only a lead device can do this; ask a team lead"),
        "invite_used" => refused("this invite has already been used; ask a lead for a new one (`outreach invite`)"),
        "invite_expired" => refused("this invite has expired; ask a lead for a new one (`outreach invite`)"),
        "invite_unknown" => refused("the hub does not know this invite; check the whole code was copied, or ask a lead for a new one"),
        "not_found" => (Exit::NotFound, "that device is not in this team; see `outreach devices list`".to_string()),
        "stale_timestamp" => (
            Exit::Other,
            "the hub refused the request because this computer's clock is more than 10 minutes off; set the clock right and try again".to_string(),
        ),
        "team_exists" => (
            Exit::Other,
            "the hub already has this team under another lead device; nothing was changed".to_string(),
        ),
        _ if retryable || status >= 500 || status == 429 => (
            Exit::Network,
            format!("the hub is busy or failing ({code}, HTTP {status}); nothing was lost; try again in a minute"),
        ),
        _ => (
            Exit::Other,
            format!("the hub refused the request ({code}, HTTP {status}); nothing was lost; check that outreach and the hub are up to date"),
        ),
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
