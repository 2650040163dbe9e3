//! `OutreachStore`: one encrypted store on this device, and everything staff do with it.
//!
//! **Threading.** Every method blocks the calling thread on disk I/O (SQLCipher with
//! `synchronous=FULL`) and `sync`, `register_team`, `create_invite` and the `enrol` constructor
//! also on the network (up to 10 s connect + 60 s per request). Call them all from a background
//! dispatcher (Kotlin `Dispatchers.IO`, a Swift actor / `Task.detached`), never from the UI
//! thread. The object is `Send + Sync`: calls from several threads are serialised by one mutex,
//! so a call made while a sync runs waits for the sync to finish (cancel it with its
//! `CancelHandle` to get the store back sooner).
//!
//! **Callbacks** (`SyncProgressListener.on_progress`) run on the thread that called `sync`,
//! while the store is locked: they must not call this store (that call fails with
//! `OutreachError.State` instead of deadlocking); hand the progress to the UI and return.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use outreach_core::{self as core, HttpTransport, Store, StoreKey, StoreOptions, Unlock};
use zeroize::Zeroize;

use crate::error::{invalid, OutreachError};
use crate::types::*;

type R<T> = Result<T, OutreachError>;

thread_local! {
    /// Set while a progress callback runs on this thread (see the module docs).
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Takes the raw key bytes from the platform keystore and wipes the `Vec` that carried them.
fn store_key(mut key: Vec<u8>) -> R<StoreKey> {
    let k = StoreKey::from_slice(&key);
    key.zeroize();
    k.map_err(|_| invalid("key", "a store key must be exactly 32 bytes"))
}

fn dir_path(dir: &str) -> R<PathBuf> {
    if dir.trim().is_empty() {
        return Err(invalid("dir", "must not be empty"));
    }
    Ok(PathBuf::from(dir))
}

/// Progress of a long call, implemented by the shell. Called on the syncing thread, with the
/// store locked: do not call the store from here (see the module docs).
#[uniffi::export(with_foreign)]
pub trait SyncProgressListener: Send + Sync {
    fn on_progress(&self, progress: SyncProgressRecord);
}

/// Cancels a running (or not yet started) sync. May be called from any thread, including from
/// inside a progress callback. A cancelled handle stays cancelled: make a new one per sync.
#[derive(Debug, Default, uniffi::Object)]
pub struct CancelHandle {
    token: core::CancelToken,
}

#[uniffi::export]
impl CancelHandle {
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Asks the sync to stop at its next safe point (before the next request or page); the
    /// sync then fails with `OutreachError.Cancelled`, keeping everything already done.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// One encrypted store (SQLCipher, raw 256-bit key from the Android Keystore / iOS Keychain).
#[derive(uniffi::Object)]
pub struct OutreachStore {
    /// `None` once the store has been wiped through this object.
    inner: Mutex<Option<Store>>,
}

/// The locked store (see [`OutreachStore::lock`]).
struct Guard<'a>(MutexGuard<'a, Option<Store>>);

impl Deref for Guard<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        // `lock` only hands out a guard over `Some`.
        self.0.as_ref().expect("checked by lock")
    }
}

impl DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        self.0.as_mut().expect("checked by lock")
    }
}

fn wiped_state() -> OutreachError {
    OutreachError::State {
        reason: "this store has been wiped".into(),
    }
}

impl std::fmt::Debug for OutreachStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutreachStore(..)")
    }
}

/// A transport that panics inside the core's call stack (for `debug_provoke_panic`).
struct PanickingTransport;

impl core::Transport for PanickingTransport {
    fn post(&self, _path: &str, _body: &[u8]) -> Result<(u16, Vec<u8>), core::TransportError> {
        panic!("provoked panic inside the core (debug_provoke_panic)")
    }
}

impl OutreachStore {
    fn wrap(store: Store) -> Arc<Self> {
        Arc::new(OutreachStore {
            inner: Mutex::new(Some(store)),
        })
    }

