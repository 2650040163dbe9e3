//! The encrypted store: SQLCipher through rusqlite, WAL, memory-only temp storage.
//!
//! Files in a store directory:
//! - `outreach.db` (+ `-wal`, `-shm`): the SQLCipher database; every page is encrypted.
//! - `store.json`: format version, KDF parameters and salt (CLI stores), and a key check value.
//!   None of it is secret and none of it is personal data.
//!
//! Opening never writes anything until the key has been proved right and the database has been
//! read successfully, so a wrong key or a damaged file leaves the files as they were.

pub(crate) mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use automerge::{ActorId, Automerge};
use base64::Engine as _;
use chrono::Utc;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use crate::doc::{self, DocKind};
use crate::error::{Error, Result};
use crate::key::{KdfParams, StoreKey, Unlock};

pub use schema::SCHEMA_VERSION;

/// Database file name inside a store directory.
pub const DB_FILE: &str = "outreach.db";
/// Metadata file name inside a store directory.
pub const META_FILE: &str = "store.json";

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// The metadata kept beside the database (not secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MetaFile {
    pub(crate) format: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kdf: Option<KdfFile>,
    pub(crate) key_check: String,
    #[serde(default)]
    pub(crate) plaintext_for_tests: bool,
    /// Verifier of a duress passphrase or PIN (see [`crate::wipe`]): real or a random decoy,
    /// so its presence says nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) duress: Option<crate::wipe::DuressFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KdfFile {
    pub(crate) alg: String,
    #[serde(flatten)]
    pub(crate) params: KdfParams,
    pub(crate) salt: String,
}

/// How hard a commit waits for the disk (see [`Store::set_durability`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync on every commit (SQLite `synchronous=FULL` in WAL mode). The default.
    Full,
    /// Survives the process being killed, not power loss (`synchronous=NORMAL`).
    CrashSafe,
}

/// How a store is kept on disk.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Argon2id parameters used when the store is created from a passphrase.
    pub kdf: KdfParams,
    /// TEST ONLY: write the database without encryption, to prove that the canary scan can
    /// find plaintext. Exists only with the `insecure-plaintext-for-tests` feature.
    #[cfg(feature = "insecure-plaintext-for-tests")]
    pub insecure_plaintext: bool,
}

/// An open store. Not `Sync`: wrap it in a mutex to share it between threads.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) dir: PathBuf,
    pub(crate) device_id: String,
    pub(crate) actor: ActorId,
    pub(crate) user: String,
    pub(crate) docs: HashMap<String, Automerge>,
    pub(crate) settings: crate::api::Settings,
    pub(crate) settings_doc: String,
    /// Device keys, team and current team key (see `sync::identity`); every store has one
    /// once created or opened.
    pub(crate) sync: Option<crate::sync::identity::Identity>,
    /// Set while a new store is being built in its staging directory.
    pub(crate) finish_to: Option<PathBuf>,
    pub(crate) finish_key: Option<StoreKey>,
    /// This device's audit signing key, loaded once per session on first use (zeroized on
    /// drop; see `crate::audit`).
    pub(crate) audit_signer: std::cell::OnceCell<crate::audit::Signer>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).field("device", &self.device_id).finish()
    }
}

/// A fresh staging directory beside `dir` (`.NAME.creating-XXXX`); stale ones left by a
/// killed create are removed first.
fn staging_dir(dir: &Path) -> Result<PathBuf> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "store".into());
    let prefix = format!(".{name}.creating-");
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(parent.join(format!("{prefix}{}", uuid::Uuid::new_v4().simple())))
}

/// Whether a store exists in `dir`.
pub fn exists(dir: &Path) -> bool {
    dir.join(META_FILE).exists() || dir.join(DB_FILE).exists()
}

pub(crate) fn read_meta(dir: &Path) -> Result<MetaFile> {
    let path = dir.join(META_FILE);
    if !path.exists() {
        if dir.join(DB_FILE).exists() {
            return Err(Error::Corrupt("store.json is missing".into()));
        }
        return Err(Error::NoStore(dir.to_path_buf()));
    }
    let bytes = std::fs::read(&path)?;
    let meta: MetaFile =
        serde_json::from_slice(&bytes).map_err(|_| Error::Corrupt("store.json is unreadable".into()))?;
    if meta.format != 1 {
        return Err(Error::TooNew { found: meta.format, supported: 1 });
    }
    Ok(meta)
}

