"""Python (ctypes) scenario tests of the outreach-ffi API.

Driven by bindings/tests/bindings.rs, which generates `outreach_ffi.py` next to a copy of
liboutreach_ffi.so (on PYTHONPATH), starts a hub on loopback and prepares a registered lead store
and an invite (OUTREACH_TEST_* environment variables). The same behaviours as the Kotlin and
Swift suites: open with key bytes, shift, log with services, list the night, alert check (match
and no match), sync with progress, enrol from an invite and see the lead's data arrive, cancel
(before and while running, then a sync that succeeds), the wrong key as its typed exception,
and a panic inside the core as an error after which the library keeps working.
All data is obviously fake.
"""

import os
import threading
import time

import pytest

import outreach_ffi as ffi

ENV = os.environ
ZONE = ENV.get("OUTREACH_TEST_ZONE", "")


def env(name):
    value = ENV.get(name)
    assert value, f"{name} unset (run through cargo test -p outreach-ffi)"
    return value


def lead_key():
    return bytes.fromhex(env("OUTREACH_TEST_LEAD_KEY_HEX"))


class Recorder(ffi.SyncProgressListener):
    """Records progress; optionally cancels `handle` at the first report."""

    def __init__(self, handle=None):
        self.events = []
        self._lock = threading.Lock()
        self._handle = handle

    def on_progress(self, progress):
        with self._lock:
            self.events.append(progress)
        if self._handle is not None:
            self._handle.cancel()


def encounter(services):
    return ffi.EncounterInputRecord(
        at_ms=None,
        zone=ZONE,
        setting="street",
        contact_type="brief",
        person=None,
        workers=[],
        language=None,
        interpreter="none",
        consent=ffi.ConsentFlagsRecord(record=True, follow_up_contact=False, share_with_partners=False),
        services=[ffi.ServiceCountRecord(service=s, count=n) for s, n in services],
        referrals=[],
        follow_up=None,
        note="TEST note",
    )


def test_version():
    assert ffi.ffi_version() == env("OUTREACH_FFI_EXPECTED_VERSION")


def test_scenario_shift_log_alert_sync_enrol_cancel():
    store = ffi.OutreachStore.open(env("OUTREACH_TEST_LEAD_DIR"), lead_key())
    assert ZONE in store.settings().zones
    store.set_user("TEST-staff-py")

    # Shift and an encounter with services.
    shift = store.start_shift(ffi.ShiftStartRecord(van="TEST Van 1", crew=["TEST-a", "TEST-b"], zones=[ZONE], at_ms=None))
    assert store.current_shift().id == shift.id
    logged = store.log_encounter(encounter([("condoms", 5), ("hot_drink", 1)]))
    night = store.list_night(shift.night)
    assert [e.id for e in night] == [logged.id]
    assert {(s.service, s.count) for s in night[0].input.services} == {("condoms", 5), ("hot_drink", 1)}
    assert night[0].input.workers == ["TEST-a", "TEST-b"]

    # Alert check: the driver's alert matches in another spelling; another number does not.
    hits = store.check_alert(ffi.IdentifierKind.PHONE, "07700 900123")
    assert [h.risk for h in hits] == ["high"]
    assert store.check_alert(ffi.IdentifierKind.PHONE, "07700 900999") == []

    # Sync with progress.
    assert store.sync_status().outbox > 0
    rec = Recorder()
    summary = store.sync(rec, ffi.CancelHandle())
    assert summary.pushed_chunks > 0
    assert any(p.phase == ffi.SyncPhase.PUSH for p in rec.events)
    assert any(p.phase == ffi.SyncPhase.PULL for p in rec.events)
    status = store.sync_status()
    assert status.outbox == 0 and status.last_error is None and status.registered

    # A new device enrols from the invite and pulls the lead's night and alert.
    member_dir = os.path.join(env("OUTREACH_TEST_WORK_DIR"), "member-py")
    member = ffi.OutreachStore.enrol(member_dir, os.urandom(32), env("OUTREACH_TEST_INVITE"), "TEST van 2 phone")
    assert member.role() == ffi.DeviceRole.MEMBER
    rec = Recorder()
    pulled = member.sync(rec, ffi.CancelHandle())
    assert pulled.pulled_chunks > 0
    assert rec.events
    assert ZONE in member.settings().zones
    assert [e.id for e in member.list_night(shift.night)] == [logged.id]
    assert len(member.check_alert(ffi.IdentifierKind.PLATE, "te57abc")) == 1

    # Cancel before the sync starts.
    handle = ffi.CancelHandle()
    handle.cancel()
    with pytest.raises(ffi.OutreachError.Cancelled):
        store.sync(Recorder(), handle)
    assert store.sync_status().last_error == "cancelled"

    # Cancel while it runs (from the first progress report; there is something to push).
    store.log_encounter(encounter([("lube", 2)]))
    handle = ffi.CancelHandle()
    rec = Recorder(handle)
    with pytest.raises(ffi.OutreachError.Cancelled):
        store.sync(rec, handle)
    assert len(rec.events) == 1

    # Cancel from another thread while a sync runs (or before it starts: either is Cancelled).
    handle = ffi.CancelHandle()
    threading.Timer(0.0, handle.cancel).start()
    time.sleep(0.05)
    with pytest.raises(ffi.OutreachError.Cancelled):
        store.sync(Recorder(), handle)

    # A later sync succeeds and delivers the rest.
    store.sync(Recorder(), ffi.CancelHandle())
    assert store.sync_status().outbox == 0
    member.sync(Recorder(), ffi.CancelHandle())
    assert len(member.list_night(shift.night)) == 2
    store.end_shift()
    assert store.current_shift() is None
    assert any(a.action == "encounter.create" for a in store.audit_tail(20))