    /// Locks the store. A mutex poisoned by an earlier panic is recovered: every core write is
    /// one SQLite transaction (rolled back when the panic dropped it) and the core takes a
    /// document out of its cache while changing it, so nothing half-done survives a panic.
    fn lock(&self) -> R<Guard<'_>> {
        let g = self.lock_slot()?;
        if g.is_none() {
            return Err(wiped_state());
        }
        Ok(Guard(g))
    }

    /// The mutex itself (the store, or `None` once wiped).
    fn lock_slot(&self) -> R<MutexGuard<'_, Option<Store>>> {
        if IN_CALLBACK.with(Cell::get) {
            return Err(OutreachError::State {
                reason: "the store cannot be used from inside a progress callback".into(),
            });
        }
        Ok(match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                self.inner.clear_poison();
                poisoned.into_inner()
            }
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Store) -> core::Result<T>) -> R<T> {
        let mut g = self.lock()?;
        Ok(f(&mut *g)?)
    }

    fn transport(store: &Store) -> R<HttpTransport> {
        let url = store.hub_url()?.ok_or_else(|| OutreachError::State {
            reason: "this device is not registered with a hub yet".into(),
        })?;
        Ok(HttpTransport::new(&url)?)
    }
}

#[uniffi::export]
impl OutreachStore {
    // ---- opening ------------------------------------------------------------------------

    /// Creates a new store in `dir` (must not hold one) as the lead device of a new team.
    /// `key`: 32 raw bytes from the platform keystore; this copy is wiped after use.
    #[uniffi::constructor]
    pub fn create(dir: String, key: Vec<u8>, team: TeamSetupRecord) -> R<Arc<Self>> {
        let key = store_key(key)?;
        let dir = dir_path(&dir)?;
        Ok(Self::wrap(Store::create(
            &dir,
            Unlock::Key(key),
            team.into(),
            &StoreOptions::default(),
        )?))
    }

    /// Opens the store in `dir`. A wrong key is `OutreachError.WrongKey` (nothing is written).
    #[uniffi::constructor]
    pub fn open(dir: String, key: Vec<u8>) -> R<Arc<Self>> {
        let key = store_key(key)?;
        let dir = dir_path(&dir)?;
        Ok(Self::wrap(Store::open(&dir, Unlock::Key(key))?))
    }

    /// Creates a new store in `dir` for a device joining a team with a lead's invite code
    /// (`outreach1:…`, read from the lead's QR code in person). Enrols with the hub named in
    /// the code (network). `device_name` is a label the hub sees ("TEST van 2 phone"), never a
    /// person's name. Sync next: the team's zones arrive with the first pull, and a shift cannot
    /// start before.
    #[uniffi::constructor]
    pub fn enrol(dir: String, key: Vec<u8>, invite: String, device_name: String) -> R<Arc<Self>> {
        let key = store_key(key)?;
        let dir = dir_path(&dir)?;
        let code = outreach_proto::invite::InviteCode::decode(invite.trim())
            .map_err(|_| invalid("invite", "not a valid invite code"))?;
        let transport = HttpTransport::new(code.hub_url())?;
        let store = Store::create_from_invite(
            &dir,
            Unlock::Key(key),
            invite.trim(),
            &device_name,
            &transport,
            &StoreOptions::default(),
        )?;
        Ok(Self::wrap(store))
    }

    // ---- identity and settings ----------------------------------------------------------

    /// This device's id (random, stable for the life of the store).
    pub fn device_id(&self) -> R<String> {
        self.with(|s| Ok(s.device_id().to_string()))
    }

    /// Sets the staff handle recorded in the audit log for what follows (not a full name).
    pub fn set_user(&self, handle: String) -> R<()> {
        self.with(|s| s.set_user(&handle))
    }

    /// The team settings (zones for pickers). Empty on an enrolled device before its first sync.
    pub fn settings(&self) -> R<TeamSettingsRecord> {
        self.with(|s| Ok(s.settings().into()))
    }