fn resolve_key(meta: &MetaFile, unlock: Unlock<'_>) -> Result<StoreKey> {
    let key = match unlock {
        Unlock::Key(k) => k,
        Unlock::Passphrase(p) => {
            let kdf = meta
                .kdf
                .as_ref()
                .ok_or_else(|| Error::State("this store is unlocked with a device key, not a passphrase".into()))?;
            let salt = B64.decode(&kdf.salt).map_err(|_| Error::Corrupt("bad salt".into()))?;
            StoreKey::derive(p, &salt, &kdf.params)?
        }
    };
    let want = B64.decode(&meta.key_check).map_err(|_| Error::Corrupt("bad key check".into()))?;
    let got = key.check_value();
    // Constant-time compare.
    if want.len() != got.len() || want.iter().zip(got.iter()).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
        return Err(Error::WrongKey);
    }
    Ok(key)
}

fn apply_key(conn: &Connection, key: &StoreKey, plaintext: bool) -> Result<()> {
    // SQLCipher logs "hmac check failed" and similar to stderr by default; keep stderr clean.
    let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
    if !plaintext {
        let lit = key.sqlcipher_literal();
        conn.pragma_update(None, "key", lit.as_str())?;
    }
    Ok(())
}

fn configure(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;
         PRAGMA secure_delete = ON;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Db("could not enable WAL".into()));
    }
    Ok(())
}

impl Store {
    /// Creates a new store in `dir` (created if missing; must not already hold a store).
    ///
    /// The store becomes the first (lead) device of a new team: it gets device keys (its
    /// device id is derived from them), a team id and the team key of epoch 0, all kept inside
    /// the encrypted database. [`Store::register_team`] tells a hub about it.
    pub fn create(dir: &Path, unlock: Unlock<'_>, team: crate::api::TeamSetup, opts: &StoreOptions) -> Result<Store> {
        if exists(dir) {
            return Err(Error::AlreadyExists(dir.to_path_buf()));
        }
        team.validate()?;
        let keys = outreach_proto::keys::DeviceKeys::generate();
        let mut store = Store::create_empty(dir, unlock, opts, keys.device_id().to_hex())?;
        store.init_sync_lead(keys)?;
        store.init_team(team)?;
        store.finish_create()
    }

    /// Creates the files of a new, empty store (schema migrated, no team yet) in a hidden
    /// staging directory beside `dir`. Nothing appears at `dir` until [`Store::finish_create`]
    /// moves the finished store into place, so a create that is killed half-way leaves no
    /// half-made store behind (only a staging directory, removed by the next create).
    pub(crate) fn create_empty(dir: &Path, unlock: Unlock<'_>, opts: &StoreOptions, device_id: String) -> Result<Store> {
        if exists(dir) {
            return Err(Error::AlreadyExists(dir.to_path_buf()));
        }
        if dir.exists() && !dir.is_dir() {
            return Err(Error::invalid("dir", "exists and is not a directory"));
        }
        let staging = staging_dir(dir)?;
        let result = Self::create_files(&staging, unlock, opts, device_id);
        match result {
            Ok(mut store) => {
                store.finish_to = Some(dir.to_path_buf());
                Ok(store)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(e)
            }
        }
    }

