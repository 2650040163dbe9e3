// Checks of OutreachCore against the REAL outreach-ffi library. On Linux, tests/tests/shells.rs
// compiles the generated bindings + Sources/OutreachCore + this file with swiftc (no XCTest
// needed) and runs it; exit status 1 and "with N failures" on any failed check.
// On a Mac: `swift run OutreachCoreChecks` in ios/OutreachKit. All data is obviously fake.
import Foundation
#if canImport(OutreachFFI)
import OutreachFFI
#endif
#if canImport(OutreachCore)
import OutreachCore
#endif

var checks = 0
var failures = 0

func check(_ ok: @autoclosure () -> Bool, _ what: String, line: Int = #line) {
    checks += 1
    if !ok() {
        failures += 1
        print("FAIL line \(line): \(what)")
    }
}

let zone = "TEST-north-beat"
let root = ProcessInfo.processInfo.environment["OUTREACH_TEST_WORK_DIR"] ?? NSTemporaryDirectory()
var counter = 0

struct WorkBox: @unchecked Sendable { let f: () -> Void }

func randomKey() -> Data { Data((0..<32).map { _ in UInt8.random(in: 0...255) }) }

/// A fresh encrypted store with a fake alert; returns its dir and key.
func createStore() throws -> (String, Data) {
    counter += 1
    let dir = "\(root)/core-checks-\(ProcessInfo.processInfo.processIdentifier)-\(counter)"
    let key = randomKey()
    let s = try OutreachStore.create(dir: dir, key: key,
        team: TeamSetupRecord(team: "TEST Team", zones: [zone, "TEST-canal"], defaultCountry: "GB", utcOffsetMinutes: 0))
    try s.setUser(handle: "TEST-staff")
    _ = try s.addAlert(input: AlertInputRecord(description: "TEST alert: fictional driver", plates: ["TE57 ABC"],
        phones: ["+44 7700 900123"], emails: [], usernames: [], area: zone, risk: "high", from: nil, review: nil))
    return (dir, key)
}

func unlocked() throws -> UnlockController {
    let (dir, key) = try createStore()
    let u = UnlockController(storeDir: dir, vault: InMemoryKeyVault(key: key), dispatcher: .direct)
    u.unlock(.pin("1234"))
    guard u.state.value == .unlocked, let s = u.store else { throw KeyVaultError("unlock failed: \(u.state.value)") }
    try s.setUser(handle: "TEST-staff")
    return u
}

func run(_ name: String, _ body: () throws -> Void) {
    let before = failures
    do { try body() } catch {
        failures += 1
        print("FAIL \(name): threw \(error)")
    }
    print("\(failures == before ? "ok  " : "FAIL") \(name)")
}

run("wrong key shows the typed error message") {
    let (dir, key) = try createStore()
    let wrong = Data(key.map { $0 ^ 0x5A })
    let u = UnlockController(storeDir: dir, vault: InMemoryKeyVault(key: wrong), dispatcher: .direct)
    u.unlock(.pin("0000"))
    check(u.state.value == .locked(message: "That PIN or key does not open this phone's store."), "state \(u.state.value)")
    check(u.state.value == .locked(message: Messages.of(OutreachError.WrongKey)), "message from the typed error")
    check(u.store == nil, "no store after a wrong key")
}

run("no key in the vault says so") {
    let (dir, _) = try createStore()
    let u = UnlockController(storeDir: dir, vault: InMemoryKeyVault(key: nil), dispatcher: .direct)
    u.unlock(.biometric)
    check(u.state.value == .locked(message: "No key on this phone."), "state \(u.state.value)")
}

