//! A lead's remote wipe reaching a phone through the FFI: a member phone (`OutreachStore`)
//! enrolled through a real hub on loopback is revoked with a wipe order; its next `sync`
//! fails with `OutreachError::Wiped`, the store's files are gone, and the object refuses every
//! later call (`State`) instead of touching a destroyed store. All data is obviously fake.

use std::sync::Arc;

use outreach_core::{HttpTransport, Store, StoreKey, Unlock};
use outreach_ffi::{
    CancelHandle, DeviceRole, OutreachError, OutreachStore, ShiftStartRecord, SyncProgressListener,
    SyncProgressRecord, TeamSetupRecord,
};
use outreach_hub::{HubConfig, RateLimit};

const SETUP_CODE: &str = "TEST-setup-code-not-secret";

struct NoProgress;
impl SyncProgressListener for NoProgress {
    fn on_progress(&self, _: SyncProgressRecord) {}
}

fn sync(s: &OutreachStore) -> Result<(), OutreachError> {
    s.sync(Arc::new(NoProgress), CancelHandle::new()).map(|_| ())
}

#[test]
fn remote_wipe_through_the_ffi() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let hub_dir = tempfile::tempdir().unwrap();
    let mut config = HubConfig::loopback_ephemeral(format!("sqlite:{}", hub_dir.path().join("hub.db").display()));
    config.setup_code = Some(SETUP_CODE.into());
    config.device_rate = RateLimit::new(10_000.0, 10_000.0);
    config.open_rate = RateLimit::new(10_000.0, 10_000.0);
    let hub = rt.block_on(outreach_hub::start(config)).expect("hub starts");
    let url = hub.base_url();

    let work = tempfile::tempdir().unwrap();
    let lead_dir = work.path().join("lead");
    let lead_key = [5u8; 32];
    let team = TeamSetupRecord {
        team: "TEST Team".into(),
        zones: vec!["north-beat".into()],
        default_country: "GB".into(),
        utc_offset_minutes: 0,
    };
    let lead = OutreachStore::create(lead_dir.display().to_string(), lead_key.to_vec(), team).unwrap();
    lead.register_team(url.clone(), SETUP_CODE.into(), "TEST lead phone".into()).unwrap();
    sync(&lead).unwrap();
    let invite = lead.create_invite(DeviceRole::Member, 60).unwrap();
    drop(lead);

    let phone_root = tempfile::tempdir().unwrap();
    let phone_dir = phone_root.path().join("phone");
    let phone_key = vec![6u8; 32];
    let phone = OutreachStore::enrol(phone_dir.display().to_string(), phone_key.clone(), invite, "TEST van phone".into()).unwrap();
    sync(&phone).unwrap();
    phone
        .start_shift(ShiftStartRecord { van: "TEST Van".into(), crew: vec!["TEST-a".into()], zones: vec!["north-beat".into()], at_ms: None })
        .unwrap();
    let phone_id = phone.device_id().unwrap();

    // The lead revokes the phone with a wipe order (the FFI has no revoke: leads use the CLI).
    {
        let mut lead = Store::open(&lead_dir, Unlock::Key(StoreKey::from_bytes(lead_key))).unwrap();
        let transport = HttpTransport::new(&url).unwrap();
        lead.revoke_device_with_wipe(&transport, &phone_id, true).unwrap();
    }

    assert_eq!(sync(&phone).unwrap_err(), OutreachError::Wiped);
    assert!(matches!(phone.current_shift().unwrap_err(), OutreachError::State { .. }));
    assert!(matches!(sync(&phone).unwrap_err(), OutreachError::State { .. }));
    drop(phone);
    let left: Vec<_> = std::fs::read_dir(phone_root.path()).unwrap().collect();
    assert!(left.is_empty(), "files left: {left:?}");
    assert_eq!(OutreachStore::open(phone_dir.display().to_string(), phone_key).unwrap_err(), OutreachError::NoStore);

    rt.block_on(hub.shutdown()).ok();
}