    fn create_files(dir: &Path, unlock: Unlock<'_>, opts: &StoreOptions, device_id: String) -> Result<Store> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let (key, kdf) = match unlock {
            Unlock::Key(k) => (k, None),
            Unlock::Passphrase(p) => {
                use rand::RngCore;
                let mut salt = [0u8; 16];
                rand::rngs::OsRng.fill_bytes(&mut salt);
                let k = StoreKey::derive(p, &salt, &opts.kdf)?;
                (k, Some(KdfFile { alg: "argon2id".into(), params: opts.kdf.clone(), salt: B64.encode(salt) }))
            }
        };
        #[cfg(feature = "insecure-plaintext-for-tests")]
        let plaintext = opts.insecure_plaintext;
        #[cfg(not(feature = "insecure-plaintext-for-tests"))]
        let plaintext = false;
        // Passphrase stores get a decoy duress verifier, so that one set later is not given
        // away by its presence in store.json.
        let duress = kdf.as_ref().map(|k| crate::wipe::DuressFile::decoy(&k.params));
        let meta = MetaFile { format: 1, kdf, key_check: B64.encode(key.check_value()), plaintext_for_tests: plaintext, duress };
        let mut conn = Connection::open_with_flags(
            dir.join(DB_FILE),
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        apply_key(&conn, &key, plaintext)?;
        configure(&conn)?;
        schema::migrate_to(&mut conn, SCHEMA_VERSION)?;
        let tmp = dir.join("store.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&meta)?)?;
        std::fs::rename(&tmp, dir.join(META_FILE))?;
        let mut store = Store::from_conn(conn, dir, device_id, String::new())?;
        store.finish_key = Some(key);
        Ok(store)
    }

    /// Moves a store built by [`Store::create_empty`] (and initialised by its caller) into its
    /// final directory and reopens it there. Every creating path must end with this.
    pub(crate) fn finish_create(mut self) -> Result<Store> {
        let (Some(target), Some(key)) = (self.finish_to.take(), self.finish_key.take()) else {
            return Ok(self);
        };
        let staging = self.dir.clone();
        let plaintext = read_meta(&staging)?.plaintext_for_tests;
        self.checkpoint()?;
        drop(self);
        let moved: Result<()> = (|| {
            if target.exists() {
                // An existing empty directory is replaced in one rename; a non-empty one (other
                // files the user keeps there) gets the database first and store.json last.
                if std::fs::read_dir(&target)?.next().is_none() {
                    std::fs::remove_dir(&target)?;
                    std::fs::rename(&staging, &target)?;
                } else {
                    for name in [DB_FILE.to_string(), format!("{DB_FILE}-wal"), format!("{DB_FILE}-shm"), META_FILE.to_string()] {
                        let from = staging.join(&name);
                        if from.exists() {
                            std::fs::rename(&from, target.join(&name))?;
                        }
                    }
                    std::fs::remove_dir_all(&staging)?;
                }
            } else {
                std::fs::rename(&staging, &target)?;
            }
            Ok(())
        })();
        if let Err(e) = moved {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        Self::open_inner(&target, Unlock::Key(key), plaintext, Utc::now())
    }

    /// Opens an existing store. A wrong key is [`Error::WrongKey`]; a damaged file is
    /// [`Error::Corrupt`]; in both cases nothing on disk is changed.
    ///
    /// Device loss (see [`crate::wipe`]): a passphrase that matches the store's duress
    /// verifier wipes the store and returns [`Error::NoStore`], exactly as if no store had been
    /// there; a member device whose dead-man timer has run out wipes the store and returns
    /// [`Error::Wiped`].
    pub fn open(dir: &Path, unlock: Unlock<'_>) -> Result<Store> {
        Self::open_inner(dir, unlock, false, Utc::now())
    }

    /// [`Store::open`] as if the time were `now`, for the dead-man timer's check only (tests,
    /// and a shell that has a trusted time source). A time in the past delays the timer: the
    /// timer guards against a stale device being used through this software, not against
    /// modified software (see ARCHITECTURE.md, "Device loss").
    pub fn open_at(dir: &Path, unlock: Unlock<'_>, now: chrono::DateTime<Utc>) -> Result<Store> {
        Self::open_inner(dir, unlock, false, now)
    }

    /// TEST ONLY: opens a store written without encryption by a test. A plain [`Store::open`]
    /// always refuses such a store, even in a build with the test feature on, so a planted
    /// plaintext database can never be mistaken for the real one.
    #[cfg(feature = "insecure-plaintext-for-tests")]
    pub fn open_insecure_plaintext_for_tests(dir: &Path, unlock: Unlock<'_>) -> Result<Store> {
        Self::open_inner(dir, unlock, true, Utc::now())
    }

    /// TEST ONLY: [`Store::open_insecure_plaintext_for_tests`] as if the time were `now` (the
    /// dead-man timer's plaintext control in tests/tests/device_loss.rs).
    #[cfg(feature = "insecure-plaintext-for-tests")]
    pub fn open_insecure_plaintext_for_tests_at(dir: &Path, unlock: Unlock<'_>, now: chrono::DateTime<Utc>) -> Result<Store> {
        Self::open_inner(dir, unlock, true, now)
    }

    fn open_inner(dir: &Path, unlock: Unlock<'_>, allow_plaintext: bool, now: chrono::DateTime<Utc>) -> Result<Store> {
        let meta = read_meta(dir)?;
        // Duress first, and always computed when a verifier (real or decoy) exists, so the
        // real passphrase and the duress one take the same time.
        if let Unlock::Passphrase(p) = &unlock {
            if crate::wipe::is_duress(&meta, p)? {
                crate::wipe::wipe_quietly(dir);
                return Err(Error::NoStore(dir.to_path_buf()));
            }
        }
        let key = resolve_key(&meta, unlock)?;
        if meta.plaintext_for_tests && !allow_plaintext {
            return Err(Error::Corrupt("store was written by a test build without encryption".into()));
        }
        let plaintext = meta.plaintext_for_tests;
        let db = dir.join(DB_FILE);
        if !db.exists() {
            return Err(Error::Corrupt("database file is missing".into()));
        }
        // Read-only probe first: proves the key opens the file and the schema is readable
        // before anything (WAL recovery, migrations) may write. SQLite may create empty -wal and
        // -shm files even for a reader; if the probe fails, those it created are removed again
        // so a failed open leaves the directory as it found it.
        let side = [dir.join(format!("{DB_FILE}-wal")), dir.join(format!("{DB_FILE}-shm"))];
        let existed: Vec<bool> = side.iter().map(|p| p.exists()).collect();
        let probe_result = Self::probe(&db, dir, &key, plaintext);
        if let Err(e) = probe_result {
            for (p, had) in side.iter().zip(existed) {
                if !had {
                    let _ = std::fs::remove_file(p);
                }
            }
            return Err(e);
        }
        let mut conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        apply_key(&conn, &key, plaintext)?;
        configure(&conn)?;
        schema::migrate_to(&mut conn, SCHEMA_VERSION)?;
        let device_id: String = conn.query_row("SELECT value FROM meta WHERE key = 'device_id'", [], |r| r.get(0))?;
        let settings_doc: String =
            conn.query_row("SELECT value FROM meta WHERE key = 'settings_doc'", [], |r| r.get(0))?;
        let mut store = Store::from_conn(conn, dir, device_id, settings_doc)?;
        store.ensure_sync_identity()?;
        // A device that joined with an invite has no settings until its first pull.
        if !store.settings_doc.is_empty() {
            store.reload_settings()?;
        }
        if crate::wipe::dead_man_expired(&store, now)? {
            drop(store);
            crate::wipe::wipe_dir(dir)?;
            return Err(Error::Wiped);
        }
        Ok(store)
    }

    fn probe(db: &Path, dir: &Path, key: &StoreKey, plaintext: bool) -> Result<()> {
        {
            let probe = Connection::open_with_flags(
                db,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            apply_key(&probe, key, plaintext)?;
            probe.execute_batch("PRAGMA query_only = ON;")?;
            let n: i64 = probe
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(|e| match Error::from(e) {
                    Error::Db(s) => Error::Corrupt(s),
                    other => other,
                })?;
            if n == 0 {
                return Err(Error::Corrupt("database is empty".into()));
            }
            let v = schema::version(&probe)?;
            if v > SCHEMA_VERSION {
                return Err(Error::TooNew { found: v, supported: SCHEMA_VERSION });
            }
            let (pages, page_size): (i64, i64) = probe.query_row(
                "SELECT CAST((SELECT page_count FROM pragma_page_count) AS INTEGER), CAST((SELECT page_size FROM pragma_page_size) AS INTEGER)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let file_len = std::fs::metadata(db)?.len() as i64;
            let wal_len = std::fs::metadata(dir.join(format!("{DB_FILE}-wal"))).map(|m| m.len() as i64).unwrap_or(0);
            if pages * page_size > file_len && wal_len == 0 {
                return Err(Error::Corrupt("database file is truncated".into()));
            }
            probe
                .query_row("SELECT value FROM meta WHERE key = 'device_id'", [], |r| r.get::<_, String>(0))
                .map_err(|e| match Error::from(e) {
                    Error::Db(s) => Error::Corrupt(s),
                    other => other,
                })?;
        }
        Ok(())
    }

    fn from_conn(conn: Connection, dir: &Path, device_id: String, settings_doc: String) -> Result<Store> {
        // A fresh actor per session: automerge needs (actor, seq) never to repeat, and a
        // session that crashed mid-change may have used a seq that never reached disk.
        conn.set_prepared_statement_cache_capacity(64);
        let mut actor = uuid::Uuid::new_v4().into_bytes().to_vec();
        actor.truncate(16);
        Ok(Store {
            conn,
            dir: dir.to_path_buf(),
            device_id,
            actor: ActorId::from(actor),
            user: "device".into(),
            docs: HashMap::new(),
            settings: crate::api::Settings::default(),
            settings_doc,
            sync: None,
            finish_to: None,
            finish_key: None,
            audit_signer: std::cell::OnceCell::new(),
        })
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This device's id (random, stable for the life of the store).
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Sets the staff handle recorded in the audit log for what follows.
    pub fn set_user(&mut self, handle: &str) -> Result<()> {
        crate::model::check_text("user", handle, crate::model::MAX_SHORT, false)?;
        self.user = handle.to_string();
        Ok(())
    }

    /// Sets how hard each commit waits for the disk. The default, [`Durability::Full`], syncs
    /// the WAL on every commit so a record survives power loss the moment it is logged. Bulk
    /// imports and benchmarks may use [`Durability::CrashSafe`]: still safe if the app is
    /// killed, not if the phone loses power.
    pub fn set_durability(&self, d: Durability) -> Result<()> {
        let v = match d {
            Durability::Full => "FULL",
            Durability::CrashSafe => "NORMAL",
        };
        self.conn.pragma_update(None, "synchronous", v)?;
        Ok(())
    }

    /// Moves everything from the WAL into the main file and truncates the WAL.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Runs SQLCipher's and SQLite's integrity checks (slow on big stores).
    pub fn integrity_check(&self) -> Result<()> {
        let r: String = self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if r != "ok" {
            return Err(Error::Corrupt("integrity check failed".into()));
        }
        Ok(())
    }

    /// Reads a meta value.
    #[allow(dead_code)]
    pub(crate) fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    // ---- documents ------------------------------------------------------------------------

    /// Loads a document (from the cache, or snapshot + chunks).
    pub(crate) fn load_doc(&mut self, doc_id: &str) -> Result<Automerge> {
        if let Some(d) = self.docs.remove(doc_id) {
            return Ok(d);
        }
        load_doc_from(&self.conn, doc_id, self.actor.clone())
    }

    /// Returns a document to the cache.
    pub(crate) fn cache_doc(&mut self, doc_id: &str, d: Automerge) {
        if self.docs.len() >= 32 {
            self.docs.clear();
        }
        self.docs.insert(doc_id.to_string(), d);
    }

    /// Applies one local change to a document, and in ONE SQLite transaction: stores the
    /// change chunk, queues it in the outbox, updates the projections and writes the audit
    /// events. If anything fails nothing is kept, on disk or in memory.
    pub(crate) fn change<R>(
        &mut self,
        doc_id: &str,
        kind: DocKind,
        create: bool,
        edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<R>,
        project: impl FnOnce(&Transaction<'_>, &Automerge, &crate::api::Settings) -> Result<()>,
        audit: &[(&str, &str, Option<&str>)],
    ) -> Result<R> {
        let mut d = if create { Automerge::new().with_actor(self.actor.clone()) } else { self.load_doc(doc_id)? };
        let heads = d.get_heads();
        let mut tx = d.transaction();
        if create {
            if let Err(e) = doc::write_skeleton(&mut tx, kind) {
                tx.rollback();
                return Err(e);
            }
        }
        let out = match edit(&mut tx) {
            Ok(o) => o,
            Err(e) => {
                tx.rollback();
                if !create {
                    self.cache_doc(doc_id, d);
                }
                return Err(e);
            }
        };
        tx.commit();
        let chunk = d.save_after(&heads);
        let now = Utc::now().to_rfc3339();
        let result: Result<()> = (|| {
            let t = self.conn.transaction()?;
            if create {
                exec(&t, 
                    "INSERT INTO docs (doc_id, kind, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                    params![doc_id, kind.as_str(), now],
                )?;
            }
            store_chunk(&t, doc_id, &chunk, &d)?;
            // Sealed (document data key, device signature) and queued for the hub in this
            // same transaction; the plaintext chunk stays only in doc_chunks.
            let id = self.sync.as_ref().ok_or_else(|| Error::State("this store has no sync identity".into()))?;
            crate::sync::identity::queue_sealed(&t, id, doc_id, &chunk, &now)?;
            project(&t, &d, &self.settings)?;
            if !audit.is_empty() {
                // Chained and signed (crate::audit), in this same transaction.
                let signer = crate::audit::signer(&self.audit_signer, self.sync.as_ref())?;
                for (action, entity, id) in audit {
                    crate::audit::append(&t, signer, &now, &self.user, action, entity, *id)?;
                }
            }
            t.commit()?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                self.cache_doc(doc_id, d);
                Ok(out)
            }
            // The in-memory document is dropped: the next load reads what the disk holds.
            Err(e) => Err(e),
        }
    }

    /// Ids and kinds of every document held.
    pub(crate) fn doc_ids(&self) -> Result<Vec<(String, DocKind)>> {
        let mut st = self.conn.prepare("SELECT doc_id, kind FROM docs ORDER BY doc_id")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = vec![];
        for row in rows {
            let (id, kind) = row?;
            out.push((id, DocKind::parse(&kind)?));
        }
        Ok(out)
    }

    /// Number of changes queued for upload.
    pub fn outbox_len(&self) -> Result<u64> {
        Ok(self.conn.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Sizes of a document on disk: (snapshot bytes, chunk bytes, chunk count).
    pub fn doc_storage(&self, doc_id: &str) -> Result<(u64, u64, u64)> {
        Ok(self.conn.query_row(
            "SELECT snapshot_len, chunks_len, (SELECT count(*) FROM doc_chunks WHERE doc_id = ?1) FROM docs WHERE doc_id = ?1",
            [doc_id],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
        )?)
    }
}

/// Executes a statement through the connection's prepared-statement cache (the hot path runs
/// the same few statements for every record; parsing them each time cost ~10% of a log).
pub(crate) fn exec<P: rusqlite::Params>(c: &Connection, sql: &str, p: P) -> Result<usize> {
    Ok(c.prepare_cached(sql)?.execute(p)?)
}

/// Smallest chunk total that triggers compaction.
const COMPACT_MIN: i64 = 16 * 1024;

/// Stores a change chunk and compacts the document when its chunks outgrow its snapshot
/// (never while the document holds changes queued for missing dependencies: a snapshot would
/// leave them out).
pub(crate) fn store_chunk(t: &Connection, doc_id: &str, chunk: &[u8], d: &Automerge) -> Result<()> {
    exec(&t, "INSERT INTO doc_chunks (doc_id, data) VALUES (?1, ?2)", params![doc_id, chunk])?;
    let (snap, chunks): (i64, i64) = t.query_row(
        "UPDATE docs SET chunks_len = chunks_len + ?2, updated_at = ?3 WHERE doc_id = ?1 RETURNING snapshot_len, chunks_len",
        params![doc_id, chunk.len() as i64, Utc::now().to_rfc3339()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if chunks > snap.max(COMPACT_MIN) && automerge::ReadDoc::get_missing_deps(d, &[]).is_empty() {
        let full = d.save();
        exec(&t, 
            "UPDATE docs SET snapshot = ?2, snapshot_len = ?3, chunks_len = 0 WHERE doc_id = ?1",
            params![doc_id, full, full.len() as i64],
        )?;
        exec(&t, "DELETE FROM doc_chunks WHERE doc_id = ?1", [doc_id])?;
    }
    Ok(())
}

/// Loads a document from its snapshot and chunks.
pub(crate) fn load_doc_from(conn: &Connection, doc_id: &str, actor: ActorId) -> Result<Automerge> {
    let snapshot: Option<Option<Vec<u8>>> = conn
        .query_row("SELECT snapshot FROM docs WHERE doc_id = ?1", [doc_id], |r| r.get(0))
        .optional()?;
    let snapshot = snapshot.ok_or_else(|| Error::NotFound { kind: "document", id: doc_id.to_string() })?;
    let mut d = match snapshot {
        Some(bytes) => Automerge::load(&bytes)?,
        None => Automerge::new(),
    };
    let mut st = conn.prepare_cached("SELECT data FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let mut rows = st.query([doc_id])?;
    while let Some(row) = rows.next()? {
        let data: Vec<u8> = row.get(0)?;
        d.load_incremental(&data)?;
    }
    Ok(d.with_actor(actor))
}
