//! Shared helpers: where the store lives, the passphrase, opening and creating stores.
//!
//! The passphrase comes only from the environment (`OUTREACH_PASSPHRASE`) or a no-echo prompt on
//! the terminal, never from an argument (arguments show in process lists and shell history).
//! It is held in [`Zeroizing`] and wiped when dropped.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use outreach_core::{KdfParams, Store, StoreOptions, TeamSetup, Unlock};
use zeroize::Zeroizing;

use crate::errors::{CliError, CliResult, Exit};

/// Environment variable holding the passphrase (for scripts and tests).
pub const ENV_PASSPHRASE: &str = "OUTREACH_PASSPHRASE";
/// TEST ONLY: `OUTREACH_KDF=insecure-fast-for-tests` makes `init` use cheap Argon2id parameters.
/// Deliberately absent from `--help`; documented in `cli/README.md`.
pub const ENV_KDF: &str = "OUTREACH_KDF";
/// The only accepted value of [`ENV_KDF`].
pub const KDF_FAST_FOR_TESTS: &str = "insecure-fast-for-tests";
/// Shortest passphrase `init` accepts (characters).
pub const MIN_PASSPHRASE: usize = 10;

/// What every command gets: the store directory and who is at the keyboard.
#[derive(Debug, Clone)]
pub struct Context {
    /// The store directory.
    pub data_dir: PathBuf,
    /// Staff handle written to the audit log, if given.
    pub user: Option<String>,
}

impl Context {
    /// Resolves the store directory: `--data-dir`, then `OUTREACH_DATA_DIR` (clap reads both),
    /// then the platform data directory.
    pub fn new(data_dir: Option<PathBuf>, user: Option<String>) -> CliResult<Self> {
        let data_dir = match data_dir.filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => d,
            None => dirs::data_dir().map(|d| d.join("outreach")).ok_or_else(|| {
                CliError::other("cannot find this platform's data directory; pass --data-dir DIR or set OUTREACH_DATA_DIR")
            })?,
        };
        let user = user.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        Ok(Context { data_dir, user })
    }

    /// Maps a core error with this store's directory.
    pub fn core(&self, e: outreach_core::Error) -> CliError {
        CliError::from_core(e, &self.data_dir)
    }

    /// Opens the store, asking for the passphrase if the environment does not hold it.
    pub fn open(&self) -> CliResult<Store> {
        // Check for the store before asking for a passphrase nobody can use.
        if !outreach_core::store_exists(&self.data_dir) {
            return Err(self.core(outreach_core::Error::NoStore(self.data_dir.clone())));
        }
        let pass = passphrase(&format!("Passphrase for {}: ", self.data_dir.display()))?;
        let mut store = Store::open(&self.data_dir, Unlock::Passphrase(pass.as_bytes()))
            .map_err(|e| self.core(e))?;
        drop(pass);
        if let Some(u) = &self.user {
            store.set_user(u).map_err(|e| self.core(e))?;
        }
        Ok(store)
    }

    /// Creates a new store protected by a new passphrase (asked twice on a terminal).
    pub fn create(&self, team: TeamSetup) -> CliResult<Store> {
        if outreach_core::store_exists(&self.data_dir) {
            return Err(self.core(outreach_core::Error::AlreadyExists(self.data_dir.clone())));
        }
        // Validate before asking for a passphrase, so a typo in --zones costs no retyping.
        team.validate().map_err(|e| self.core(e))?;
        // The update is needed when a test build enables the core's extra (test-only) option.
        #[allow(clippy::needless_update)]
        let opts = StoreOptions {
            kdf: kdf_params()?,
            ..Default::default()
        };
        let pass = new_passphrase("outreach init")?;
        let mut store = Store::create(
            &self.data_dir,
            Unlock::Passphrase(pass.as_bytes()),
            team,
            &opts,
        )
        .map_err(|e| self.core(e))?;
        drop(pass);
        if let Some(u) = &self.user {
            store.set_user(u).map_err(|e| self.core(e))?;
        }
        Ok(store)
    }

    /// Maps an error of a hub-facing operation (see [`crate::errors::from_sync`]).
    pub fn sync_err(&self, e: outreach_core::Error) -> CliError {
        crate::errors::from_sync(e, &self.data_dir)
    }

    /// The store directory, for messages.
    pub fn dir(&self) -> &Path {
        &self.data_dir
    }
}

/// The Argon2id parameters for a new store: the core's default, or the cheap test-only ones
/// when `OUTREACH_KDF=insecure-fast-for-tests`.
pub(crate) fn kdf_params() -> CliResult<KdfParams> {
    match std::env::var_os(ENV_KDF) {
        None => Ok(KdfParams::default()),
        Some(v) if v == KDF_FAST_FOR_TESTS => Ok(KdfParams::insecure_fast_for_tests()),
        Some(v) if v.is_empty() => Ok(KdfParams::default()),
        Some(_) => Err(CliError {
            exit: Exit::Invalid,
            message: format!(
                "invalid {ENV_KDF}: unknown value; unset it (it exists for tests only)"
            ),
        }),
    }
}

/// The passphrase from the environment, if set and not empty.
fn env_passphrase() -> CliResult<Option<Zeroizing<String>>> {
    match std::env::var_os(ENV_PASSPHRASE) {
        None => Ok(None),
        Some(v) => {
            let v = Zeroizing::new(
                v.into_string()
                    .map_err(|_| CliError::invalid(ENV_PASSPHRASE, "must be valid UTF-8"))?,
            );
            Ok(if v.is_empty() { None } else { Some(v) })
        }
    }
}