run("quick log produces an encounter in the night list") {
    let u = try unlocked()
    let shift = ShiftController(unlock: u, dispatcher: .direct)
    shift.start(van: "TEST Van 1", crew: ["TEST-a"], zones: [zone])
    check(shift.state.value.current != nil, "shift started: \(shift.state.value.message ?? "")")
    let log = QuickLogController(unlock: u, dispatcher: .direct)
    log.load()
    check(log.state.value.zones == [zone], "zones of the shift")
    check(log.state.value.settings.contains("street"), "settings from the core")
    log.pickZone(zone); log.pickSetting("street"); log.pickContactType(log.state.value.contactTypes.first ?? "")
    log.increment("condoms"); log.increment("condoms"); log.increment("condoms"); log.decrement("condoms")
    log.setNote("TEST note")
    log.submit()
    let st = log.state.value
    check(st.message == nil, "no error: \(st.message ?? "")")
    check(st.lastLogged != nil && st.night.map(\.id) == [st.lastLogged!], "logged encounter is tonight's only one")
    check(st.night.first?.input.services.map { "\($0.service)=\($0.count)" } == ["condoms=2"], "services counted")
    check(st.zone == zone && st.counts.isEmpty, "form ready for the next contact")
}

run("quick log validation comes from the core") {
    let u = try unlocked()
    let log = QuickLogController(unlock: u, dispatcher: .direct)
    log.pickZone(zone); log.pickSetting("street"); log.pickContactType("brief")
    log.submit()
    check(log.state.value.message != nil && log.state.value.lastLogged == nil, "no shift: core state error shown")
    ShiftController(unlock: u, dispatcher: .direct).start(van: "TEST Van 1", crew: ["TEST-a"], zones: [zone])
    log.pickSetting("TEST-rooftop")
    log.submit()
    let errs = log.state.value.fieldErrors
    check(Array(errs.keys) == ["encounter.setting"], "field named by the core: \(errs)")
    check(errs["encounter.setting"]?.hasPrefix("Setting: ") == true, "labelled message")
}

run("alert check match and no match") {
    let u = try unlocked()
    let a = AlertCheckController(unlock: u, dispatcher: .direct)
    a.check(kind: .phone, value: "07700 900123")
    if case .match(let m) = a.state.value { check(m.map(\.risk) == ["high"], "risk") } else { check(false, "phone matches: \(a.state.value)") }
    a.check(kind: .plate, value: "te57abc")
    if case .match = a.state.value {} else { check(false, "plate matches") }
    a.check(kind: .phone, value: "07700 900999")
    if case .noMatch = a.state.value {} else { check(false, "other number: no match: \(a.state.value)") }
}

run("sync policy backoff decisions") {
    let p = SyncPolicy(avoidMetered: true, baseBackoffMs: 30_000, maxBackoffMs: 600_000)
    let ok = SyncConditions(connected: true, metered: false, locked: false, registered: true, consecutiveFailures: 0, lastAttemptMs: nil)
    check(p.decide(.connectivityRegained, ok, nowMs: 1_000) == .run, "run when fine")
    var c = ok; c.connected = false
    check(p.decide(.periodic, c, nowMs: 1_000) == .skip("offline"), "offline")
    c = ok; c.metered = true
    check(p.decide(.periodic, c, nowMs: 1_000) == .skip("metered network"), "metered")
    check(SyncPolicy().decide(.periodic, c, nowMs: 1_000) == .run, "metered allowed by default")
    c = ok; c.locked = true
    check(p.decide(.userRequested, c, nowMs: 1_000) == .skip("locked"), "locked")
    check([0, 1, 2, 3, 6, 60].map(p.backoffMs) == [0, 30_000, 60_000, 120_000, 600_000, 600_000], "backoff curve")
    c = ok; c.consecutiveFailures = 3; c.lastAttemptMs = 10_000
    check(p.decide(.connectivityRegained, c, nowMs: 20_000) == .wait(untilMs: 130_000), "wait during backoff")
    check(p.decide(.connectivityRegained, c, nowMs: 130_000) == .run, "run after backoff")
    check(p.decide(.userRequested, c, nowMs: 20_000) == .run, "a tap skips backoff")
    check(p.nextBackgroundRunMs(c, nowMs: 20_000) == 20_000 + 15 * 60_000, "BGTask not before 15 min")
}

