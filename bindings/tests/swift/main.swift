// Swift (Linux, XCTest) scenario tests of the outreach-ffi API. Driven by
// bindings/tests/bindings.rs: compiled with swiftc inside the Debian trixie chroot
// (scripts/swift-chroot.sh) together with the generated outreach_ffi.swift, linked against the
// host-built liboutreach_ffi.so; the driver starts a hub on loopback and prepares a registered
// lead store and an invite (OUTREACH_TEST_* environment variables). The same behaviours as the
// Kotlin and Python suites: open with key bytes, shift, log with services, list the night, alert
// check (match and no match), sync with progress, enrol from an invite and see the lead's data
// arrive, cancel (before and while running, then a sync that succeeds), the wrong key as its
// typed error, and a panic inside the core as an error after which the library keeps working.
// All data is obviously fake.
import Foundation
import XCTest

func env(_ name: String) -> String {
    guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else {
        fatalError("\(name) unset (run through cargo test -p outreach-ffi)")
    }
    return v
}

func hexBytes(_ s: String) -> Data {
    var out = Data()
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i..<j], radix: 16)!)
        i = j
    }
    return out
}

func randomKey() -> Data {
    var g = SystemRandomNumberGenerator()
    return Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &g) })
}

let zone = env("OUTREACH_TEST_ZONE")

/// Records progress; optionally cancels `handle` at the first report.
final class Recorder: SyncProgressListener, @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [SyncProgressRecord] = []
    private let handle: CancelHandle?

    init(handle: CancelHandle? = nil) { self.handle = handle }

    func onProgress(progress: SyncProgressRecord) {
        lock.lock()
        seen.append(progress)
        lock.unlock()
        handle?.cancel()
    }

    var events: [SyncProgressRecord] {
        lock.lock()
        defer { lock.unlock() }
        return seen
    }
}

func encounter(_ zone: String, _ services: [(String, UInt32)]) -> EncounterInputRecord {
    EncounterInputRecord(
        atMs: nil, zone: zone, setting: "street", contactType: "brief", person: nil, workers: [],
        language: nil, interpreter: "none",
        consent: ConsentFlagsRecord(record: true, followUpContact: false, shareWithPartners: false),
        services: services.map { ServiceCountRecord(service: $0.0, count: $0.1) },
        referrals: [], followUp: nil, note: "TEST note")
}

func freshStore(_ name: String) throws -> OutreachStore {
    try OutreachStore.create(
        dir: "\(env("OUTREACH_TEST_WORK_DIR"))/\(name)", key: randomKey(),
        team: TeamSetupRecord(team: "TEST Team", zones: ["zone-a"], defaultCountry: "GB", utcOffsetMinutes: 0))
}

func expectError<T>(_ what: String, _ body: () throws -> T, _ check: (Error) -> Bool) {
    do {
        _ = try body()
        XCTFail("\(what): expected an error, got a value")
    } catch {
        XCTAssertTrue(check(error), "\(what): unexpected error \(error)")
    }
}

func isCancelled(_ e: Error) -> Bool {
    if case OutreachError.Cancelled = e { return true }
    return false
}

final class OutreachTests: XCTestCase {
    static let allTests = [
        ("testVersion", testVersion),
        ("testScenarioShiftLogAlertSyncEnrolCancel", testScenarioShiftLogAlertSyncEnrolCancel),
        ("testWrongKeyIsItsTypedError", testWrongKeyIsItsTypedError),
        ("testInvalidInputNamesTheField", testInvalidInputNamesTheField),
        ("testPanicInsideTheCoreIsAnErrorAndTheLibraryKeepsWorking", testPanicInsideTheCoreIsAnErrorAndTheLibraryKeepsWorking),
        ("testWipeAndDuressPinLeaveNoStore", testWipeAndDuressPinLeaveNoStore),
    ]

    func testVersion() throws {
        XCTAssertEqual(try ffiVersion(), env("OUTREACH_FFI_EXPECTED_VERSION"))
    }