/// Set when standard input carries data (`outreach enrol -`): prompts then go to the
/// controlling terminal (`/dev/tty`) if there is one, as the no-echo prompt does anyway.
static STDIN_IS_DATA: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks standard input as data rather than the keyboard (see [`STDIN_IS_DATA`]).
pub(crate) fn stdin_is_data() {
    STDIN_IS_DATA.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether a no-echo prompt can reach the person at the keyboard.
fn can_prompt() -> bool {
    if std::io::stdin().is_terminal() {
        return true;
    }
    STDIN_IS_DATA.load(std::sync::atomic::Ordering::SeqCst)
        && cfg!(unix)
        && std::fs::File::open("/dev/tty").is_ok_and(|f| f.is_terminal())
}

fn prompt(text: &str) -> CliResult<Zeroizing<String>> {
    if !can_prompt() {
        return Err(CliError::other(format!(
            "no passphrase: set {ENV_PASSPHRASE} or run outreach in a terminal to be asked for it"
        )));
    }
    let p = rpassword::prompt_password(text).map_err(|_| {
        CliError::other(format!(
            "could not read the passphrase from the terminal; set {ENV_PASSPHRASE} instead"
        ))
    })?;
    Ok(Zeroizing::new(p))
}

/// The passphrase of an existing store.
fn passphrase(prompt_text: &str) -> CliResult<Zeroizing<String>> {
    if let Some(p) = env_passphrase()? {
        return Ok(p);
    }
    let p = prompt(prompt_text)?;
    if p.is_empty() {
        return Err(CliError::invalid(
            "passphrase",
            "must not be empty; try again",
        ));
    }
    Ok(p)
}

/// A new passphrase: long enough, and typed the same twice when asked for on a terminal.
/// `command` is what to run again if the two entries differ.
pub(crate) fn new_passphrase(command: &str) -> CliResult<Zeroizing<String>> {
    let p = match env_passphrase()? {
        Some(p) => p,
        None => {
            let p = prompt(&format!(
                "New passphrase (at least {MIN_PASSPHRASE} characters): "
            ))?;
            check_length(&p)?;
            let again = prompt("Type the passphrase again: ")?;
            if *again != *p {
                return Err(CliError::invalid(
                    "passphrase",
                    format!("the two entries differ; run `{command}` again"),
                ));
            }
            p
        }
    };
    check_length(&p)?;
    Ok(p)
}

fn check_length(p: &str) -> CliResult<()> {
    if p.chars().count() < MIN_PASSPHRASE {
        return Err(CliError::invalid(
            "passphrase",
            format!("too short: use at least {MIN_PASSPHRASE} characters (a few unrelated words work well)"),
        ));
    }
    Ok(())
}

/// A secret other than the passphrase (setup code, invite code): from the environment variable
/// `env` when set and not empty, else asked for on the terminal without echo. Never from an
/// argument. `what` names it in messages ("setup code").
pub(crate) fn secret(env: &str, prompt_text: &str, what: &str) -> CliResult<Zeroizing<String>> {
    if let Some(v) = std::env::var_os(env) {
        let v = Zeroizing::new(
            v.into_string()
                .map_err(|_| CliError::invalid(env, "must be valid UTF-8"))?,
        );
        let t = Zeroizing::new(v.trim().to_string());
        if !t.is_empty() {
            return Ok(t);
        }
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::other(format!(
            "no {what}: set {env} or run outreach in a terminal to be asked for it"
        )));
    }
    let p = Zeroizing::new(rpassword::prompt_password(prompt_text).map_err(|_| {
        CliError::other(format!(
            "could not read the {what} from the terminal; set {env} instead"
        ))
    })?);
    let t = Zeroizing::new(p.trim().to_string());
    if t.is_empty() {
        return Err(CliError::invalid(what, "must not be empty; try again"));
    }
    Ok(t)
}

/// A secret read from standard input (`-` on the command line): the first line, at most 4 KiB.
pub(crate) fn secret_from_stdin(what: &str) -> CliResult<Zeroizing<String>> {
    use std::io::Read;
    let mut buf = Zeroizing::new(Vec::with_capacity(512));
    std::io::stdin()
        .lock()
        .take(4096)
        .read_to_end(&mut buf)
        .map_err(|_| CliError::other(format!("could not read the {what} from standard input")))?;
    let text =
        std::str::from_utf8(&buf).map_err(|_| CliError::invalid(what, "must be valid UTF-8"))?;
    let line = Zeroizing::new(text.lines().next().unwrap_or("").trim().to_string());
    if line.is_empty() {
        return Err(CliError::invalid(what, "standard input was empty"));
    }
    Ok(line)
}

/// Confirmation before a destructive step (erase, purge, revoke, withdraw). Off a terminal it
/// fails with `off_terminal` (which tells the operator to add `--yes`); on one it asks `prompt`
/// and goes on only if the trimmed answer is `expected` (in any letter case when `any_case`),
/// else it fails with `refused`, nothing having been changed.
pub(crate) fn confirm(off_terminal: String, prompt: &str, expected: &str, any_case: bool, refused: &str) -> CliResult<()> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::other(off_terminal));
    }
    let answer = ask_line(prompt)?.unwrap_or_default();
    let answer = answer.trim();
    let expected = expected.trim();
    let ok = if any_case { answer.eq_ignore_ascii_case(expected) } else { answer == expected };
    if ok {
        Ok(())
    } else {
        Err(CliError::other(refused))
    }
}

/// One line typed on the terminal (echoed): for labels such as a device name. `None` when
/// standard input is not a terminal.
pub(crate) fn ask_line(prompt_text: &str) -> CliResult<Option<String>> {
    use std::io::Write;
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{prompt_text}");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|_| CliError::other("could not read from the terminal"))?;
    Ok(Some(line.trim().to_string()))
}