run("sync on an unregistered store counts a failure with the core's message") {
    let u = try unlocked()
    let sync = SyncController(unlock: u, dispatcher: .direct, policy: SyncPolicy())
    check(sync.maybeSync(.userRequested, connected: true, metered: false) == .run, "runs")
    let st = sync.state.value
    check(st.consecutiveFailures == 1 && st.message != nil && !st.running, "failure counted: \(st)")
    check(st.status?.registered == false, "status refreshed")
    if case .skip = sync.maybeSync(.periodic, connected: true, metered: false) {} else { check(false, "policy stops trying") }
}

run("quick exit locks and drops the store") {
    let u = try unlocked()
    let log = QuickLogController(unlock: u, dispatcher: .direct)
    ShiftController(unlock: u, dispatcher: .direct).start(van: "TEST Van 1", crew: ["TEST-a"], zones: [zone])
    log.load(); log.pickZone(zone); log.pickSetting("street"); log.pickContactType("brief"); log.submit()
    check(log.state.value.night.count == 1, "one logged")
    weak var weakStore = u.store
    u.quickExit()
    check(u.state.value == .lockedQuietly, "locked quietly")
    check(u.store == nil && weakStore == nil, "store released (no holder keeps a reference)")
    check(log.state.value.night.isEmpty, "screen data dropped")
    u.unlock(.biometric)
    check(u.state.value == .unlocked, "unlocks again")
    log.load()
    check(log.state.value.night.count == 1, "data still there, encrypted at rest")
    u.lock()
}

run("person lookup feeds the quick log") {
    let u = try unlocked()
    let added = try u.store!.addPerson(input: PersonInputRecord(
        codeName: "TEST Sparrow", nameQuality: try controlledValues(list: .nameQuality)[0],
        ageBand: try controlledValues(list: .ageBand)[0], gender: try controlledValues(list: .gender)[0],
        settings: [], firstLanguage: nil, living: try controlledValues(list: .living)[0],
        injecting: false, gpRegistered: nil, note: nil))
    let people = PersonSearchController(unlock: u, dispatcher: .direct)
    people.search("sparrow")
    let match = people.state.value.matches.first
    check(match?.id == added.id, "found by street name: \(people.state.value.matches.map(\.codeName))")
    ShiftController(unlock: u, dispatcher: .direct).start(van: "TEST Van 1", crew: ["TEST-a"], zones: [zone])
    let log = QuickLogController(unlock: u, dispatcher: .direct)
    log.pickZone(zone); log.pickSetting("street"); log.pickContactType("brief")
    log.pickPerson(id: match?.id, label: match?.codeName)
    log.submit()
    check(log.state.value.night.map(\.input.person) == [added.id], "encounter carries the person")
}

run("store calls run off the calling thread") {
    let (dir, key) = try createStore()
    let io = DispatchQueue(label: "TEST-io")
    var delivered: [() -> Void] = []
    var openedOnCaller: Bool?
    let caller = Thread.current
    let d = Dispatcher(io: { w in let b = WorkBox(f: w); io.async { b.f() } }, main: { w in delivered.append(w) })
    let u = UnlockController(storeDir: dir, vault: InMemoryKeyVault(key: key), dispatcher: d) { dir, key in
        openedOnCaller = Thread.current == caller
        return try OutreachStore.open(dir: dir, key: key)
    }
    u.unlock(.biometric)
    check(u.state.value == .unlocking, "returns at once")
    io.sync {} // wait for the io work
    delivered.forEach { $0() }
    check(openedOnCaller == false, "opened on the io queue")
    check(u.state.value == .unlocked, "delivered: \(u.state.value)")
    u.lock()
}