    /// The night (`YYYY-MM-DD`) a moment belongs to, in the team's UTC offset: times before
    /// noon count towards the previous evening.
    pub fn night_of(&self, at_ms: i64) -> R<String> {
        let t = time_from_ms("at", at_ms)?;
        self.with(|s| Ok(core::night_of(t, s.settings().utc_offset_minutes).to_string()))
    }

    // ---- shifts -------------------------------------------------------------------------

    /// Starts a shift on this device (fails with `State` if one is open).
    pub fn start_shift(&self, start: ShiftStartRecord) -> R<ShiftRecord> {
        let start = start.try_into()?;
        self.with(|s| s.start_shift(start)).map(Into::into)
    }

    /// Ends the shift open on this device, now.
    pub fn end_shift(&self) -> R<ShiftRecord> {
        self.with(|s| s.end_shift()).map(Into::into)
    }

    /// The shift open on this device, if any.
    pub fn current_shift(&self) -> R<Option<ShiftRecord>> {
        self.with(|s| s.current_shift()).map(|o| o.map(Into::into))
    }

    /// Every shift of a night (all devices this one knows of).
    pub fn list_shifts(&self, night: String) -> R<Vec<ShiftRecord>> {
        let night = date("night", &night)?;
        self.with(|s| s.list_shifts(night))
            .map(|v| v.into_iter().map(Into::into).collect())
    }

    // ---- encounters ---------------------------------------------------------------------

    /// Logs an encounter in the open shift (one transaction; on disk when this returns).
    pub fn log_encounter(&self, input: EncounterInputRecord) -> R<EncounterRecord> {
        let input = input.try_into()?;
        self.with(|s| s.log_encounter(input)).map(Into::into)
    }

    /// Amends an encounter: `input` is its whole new content; only changed fields are written.
    pub fn amend_encounter(&self, id: String, input: EncounterInputRecord) -> R<EncounterRecord> {
        let input = input.try_into()?;
        self.with(|s| s.amend_encounter(&id, input)).map(Into::into)
    }

    /// One encounter.
    pub fn get_encounter(&self, id: String) -> R<EncounterRecord> {
        self.with(|s| s.get_encounter(&id)).map(Into::into)
    }

    /// Every encounter of a night (`YYYY-MM-DD`), all vans this device knows of, in time order.
    pub fn list_night(&self, night: String) -> R<Vec<EncounterRecord>> {
        let night = date("night", &night)?;
        self.with(|s| s.list_night(night))
            .map(|v| v.into_iter().map(Into::into).collect())
    }

    // ---- people -------------------------------------------------------------------------

    /// Adds a pseudonymous person profile.
    pub fn add_person(&self, input: PersonInputRecord) -> R<PersonRecord> {
        let input = input.try_into()?;
        self.with(|s| s.add_person(input)).map(Into::into)
    }

    /// Replaces a profile's editable content (only changed fields are written).
    pub fn edit_person(&self, id: String, input: PersonInputRecord) -> R<PersonRecord> {
        let input = input.try_into()?;
        self.with(|s| s.edit_person(&id, input)).map(Into::into)
    }

    /// Opens a profile for display. Audited (`person.view`).
    pub fn view_person(&self, id: String) -> R<PersonRecord> {
        self.with(|s| s.view_person(&id)).map(Into::into)
    }

    /// Reads a profile to prefill an edit form, without a view event (the edit is audited).
    /// Never use it to display a profile: use `view_person`.
    pub fn person_for_edit(&self, id: String) -> R<PersonRecord> {
        self.with(|s| s.person_for_edit(&id)).map(Into::into)
    }

    /// Finds people by code name, offline, forgiving of misspelling; best first.
    pub fn find_people(&self, query: String, limit: u32) -> R<Vec<PersonMatchRecord>> {
        self.with(|s| s.find_people(&query, limit as usize))
            .map(|v| v.into_iter().map(Into::into).collect())
    }