    func testScenarioShiftLogAlertSyncEnrolCancel() throws {
        let store = try OutreachStore.open(dir: env("OUTREACH_TEST_LEAD_DIR"), key: hexBytes(env("OUTREACH_TEST_LEAD_KEY_HEX")))
        XCTAssertTrue(try store.settings().zones.contains(zone))
        try store.setUser(handle: "TEST-staff-swift")

        // Shift and an encounter with services.
        let shift = try store.startShift(start: ShiftStartRecord(van: "TEST Van 1", crew: ["TEST-a", "TEST-b"], zones: [zone], atMs: nil))
        XCTAssertEqual(try store.currentShift()?.id, shift.id)
        let logged = try store.logEncounter(input: encounter(zone, [("condoms", 5), ("hot_drink", 1)]))
        let night = try store.listNight(night: shift.night)
        XCTAssertEqual(night.map { $0.id }, [logged.id])
        XCTAssertEqual(Set(night.first?.input.services.map { "\($0.service)=\($0.count)" } ?? []), ["condoms=5", "hot_drink=1"])
        XCTAssertEqual(night.first?.input.workers, ["TEST-a", "TEST-b"])

        // Alert check: the driver's alert matches in another spelling; another number does not.
        XCTAssertEqual(try store.checkAlert(kind: .phone, value: "07700 900123").map { $0.risk }, ["high"])
        XCTAssertEqual(try store.checkAlert(kind: .phone, value: "07700 900999").count, 0)

        // Sync with progress.
        XCTAssertGreaterThan(try store.syncStatus().outbox, 0)
        var rec = Recorder()
        let summary = try store.sync(progress: rec, cancel: CancelHandle())
        XCTAssertGreaterThan(summary.pushedChunks, 0)
        XCTAssertTrue(rec.events.contains { $0.phase == .push })
        XCTAssertTrue(rec.events.contains { $0.phase == .pull })
        let status = try store.syncStatus()
        XCTAssertEqual(status.outbox, 0)
        XCTAssertNil(status.lastError)
        XCTAssertTrue(status.registered)

        // A new device enrols from the invite and pulls the lead's night and alert.
        let member = try OutreachStore.enrol(
            dir: "\(env("OUTREACH_TEST_WORK_DIR"))/member-swift", key: randomKey(),
            invite: env("OUTREACH_TEST_INVITE"), deviceName: "TEST van 2 phone")
        XCTAssertEqual(try member.role(), .member)
        rec = Recorder()
        XCTAssertGreaterThan(try member.sync(progress: rec, cancel: CancelHandle()).pulledChunks, 0)
        XCTAssertFalse(rec.events.isEmpty)
        XCTAssertTrue(try member.settings().zones.contains(zone))
        XCTAssertEqual(try member.listNight(night: shift.night).map { $0.id }, [logged.id])
        XCTAssertEqual(try member.checkAlert(kind: .plate, value: "te57abc").count, 1)

        // Cancel before the sync starts.
        let before = CancelHandle()
        before.cancel()
        expectError("cancel before", { try store.sync(progress: Recorder(), cancel: before) }, isCancelled)
        XCTAssertEqual(try store.syncStatus().lastError, "cancelled")

        // Cancel while it runs (from the first progress report; there is something to push).
        _ = try store.logEncounter(input: encounter(zone, [("lube", 2)]))
        let during = CancelHandle()
        rec = Recorder(handle: during)
        expectError("cancel during", { try store.sync(progress: rec, cancel: during) }, isCancelled)
        XCTAssertEqual(rec.events.count, 1)

        // Cancel from another thread.
        let other = CancelHandle()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { other.cancel(); done.signal() }
        done.wait()
        expectError("cancel from another thread", { try store.sync(progress: Recorder(), cancel: other) }, isCancelled)

        // A later sync succeeds and delivers the rest.
        _ = try store.sync(progress: Recorder(), cancel: CancelHandle())
        XCTAssertEqual(try store.syncStatus().outbox, 0)
        _ = try member.sync(progress: Recorder(), cancel: CancelHandle())
        XCTAssertEqual(try member.listNight(night: shift.night).count, 2)
        _ = try store.endShift()
        XCTAssertNil(try store.currentShift())
        XCTAssertTrue(try store.auditTail(limit: 20).contains { $0.action == "encounter.create" })
    }