run("quick exit during unlock wins") {
    let (dir, key) = try createStore()
    var pending: [() -> Void] = []
    let u = UnlockController(storeDir: dir, vault: InMemoryKeyVault(key: key),
                             dispatcher: Dispatcher(io: { pending.append($0) }, main: { $0() }))
    u.unlock(.biometric)
    u.quickExit()
    pending.forEach { $0() }
    check(u.state.value == .lockedQuietly && u.store == nil, "stays locked: \(u.state.value)")
}

func filesUnder(_ dir: String) -> [String] {
    guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
    return e.compactMap { $0 as? String }.filter { p in
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: "\(dir)/\(p)", isDirectory: &isDir) && !isDir.boolValue
    }
}

run("duress PIN wipes the store and the key and looks like no store") {
    let (dir, key) = try createStore()
    let vault = InMemoryKeyVault(key: key, pin: "1234")
    let u = UnlockController(storeDir: dir, vault: vault, dispatcher: .direct)
    u.unlock(.pin("1234"))
    check(u.state.value == .unlocked, "unlocked: \(u.state.value)")
    var result: String? = "not called"
    u.setDuressPin("1234") { result = $0 }
    check(result == "The duress PIN must differ from the unlock PIN.", "same as the PIN refused: \(String(describing: result))")
    u.setDuressPin("999999") { result = $0 }
    check(result == nil, "set: \(String(describing: result))")
    u.lock()
    check(FileManager.default.fileExists(atPath: "\(dir)/outreach.db"), "not used yet: the store is there")
    u.unlock(.pin("999999"))
    check(u.state.value == .locked(message: Messages.of(OutreachError.NoStore)), "looks like no store: \(u.state.value)")
    check(!vault.hasKey(), "the key is deleted")
    check(!FileManager.default.fileExists(atPath: dir), "the store directory is gone")
    check(filesUnder(dir).isEmpty, "no file left")
    do {
        _ = try OutreachStore.open(dir: dir, key: key)
        check(false, "opened after the duress wipe")
    } catch OutreachError.NoStore {
        check(true, "NoStore after the duress wipe")
    }
}

run("a wipe reported by the core deletes the key") {
    let (dir, key) = try createStore()
    let vault = InMemoryKeyVault(key: key)
    let u = UnlockController(storeDir: dir, vault: vault, dispatcher: .direct, opener: { _, _ in throw OutreachError.Wiped })
    u.unlock(.biometric)
    check(u.state.value == .locked(message: Messages.of(OutreachError.Wiped)), "dead-man: \(u.state.value)")
    check(!vault.hasKey(), "dead-man: key deleted")
    let vault2 = InMemoryKeyVault(key: key)
    let u2 = UnlockController(storeDir: dir, vault: vault2, dispatcher: .direct)
    u2.unlock(.biometric)
    check(u2.store != nil, "unlocked")
    u2.onWiped(OutreachError.Wiped)
    check(u2.state.value == .locked(message: Messages.of(OutreachError.Wiped)) && u2.store == nil, "remote wipe: \(u2.state.value)")
    check(!vault2.hasKey(), "remote wipe: key deleted")
}

run("wipe now destroys store and key") {
    let (dir, key) = try createStore()
    let vault = InMemoryKeyVault(key: key)
    let u = UnlockController(storeDir: dir, vault: vault, dispatcher: .direct)
    u.unlock(.biometric)
    weak var weakStore = u.store
    u.wipeNow()
    check(u.store == nil && weakStore == nil, "store released")
    check(u.state.value == .locked(message: Messages.of(OutreachError.Wiped)), "state \(u.state.value)")
    check(!vault.hasKey(), "key deleted")
    check(!FileManager.default.fileExists(atPath: dir), "the store directory is gone")
    do {
        _ = try OutreachStore.open(dir: dir, key: key)
        check(false, "opened after wipe")
    } catch OutreachError.NoStore {
        check(true, "NoStore after wipe")
    }
}

print("Executed \(checks) checks, with \(failures) failures")
exit(failures == 0 ? 0 : 1)