    /// Code names of several profiles (for a list of encounters); one audit event
    /// (`person.list`). Unknown ids are left out.
    pub fn code_names(&self, ids: Vec<String>) -> R<std::collections::HashMap<String, String>> {
        self.with(|s| s.code_names(&ids))
    }

    // ---- concerns and incidents ---------------------------------------------------------

    /// Records a safeguarding concern in the open shift.
    pub fn record_concern(&self, input: ConcernInputRecord) -> R<ConcernRecord> {
        let input = input.try_into()?;
        self.with(|s| s.record_concern(input)).map(Into::into)
    }

    /// Records a violence / crime incident in the open shift.
    pub fn record_incident(&self, input: IncidentInputRecord) -> R<IncidentRecord> {
        let input = input.try_into()?;
        self.with(|s| s.record_incident(input)).map(Into::into)
    }

    /// Concerns of a night.
    pub fn list_concerns(&self, night: String) -> R<Vec<ConcernRecord>> {
        let night = date("night", &night)?;
        self.with(|s| s.list_concerns(night))
            .map(|v| v.into_iter().map(Into::into).collect())
    }

    /// Incidents of a night.
    pub fn list_incidents(&self, night: String) -> R<Vec<IncidentRecord>> {
        let night = date("night", &night)?;
        self.with(|s| s.list_incidents(night))
            .map(|v| v.into_iter().map(Into::into).collect())
    }

    // ---- alerts -------------------------------------------------------------------------

    /// Adds a dangerous-individual alert (identifiers normalised; only keyed hashes indexed).
    pub fn add_alert(&self, input: AlertInputRecord) -> R<AlertRecord> {
        let input = input.try_into()?;
        self.with(|s| s.add_alert(input)).map(Into::into)
    }

    /// Checks a phone number, plate, email or username against the alerts, offline. The value
    /// is normalised and hashed in memory and never written anywhere. Empty = no match.
    pub fn check_alert(&self, kind: IdentifierKind, value: String) -> R<Vec<AlertMatchRecord>> {
        self.with(|s| s.check_alert(kind.into(), &value))
            .map(|v| v.into_iter().map(Into::into).collect())
    }

    /// Every alert, newest first.
    pub fn list_alerts(&self) -> R<Vec<AlertRecord>> {
        self.with(|s| s.list_alerts())
            .map(|v| v.into_iter().map(Into::into).collect())
    }

    // ---- audit --------------------------------------------------------------------------

    /// The newest `limit` audit events, newest first.
    pub fn audit_tail(&self, limit: u32) -> R<Vec<AuditEventRecord>> {
        self.with(|s| s.audit_log(limit as usize))
            .map(|v| v.into_iter().map(Into::into).collect())
    }

    // ---- sync ---------------------------------------------------------------------------

    /// Where sync stands (no network).
    pub fn sync_status(&self) -> R<SyncStatusRecord> {
        self.with(|s| s.sync_status()).map(Into::into)
    }

    /// This device's role in its team.
    pub fn role(&self) -> R<DeviceRole> {
        self.with(|s| s.sync_role()).map(Into::into)
    }

    /// Pushes the outbox and pulls everything new from the hub (network, long). Progress is
    /// reported after each request/page on this thread; `cancel` stops it at the next safe
    /// point with `OutreachError.Cancelled` (a handle cancelled before the call cancels it at
    /// once). Safe to call again after any failure: nothing is lost or applied twice.
    pub fn sync(
        &self,
        progress: Arc<dyn SyncProgressListener>,
        cancel: Arc<CancelHandle>,
    ) -> R<SyncSummary> {
        let mut g = self.lock()?;
        let transport = Self::transport(&g)?;
        let report = g.sync(
            &transport,
            &|p: core::SyncProgress| {
                // Reset even if the callback panics (a foreign exception arrives as a panic).
                struct Reset;
                impl Drop for Reset {
                    fn drop(&mut self) {
                        IN_CALLBACK.with(|c| c.set(false));
                    }
                }
                IN_CALLBACK.with(|c| c.set(true));
                let _reset = Reset;
                progress.on_progress(p.into());
            },
            &cancel.token,
        );
        match report {
            Ok(r) => Ok(r.into()),
            Err(e) => {
                if matches!(e, core::Error::Wiped) {
                    // A lead's wipe order was obeyed: the files are gone; drop the husk.
                    g.0.take();
                }
                Err(e.into())
            }
        }
    }

