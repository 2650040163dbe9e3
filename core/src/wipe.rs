//! Device loss: wiping a store, the dead-man timer and the duress passphrase (or PIN).
//!
//! - **Wipe** ([`Store::wipe`], [`wipe_dir`]): the key material beside the database goes first
//!   (`store.json`: the key check value and, on passphrase stores, the Argon2id salt without
//!   which the passphrase derives nothing), then `outreach.db`, `-wal`, `-shm` (and a left-over
//!   `-journal` or `store.json.tmp`): each is overwritten in place with random bytes, synced to
//!   the disk, and deleted; the directory is removed when nothing else is in it, and staging
//!   directories of an interrupted create beside it are wiped too. Afterwards
//!   [`Store::open`] finds nothing ([`Error::NoStore`]).
//! - **Remote wipe**: a lead revokes a device with a signed [`WipeOrder`]; the hub hands the
//!   order over in its `revoked` refusal at the device's next contact; [`Store::sync`] checks
//!   it (signed by a lead in this device's directory, for this team and this device) and wipes,
//!   returning [`Error::Wiped`].
//! - **Dead-man timer**: team setting `dead_man_hours` (set by a lead,
//!   [`Store::set_dead_man_hours`]). At every open, a *member* device that has a hub and whose
//!   last successful sync (or, if it never synced, its enrolment) is older than that wipes
//!   itself and the open returns [`Error::Wiped`]. Lead devices are exempt: they hold the only
//!   keys that can revoke devices and re-key the team.
//! - **Duress**: `store.json` holds an Argon2id verifier (own salt) of a duress passphrase
//!   (CLI) or PIN (phones). Every passphrase store carries one from its creation: a random decoy
//!   until a real one is set, so its presence gives nothing away. Opening with the duress
//!   passphrase wipes the store and answers [`Error::NoStore`], exactly what a directory with no
//!   store answers. Phones unlock with a raw key from the Keystore/Keychain, so their PIN
//!   screen asks [`check_duress`] first.
//!
//! **Limits.** Overwriting a file in place does not reach every copy of its blocks on flash
//! storage (wear levelling, copy-on-write file systems, snapshots): what makes the data
//! unreadable is that the key is destroyed. On phones that key lives in the Android Keystore /
//! iOS Keychain, which the core cannot reach: the shell deletes it when a wipe happens (the
//! shells' logic does, on [`Error::Wiped`] and on a duress PIN). On the CLI the key is derived
//! from the passphrase and the salt: with `store.json` overwritten and the database
//! overwritten, nothing derived from the passphrase opens anything left.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use outreach_proto::orders::WipeOrder;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::doc::{self, DocKind};
use crate::error::{Error, Result};
use crate::key::{KdfParams, StoreKey};
use crate::store::{read_meta, MetaFile, Store, B64, DB_FILE, META_FILE};

/// Label of the duress check value (HMAC-SHA256 under the key derived from the duress secret).
const DURESS_LABEL: &[u8] = b"outreach/duress-check/v1";

/// Argon2id parameters for a phone's duress PIN verifier (a phone's store has no passphrase
/// parameters of its own): OWASP's minimum for Argon2id, 19 MiB and 2 passes.
pub const DURESS_PIN_KDF: KdfParams = KdfParams { m_kib: 19 * 1024, t: 2, p: 1 };

/// Longest a dead-man timer may be set to (ten years, in hours).
pub const MAX_DEAD_MAN_HOURS: u32 = 24 * 365 * 10;

/// The duress verifier kept in `store.json`: Argon2id parameters, a salt of its own and a check
/// value. Not secret; a decoy has a random check value that no secret matches.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DuressFile {
    alg: String,
    #[serde(flatten)]
    params: KdfParams,
    salt: String,
    check: String,
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

impl DuressFile {
    /// A decoy: random salt and check value.
    pub(crate) fn decoy(params: &KdfParams) -> Self {
        DuressFile {
            alg: "argon2id".into(),
            params: params.clone(),
            salt: B64.encode(random::<16>()),
            check: B64.encode(random::<32>()),
        }
    }

    fn new(secret: &[u8], params: &KdfParams) -> Result<Self> {
        let salt = random::<16>();
        let key = StoreKey::derive(secret, &salt, params)?;
        Ok(DuressFile {
            alg: "argon2id".into(),
            params: params.clone(),
            salt: B64.encode(salt),
            check: B64.encode(key.derive_subkey(DURESS_LABEL)),
        })
    }