    func testWrongKeyIsItsTypedError() {
        let wrong = Data(hexBytes(env("OUTREACH_TEST_LEAD_KEY_HEX")).map { $0 ^ 0xFF })
        expectError("wrong key", { try OutreachStore.open(dir: env("OUTREACH_TEST_LEAD_DIR"), key: wrong) }) { e in
            if case OutreachError.WrongKey = e { return true }
            return false
        }
        expectError("short key", { try OutreachStore.open(dir: env("OUTREACH_TEST_LEAD_DIR"), key: Data(count: 5)) }) { e in
            if case OutreachError.Invalid(let field, _) = e { return field == "key" }
            return false
        }
    }

    func testInvalidInputNamesTheField() throws {
        let store = try freshStore("invalid-swift")
        expectError("no shift", { try store.logEncounter(input: encounter("zone-a", [])) }) { e in
            if case OutreachError.State = e { return true }
            return false
        }
        _ = try store.startShift(start: ShiftStartRecord(van: "TEST Van", crew: ["TEST-a"], zones: ["zone-a"], atMs: nil))
        var bad = encounter("zone-a", [])
        bad.setting = "rooftop"
        expectError("bad setting", { try store.logEncounter(input: bad) }) { e in
            if case OutreachError.Invalid(let field, _) = e { return field == "encounter.setting" }
            return false
        }
    }

    func testPanicInsideTheCoreIsAnErrorAndTheLibraryKeepsWorking() throws {
        let store = try freshStore("panic-swift")
        // The generated `UniffiInternalError` is fileprivate to the bindings file, so callers
        // see it as "an Error that is not OutreachError", described as rustPanic(message).
        expectError("provoked panic", { try store.debugProvokePanic() }) { e in
            !(e is OutreachError) && String(describing: e).contains("rustPanic")
                && ((e as? LocalizedError)?.errorDescription ?? "").contains("provoked panic")
        }
        // The same store (its lock was held by the panicking call) still works.
        _ = try store.startShift(start: ShiftStartRecord(van: "TEST Van", crew: ["TEST-a"], zones: ["zone-a"], atMs: nil))
        XCTAssertNotNil(try store.currentShift())
        XCTAssertEqual(try ffiVersion(), env("OUTREACH_FFI_EXPECTED_VERSION"))
    }

    func testWipeAndDuressPinLeaveNoStore() throws {
        let work = env("OUTREACH_TEST_WORK_DIR")
        let team = TeamSetupRecord(team: "TEST Team", zones: ["zone-a"], defaultCountry: "GB", utcOffsetMinutes: 0)
        func isNoStore(_ e: Error) -> Bool {
            if case OutreachError.NoStore = e { return true }
            return false
        }
        // Wipe an open store: its files go, the object is unusable, the store cannot be opened.
        let wiped = "\(work)/wipe-swift"
        let key = randomKey()
        let store = try OutreachStore.create(dir: wiped, key: key, team: team)
        _ = try store.startShift(start: ShiftStartRecord(van: "TEST Van", crew: ["TEST-a"], zones: ["zone-a"], atMs: nil))
        try store.wipe()
        expectError("after wipe", { try store.currentShift() }) { e in
            if case OutreachError.State = e { return true }
            return false
        }
        expectError("open wiped", { try OutreachStore.open(dir: wiped, key: key) }, isNoStore)
        XCTAssertFalse(FileManager.default.fileExists(atPath: wiped))
        // Wipe by directory (a store that cannot be opened).
        let closed = "\(work)/wipe-dir-swift"
        let key2 = randomKey()
        do { _ = try OutreachStore.create(dir: closed, key: key2, team: team) }
        try wipeStore(dir: closed)
        expectError("open wiped dir", { try OutreachStore.open(dir: closed, key: key2) }, isNoStore)
        // Duress PIN: another PIN leaves the store; the duress PIN wipes it.
        let duress = "\(work)/duress-swift"
        let key3 = randomKey()
        do { try OutreachStore.create(dir: duress, key: key3, team: team).setDuressPin(pin: Data("999999".utf8)) }
        XCTAssertFalse(try checkDuressPin(dir: duress, pin: Data("123456".utf8)))
        do { XCTAssertNil(try OutreachStore.open(dir: duress, key: key3).currentShift()) }
        XCTAssertTrue(try checkDuressPin(dir: duress, pin: Data("999999".utf8)))
        expectError("open after duress", { try OutreachStore.open(dir: duress, key: key3) }, isNoStore)
        XCTAssertFalse(FileManager.default.fileExists(atPath: duress))
    }
}

XCTMain([testCase(OutreachTests.allTests)])