    /// Registers this (lead) store's team with a hub, using the hub operator's one-time setup
    /// code (network). `device_name` is a label, never a person's name.
    pub fn register_team(&self, hub_url: String, setup_code: String, device_name: String) -> R<()> {
        let transport = HttpTransport::new(&hub_url)?;
        self.with(|s| s.register_team(&transport, &hub_url, &setup_code, &device_name))
    }

    /// Creates a one-time invite for a new device (lead only; network) valid for
    /// `valid_minutes` (at most 7 days), and returns the `outreach1:` code to show as a QR code
    /// in person. It holds the team key: never send it.
    pub fn create_invite(&self, role: DeviceRole, valid_minutes: u32) -> R<String> {
        if valid_minutes == 0 || valid_minutes > 7 * 24 * 60 {
            return Err(invalid(
                "valid_minutes",
                "must be between 1 and 10080 (7 days)",
            ));
        }
        let mut g = self.lock()?;
        let transport = Self::transport(&g)?;
        let code = g.create_invite(&transport, role.into(), i64::from(valid_minutes) * 60_000)?;
        Ok(code.to_string())
    }

    // ---- device loss --------------------------------------------------------------------

    /// Wipes this store now (see `wipe_store`); every later call on this object fails with
    /// `State`. The shell must also delete its Keystore/Keychain key.
    pub fn wipe(&self) -> R<()> {
        let mut slot = self.lock_slot()?;
        let store = slot.take().ok_or_else(wiped_state)?;
        Ok(store.wipe()?)
    }

    /// Sets the duress PIN: typed at the unlock screen, `check_duress_pin` then wipes the store
    /// instead of it being opened. The shell must make sure it differs from the real PIN.
    /// Kept in `store.json` as an Argon2id verifier with its own salt; this copy of the PIN is
    /// wiped after use.
    pub fn set_duress_pin(&self, pin: Vec<u8>) -> R<()> {
        let mut pin = pin;
        let r = self.with(|s| s.set_duress_secret(&pin));
        pin.zeroize();
        r
    }

    /// Removes the duress PIN (a random decoy verifier takes its place).
    pub fn clear_duress_pin(&self) -> R<()> {
        self.with(|s| s.clear_duress_secret())
    }

    /// Sets the team's dead-man timer (lead only): a member phone that has not synced for
    /// `hours` wipes itself at its next unlock (`open` then fails with `Wiped`). `null`: off.
    pub fn set_dead_man_hours(&self, hours: Option<u32>) -> R<()> {
        self.with(|s| s.set_dead_man_hours(hours))
    }

    // ---- test support -------------------------------------------------------------------

    /// TEST ONLY, never call it from an app: panics deliberately inside the core (a transport
    /// that panics under `refresh_devices`, with the store locked), to prove a panic arrives
    /// in each language as an error (Kotlin `InternalException`, Swift `rustPanic`, Python
    /// `InternalError`) and that the store keeps working afterwards.
    pub fn debug_provoke_panic(&self) -> R<()> {
        self.with(|s| s.refresh_devices(&PanickingTransport))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> TeamSetupRecord {
        TeamSetupRecord {
            team: "TEST Team".into(),
            zones: vec!["north-beat".into(), "canal".into()],
            default_country: "GB".into(),
            utc_offset_minutes: 0,
        }
    }

    struct Count(
        std::sync::atomic::AtomicU32,
        Arc<OutreachStore>,
        Mutex<Option<OutreachError>>,
    );
    impl SyncProgressListener for Count {
        fn on_progress(&self, _p: SyncProgressRecord) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            *self.2.lock().unwrap() = self.1.device_id().err();
        }
    }