    fn matches(&self, secret: &[u8]) -> Result<bool> {
        let salt = B64.decode(&self.salt).map_err(|_| Error::Corrupt("bad duress salt".into()))?;
        let want = B64.decode(&self.check).map_err(|_| Error::Corrupt("bad duress check".into()))?;
        let got = StoreKey::derive(secret, &salt, &self.params)?.derive_subkey(DURESS_LABEL);
        Ok(want.len() == got.len() && want.iter().zip(got.iter()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0)
    }
}

/// Whether `secret` is the duress passphrase of the store whose metadata is `meta`. Always
/// runs the KDF when a verifier (real or decoy) exists.
pub(crate) fn is_duress(meta: &MetaFile, secret: &[u8]) -> Result<bool> {
    match &meta.duress {
        Some(d) => d.matches(secret),
        None => Ok(false),
    }
}

// ---- wiping ----------------------------------------------------------------------------------

/// Overwrites a file in place with random bytes (whole length), syncs it and deletes it.
fn shred_file(path: &Path) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.is_file() {
        let result = (|| {
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            let len = f.metadata()?.len();
            f.seek(std::io::SeekFrom::Start(0))?;
            let mut buf = vec![0u8; 64 * 1024];
            let mut left = len;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                rand::rngs::OsRng.fill_bytes(&mut buf[..n]);
                f.write_all(&buf[..n])?;
                left -= n as u64;
            }
            f.sync_all()
        })();
        // Delete even if the overwrite failed: the key is what matters, and a file left behind
        // is worse than one deleted without being overwritten.
        let removed = std::fs::remove_file(path);
        result?;
        removed
    } else {
        std::fs::remove_file(path)
    }
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Whether a file name in a store directory belongs to the store.
fn is_store_file(name: &str) -> bool {
    name == META_FILE || name.starts_with("store.json.") || name.starts_with(DB_FILE)
}