def test_wrong_key_is_its_typed_exception():
    wrong = bytes(b ^ 0xFF for b in lead_key())
    with pytest.raises(ffi.OutreachError.WrongKey):
        ffi.OutreachStore.open(env("OUTREACH_TEST_LEAD_DIR"), wrong)
    with pytest.raises(ffi.OutreachError.Invalid) as info:
        ffi.OutreachStore.open(env("OUTREACH_TEST_LEAD_DIR"), b"short")
    assert info.value.field == "key"


def test_invalid_input_names_the_field():
    store = ffi.OutreachStore.create(
        os.path.join(env("OUTREACH_TEST_WORK_DIR"), "invalid-py"),
        os.urandom(32),
        ffi.TeamSetupRecord(team="TEST Team", zones=["zone-a"], default_country="GB", utc_offset_minutes=0),
    )
    with pytest.raises(ffi.OutreachError.State):
        store.log_encounter(encounter([]))  # no shift open
    store.start_shift(ffi.ShiftStartRecord(van="TEST Van", crew=["TEST-a"], zones=["zone-a"], at_ms=None))
    bad = encounter([])
    bad.zone = "zone-a"
    bad.setting = "rooftop"
    with pytest.raises(ffi.OutreachError.Invalid) as info:
        store.log_encounter(bad)
    assert info.value.field == "encounter.setting"


def test_panic_inside_the_core_is_an_error_and_the_library_keeps_working():
    store = ffi.OutreachStore.create(
        os.path.join(env("OUTREACH_TEST_WORK_DIR"), "panic-py"),
        os.urandom(32),
        ffi.TeamSetupRecord(team="TEST Team", zones=["zone-a"], default_country="GB", utc_offset_minutes=0),
    )
    with pytest.raises(ffi.InternalError) as info:
        store.debug_provoke_panic()
    assert "provoked panic" in str(info.value)
    assert not isinstance(info.value, ffi.OutreachError)
    # The same store (its lock was held by the panicking call) still works.
    store.start_shift(ffi.ShiftStartRecord(van="TEST Van", crew=["TEST-a"], zones=["zone-a"], at_ms=None))
    assert store.current_shift() is not None
    assert ffi.ffi_version() == env("OUTREACH_FFI_EXPECTED_VERSION")


def test_wipe_and_duress_pin_leave_no_store():
    work = env("OUTREACH_TEST_WORK_DIR")
    team = ffi.TeamSetupRecord(team="TEST Team", zones=["zone-a"], default_country="GB", utc_offset_minutes=0)
    # Wipe an open store: its files go, the object is unusable, the store cannot be opened.
    wiped = os.path.join(work, "wipe-py")
    key = os.urandom(32)
    store = ffi.OutreachStore.create(wiped, key, team)
    store.start_shift(ffi.ShiftStartRecord(van="TEST Van", crew=["TEST-a"], zones=["zone-a"], at_ms=None))
    store.wipe()
    with pytest.raises(ffi.OutreachError.State):
        store.current_shift()
    with pytest.raises(ffi.OutreachError.NoStore):
        ffi.OutreachStore.open(wiped, key)
    assert not os.path.exists(wiped)
    # Wipe by directory (a store that cannot be opened).
    closed = os.path.join(work, "wipe-dir-py")
    key = os.urandom(32)
    store = ffi.OutreachStore.create(closed, key, team)
    del store
    ffi.wipe_store(closed)
    with pytest.raises(ffi.OutreachError.NoStore):
        ffi.OutreachStore.open(closed, key)
    # Duress PIN: another PIN leaves the store; the duress PIN wipes it.
    duress = os.path.join(work, "duress-py")
    key = os.urandom(32)
    store = ffi.OutreachStore.create(duress, key, team)
    store.set_duress_pin(b"999999")
    del store
    assert ffi.check_duress_pin(duress, b"123456") is False
    ffi.OutreachStore.open(duress, key).current_shift()
    assert ffi.check_duress_pin(duress, b"999999") is True
    with pytest.raises(ffi.OutreachError.NoStore):
        ffi.OutreachStore.open(duress, key)
    assert not os.path.exists(duress)