    #[test]
    fn wrong_key_short_key_and_panic_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s").display().to_string();
        let key = vec![7u8; 32];
        let s = OutreachStore::create(path.clone(), key.clone(), team()).unwrap();
        s.start_shift(ShiftStartRecord {
            van: "Van 1".into(),
            crew: vec!["staff-a".into()],
            zones: vec!["canal".into()],
            at_ms: None,
        })
        .unwrap();
        assert!(
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.debug_provoke_panic()))
                .is_err()
        );
        // Poisoned mutex recovered; the store still works.
        assert!(s.current_shift().unwrap().is_some());
        drop(s);
        assert_eq!(
            OutreachStore::open(path.clone(), vec![8u8; 32]).unwrap_err(),
            OutreachError::WrongKey
        );
        assert!(matches!(
            OutreachStore::open(path.clone(), vec![7u8; 31]).unwrap_err(),
            OutreachError::Invalid { .. }
        ));
        let s = OutreachStore::open(path, key).unwrap();
        assert!(s.current_shift().unwrap().is_some());
        // Not registered: sync is a State error, before any callback.
        let l = Arc::new(Count(Default::default(), s.clone(), Mutex::new(None)));
        assert!(matches!(
            s.sync(l.clone(), CancelHandle::new()).unwrap_err(),
            OutreachError::State { .. }
        ));
    }

    #[test]
    fn wipe_and_duress_pin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s").display().to_string();
        let s = OutreachStore::create(path.clone(), vec![3u8; 32], team()).unwrap();
        s.set_duress_pin(b"999999".to_vec()).unwrap();
        assert!(!crate::check_duress_pin(path.clone(), b"123456".to_vec()).unwrap());
        s.wipe().unwrap();
        assert!(matches!(s.device_id().unwrap_err(), OutreachError::State { .. }));
        assert!(matches!(s.wipe().unwrap_err(), OutreachError::State { .. }));
        assert_eq!(OutreachStore::open(path.clone(), vec![3u8; 32]).unwrap_err(), OutreachError::NoStore);
        // Duress on a store that is not open.
        drop(OutreachStore::create(path.clone(), vec![4u8; 32], team()).unwrap().set_duress_pin(b"2468".to_vec()));
        assert!(crate::check_duress_pin(path.clone(), b"2468".to_vec()).unwrap());
        assert_eq!(OutreachStore::open(path.clone(), vec![4u8; 32]).unwrap_err(), OutreachError::NoStore);
        assert!(!crate::check_duress_pin(path.clone(), b"2468".to_vec()).unwrap());
        crate::wipe_store(path).unwrap();
    }

    #[test]
    fn controlled_list_strings_are_checked_with_their_field() {
        let dir = tempfile::tempdir().unwrap();
        let s = OutreachStore::create(
            dir.path().join("s").display().to_string(),
            vec![1u8; 32],
            team(),
        )
        .unwrap();
        s.start_shift(ShiftStartRecord {
            van: "Van 1".into(),
            crew: vec!["staff-a".into()],
            zones: vec!["canal".into()],
            at_ms: None,
        })
        .unwrap();
        let mut e = EncounterInputRecord {
            at_ms: None,
            zone: "canal".into(),
            setting: "street".into(),
            contact_type: "brief".into(),
            person: None,
            workers: vec![],
            language: None,
            interpreter: "none".into(),
            consent: ConsentFlagsRecord::default(),
            services: vec![ServiceCountRecord {
                service: "condoms".into(),
                count: 3,
            }],
            referrals: vec![],
            follow_up: None,
            note: None,
        };
        let logged = s.log_encounter(e.clone()).unwrap();
        assert_eq!(logged.input.services, e.services);
        e.setting = "rooftop".into();
        match s.log_encounter(e).unwrap_err() {
            OutreachError::Invalid { field, .. } => assert_eq!(field, "encounter.setting"),
            other => panic!("{other:?}"),
        }
        assert!(controlled_values(ControlledList::Service)
            .unwrap()
            .contains(&"condoms".to_string()));
    }
}