/// Shreds the store files directly in `dir`, key material first. Returns the first error.
fn shred_store_files(dir: &Path) -> std::io::Result<()> {
    let mut first: Option<std::io::Error> = None;
    let mut note = |r: std::io::Result<()>| {
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    };
    // 1. The key check value and the salt: after this no passphrase derives the key.
    note(shred_file(&dir.join(META_FILE)));
    sync_dir(dir);
    // 2. The database and its side files, then anything else of the store's.
    for name in [DB_FILE.to_string(), format!("{DB_FILE}-wal"), format!("{DB_FILE}-shm"), format!("{DB_FILE}-journal")] {
        note(shred_file(&dir.join(name)));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if is_store_file(&e.file_name().to_string_lossy()) {
                note(shred_file(&e.path()));
            }
        }
    }
    sync_dir(dir);
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Wipes the store in `dir` without opening it (for a store that cannot be opened: a forgotten
/// passphrase, a damaged file, a revoked or expired device): see the [module docs](self).
/// Other files a user keeps in the directory are left alone (the directory is removed only if
/// the store's were the only files in it). Succeeds when there is no store.
pub fn wipe_dir(dir: &Path) -> Result<()> {
    let mut first: Option<Error> = None;
    if dir.is_dir() {
        if let Err(e) = shred_store_files(dir) {
            first.get_or_insert(e.into());
        }
    }
    // Staging directories of an interrupted create (`.NAME.creating-…` beside `dir`).
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Some(name) = dir.file_name() {
        let prefix = format!(".{}.creating-", name.to_string_lossy());
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) && e.path().is_dir() {
                    if let Err(err) = shred_store_files(&e.path()) {
                        first.get_or_insert(err.into());
                    }
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    if dir.is_dir() && std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false) {
        let _ = std::fs::remove_dir(dir);
    }
    sync_dir(&parent);
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// [`wipe_dir`], ignoring errors (duress: the answer must look like "no store" whatever
/// happens; every step is still tried).
pub(crate) fn wipe_quietly(dir: &Path) {
    let _ = wipe_dir(dir);
}

/// Checks a phone's duress PIN (or any duress secret) against the verifier of the store in
/// `dir`, without opening the store. If it matches, the store is wiped and `true` returned:
/// the shell must then delete its Keystore/Keychain key and show what it shows when there is
/// no store. `false` when it does not match or there is no store. Always runs the KDF when a
/// verifier exists.
pub fn check_duress(dir: &Path, secret: &[u8]) -> Result<bool> {
    let meta = match read_meta(dir) {
        Ok(m) => m,
        Err(Error::NoStore(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    if is_duress(&meta, secret)? {
        wipe_quietly(dir);
        return Ok(true);
    }
    Ok(false)
}

/// Writes `store.json` atomically (temporary file, fsync, rename, directory fsync).
fn write_meta(dir: &Path, meta: &MetaFile) -> Result<()> {
    let tmp = dir.join("store.json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(meta)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(META_FILE))?;
    sync_dir(dir);
    Ok(())
}

impl Store {
    /// Wipes this store: closes it, then destroys its key material and files (see
    /// [`wipe_dir`]). Afterwards [`Store::open`] answers [`Error::NoStore`].
    pub fn wipe(self) -> Result<()> {
        let dir = self.dir.clone();
        drop(self);
        wipe_dir(&dir)
    }

    /// Wipes the store under a `&mut` borrow (a remote wipe found during a sync): the database
    /// connection is swapped for an empty in-memory one (closing the file), every cached
    /// document and key is dropped, and the files are destroyed. The object is useless
    /// afterwards; every call on it fails.
    pub(crate) fn wipe_in_place(&mut self) -> Result<()> {
        let mem = rusqlite::Connection::open_in_memory()?;
        drop(std::mem::replace(&mut self.conn, mem));
        self.docs.clear();
        self.sync = None;
        self.settings = crate::api::Settings::default();
        self.settings_doc.clear();
        wipe_dir(&self.dir)
    }

    /// Obeys a wipe order the hub handed over: only an order for this team and this device,
    /// signed by a device this store knows as a lead, is carried out ([`Error::Wiped`]).
    /// Anything else is [`Error::Crypto`] and nothing is wiped.
    pub(crate) fn obey_wipe_order(&mut self, order: &WipeOrder) -> Error {
        match self.verify_wipe_order(order) {
            Ok(()) => match self.wipe_in_place() {
                Ok(()) => Error::Wiped,
                Err(e) => e,
            },
            Err(e) => e,
        }
    }

    fn verify_wipe_order(&self, order: &WipeOrder) -> Result<()> {
        let id = self.sync.as_ref().ok_or_else(|| Error::State("this store has no sync identity".into()))?;
        if order.team_id != id.team_id || order.device_id != id.device_id() {
            return Err(Error::Crypto("wipe order is for another team or device".into()));
        }
        let row: Option<(Vec<u8>, Vec<u8>, String, Option<i64>)> = rusqlite::OptionalExtension::optional(self.conn.query_row(
            "SELECT sign_pub, kx_pub, role, revoked_ms FROM sync_devices WHERE device_id = ?1",
            [order.issued_by.to_hex()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        ))?;
        let Some((sign_pub, kx_pub, role, revoked)) = row else {
            return Err(Error::Crypto("wipe order from a device this store does not know".into()));
        };
        if role != "lead" || revoked.is_some() {
            return Err(Error::Crypto("wipe order not from an active lead".into()));
        }
        let keys = outreach_proto::keys::DevicePublicKeys {
            sign_pub: sign_pub.as_slice().try_into().map_err(|_| Error::Corrupt("bad device key".into()))?,
            kx_pub: kx_pub.as_slice().try_into().map_err(|_| Error::Corrupt("bad device key".into()))?,
        };
        order
            .verify(&id.team_id, &keys)
            .map_err(|_| Error::Crypto("wipe order signature does not verify".into()))
    }

    // ---- duress ---------------------------------------------------------------------------

    /// Sets the duress passphrase (CLI stores) or PIN (phone stores): opening this store with
    /// it (CLI), or giving it to [`check_duress`] (phones), wipes the store. On a passphrase
    /// store it must differ from the passphrase (checked here); on a phone store the shell
    /// checks it differs from the PIN. Replaces any earlier one.
    pub fn set_duress_secret(&mut self, secret: &[u8]) -> Result<()> {
        if secret.is_empty() {
            return Err(Error::invalid("duress", "must not be empty"));
        }
        let mut meta = read_meta(&self.dir)?;
        let params = match &meta.kdf {
            Some(kdf) => {
                let salt = B64.decode(&kdf.salt).map_err(|_| Error::Corrupt("bad salt".into()))?;
                let as_real = StoreKey::derive(secret, &salt, &kdf.params)?;
                let want = B64.decode(&meta.key_check).map_err(|_| Error::Corrupt("bad key check".into()))?;
                if as_real.check_value().as_slice() == want.as_slice() {
                    return Err(Error::invalid("duress", "must differ from the store's passphrase"));
                }
                kdf.params.clone()
            }
            None => DURESS_PIN_KDF,
        };
        meta.duress = Some(DuressFile::new(secret, &params)?);
        write_meta(&self.dir, &meta)
    }

    /// Removes the duress passphrase or PIN (a random decoy takes its place).
    pub fn clear_duress_secret(&mut self) -> Result<()> {
        let mut meta = read_meta(&self.dir)?;
        let params = meta.kdf.as_ref().map(|k| k.params.clone()).unwrap_or(DURESS_PIN_KDF);
        meta.duress = Some(DuressFile::decoy(&params));
        write_meta(&self.dir, &meta)
    }

    // ---- dead-man timer -------------------------------------------------------------------

    /// Sets the team's dead-man timer (lead only): a member device that has not synced
    /// successfully for `hours` wipes itself at its next unlock. `None` turns it off. Synced to
    /// every device with the team settings; audited (`settings.dead_man`).
    pub fn set_dead_man_hours(&mut self, hours: Option<u32>) -> Result<()> {
        let id = self.sync.as_ref().ok_or_else(|| Error::State("this store has no sync identity".into()))?;
        if id.role != crate::sync::Role::Lead {
            return Err(Error::State("only a lead device can set the dead-man timer".into()));
        }
        if let Some(h) = hours {
            if h == 0 || h > MAX_DEAD_MAN_HOURS {
                return Err(Error::invalid("dead_man_hours", format!("must be between 1 and {MAX_DEAD_MAN_HOURS}")));
            }
        }
        if self.settings_doc.is_empty() {
            return Err(Error::State("this store has no team settings yet; sync first".into()));
        }
        let doc_id = self.settings_doc.clone();
        self.change(
            &doc_id,
            DocKind::Settings,
            false,
            |tx| {
                use automerge::transaction::Transactable;
                let m = doc::root_map(tx, "settings")?;
                match hours {
                    Some(h) => tx.put(&m, "dead_man_hours", u64::from(h))?,
                    None => tx.delete(&m, "dead_man_hours")?,
                }
                Ok(())
            },
            |_, _, _| Ok(()),
            &[("settings.dead_man", "settings", None)],
        )?;
        self.settings.dead_man_hours = hours;
        Ok(())
    }

    /// When this device last synced successfully (its own clock), or, if it never has, when
    /// the hub enrolled it (the hub's clock). `None` when neither is known.
    pub fn dead_man_reference(&self) -> Result<Option<DateTime<Utc>>> {
        let (last, device): (Option<String>, String) =
            self.conn.query_row("SELECT last_success, device_id FROM sync_identity WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if let Some(t) = last.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
        let enrolled: Option<i64> = rusqlite::OptionalExtension::optional(self.conn.query_row(
            "SELECT enrolled_ms FROM sync_devices WHERE device_id = ?1",
            [device],
            |r| r.get(0),
        ))?;
        Ok(enrolled.and_then(DateTime::<Utc>::from_timestamp_millis))
    }
}

/// Whether the dead-man timer has run out for this store at `now`: the team set one, this is
/// a member device with a hub, and its reference time (see [`Store::dead_man_reference`]) is
/// more than `dead_man_hours` before `now`. No reference time: not expired.
pub(crate) fn dead_man_expired(store: &Store, now: DateTime<Utc>) -> Result<bool> {
    let Some(hours) = store.settings.dead_man_hours.filter(|h| *h > 0) else {
        return Ok(false);
    };
    let Some(id) = store.sync.as_ref() else {
        return Ok(false);
    };
    if id.role != crate::sync::Role::Member {
        return Ok(false);
    }
    let (registered, hub): (bool, Option<String>) =
        store.conn.query_row("SELECT registered, hub_url FROM sync_identity WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if !registered || hub.is_none() {
        return Ok(false);
    }
    let Some(reference) = store.dead_man_reference()? else {
        return Ok(false);
    };
    Ok(now - reference > chrono::Duration::hours(i64::from(hours)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TeamSetup, Unlock};

    fn fast() -> crate::StoreOptions {
        crate::StoreOptions { kdf: KdfParams::insecure_fast_for_tests(), ..Default::default() }
    }

    #[test]
    fn wipe_removes_every_store_file_and_open_finds_no_store() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let key = StoreKey::generate();
        let s = Store::create(&dir, Unlock::Key(key.clone()), TeamSetup::new("Test Team", &["north-beat"]), &fast()).unwrap();
        assert!(dir.join(DB_FILE).exists());
        s.wipe().unwrap();
        assert!(!dir.exists(), "the store directory is removed");
        assert!(matches!(Store::open(&dir, Unlock::Key(key)), Err(Error::NoStore(_))));
    }

    #[test]
    fn wipe_dir_keeps_other_files_and_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let s = Store::create(&dir, Unlock::Passphrase(b"Test passphrase one"), TeamSetup::new("Test Team", &["north-beat"]), &fast()).unwrap();
        drop(s);
        std::fs::write(dir.join("notes-of-the-operator.txt"), b"not the store's").unwrap();
        wipe_dir(&dir).unwrap();
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("notes-of-the-operator.txt")]);
        assert!(matches!(Store::open(&dir, Unlock::Passphrase(b"Test passphrase one")), Err(Error::NoStore(_))));
    }

    #[test]
    fn duress_passphrase_wipes_and_looks_like_no_store() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let mut s = Store::create(&dir, Unlock::Passphrase(b"Test passphrase one"), TeamSetup::new("Test Team", &["north-beat"]), &fast()).unwrap();
        // Equal to the real passphrase: refused.
        assert!(matches!(s.set_duress_secret(b"Test passphrase one"), Err(Error::Invalid { field: "duress", .. })));
        s.set_duress_secret(b"Test duress phrase").unwrap();
        drop(s);
        // A wrong passphrase is still just wrong; the real one still opens.
        assert!(matches!(Store::open(&dir, Unlock::Passphrase(b"Test other phrase")), Err(Error::WrongKey)));
        drop(Store::open(&dir, Unlock::Passphrase(b"Test passphrase one")).unwrap());
        let e = Store::open(&dir, Unlock::Passphrase(b"Test duress phrase")).unwrap_err();
        assert!(matches!(e, Error::NoStore(_)), "{e}");
        assert!(!dir.exists());
        assert!(matches!(Store::open(&dir, Unlock::Passphrase(b"Test passphrase one")), Err(Error::NoStore(_))));
    }

    #[test]
    fn cleared_duress_no_longer_wipes_and_decoy_is_always_present() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let mut s = Store::create(&dir, Unlock::Passphrase(b"Test passphrase one"), TeamSetup::new("Test Team", &["north-beat"]), &fast()).unwrap();
        let before = std::fs::read_to_string(dir.join(META_FILE)).unwrap();
        assert!(before.contains("\"duress\""), "a decoy verifier from creation");
        s.set_duress_secret(b"Test duress phrase").unwrap();
        s.clear_duress_secret().unwrap();
        drop(s);
        assert!(matches!(Store::open(&dir, Unlock::Passphrase(b"Test duress phrase")), Err(Error::WrongKey)));
        assert!(dir.join(DB_FILE).exists());
    }

    #[test]
    fn phone_duress_pin_is_checked_without_opening() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let key = StoreKey::generate();
        let mut s = Store::create(&dir, Unlock::Key(key.clone()), TeamSetup::new("Test Team", &["north-beat"]), &fast()).unwrap();
        s.set_duress_secret(b"999999").unwrap();
        drop(s);
        assert!(!check_duress(&dir, b"123456").unwrap());
        assert!(dir.join(DB_FILE).exists());
        assert!(check_duress(&dir, b"999999").unwrap());
        assert!(matches!(Store::open(&dir, Unlock::Key(key)), Err(Error::NoStore(_))));
        assert!(!check_duress(&dir, b"999999").unwrap(), "no store: nothing to match");
    }

    #[test]
    fn dead_man_needs_a_lead_and_sane_hours() {
        let tmp = tempfile::tempdir().unwrap();
        let key = StoreKey::generate();
        let mut s = Store::create(&tmp.path().join("s"), Unlock::Key(key.clone()), TeamSetup::new("Test Team", &["north-beat"]), &fast()).unwrap();
        assert!(matches!(s.set_dead_man_hours(Some(0)), Err(Error::Invalid { .. })));
        s.set_dead_man_hours(Some(72)).unwrap();
        assert_eq!(s.settings().dead_man_hours, Some(72));
        // A lead is never wiped by its own timer, even far in the future.
        let dir = s.dir().to_path_buf();
        drop(s);
        let later = Utc::now() + chrono::Duration::days(365);
        let s = Store::open_at(&dir, Unlock::Key(key), later).unwrap();
        assert_eq!(s.settings().dead_man_hours, Some(72));
    }
}
