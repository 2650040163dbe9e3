import Foundation
#if canImport(OutreachFFI)
import OutreachFFI
#endif

// State holders (mirrors android/logic). They map user input to API calls and errors to
// messages; every rule (validation, what a state allows, alert matching) is the core's.

public enum UnlockState: Equatable {
    case locked(message: String?)
    case unlocking
    case unlocked

    public static let lockedQuietly = UnlockState.locked(message: nil)
}

/// Unlock / lock / quick exit, and the device-loss paths (mirrors android/logic's
/// `UnlockController`; ARCHITECTURE.md, "Device loss"): a PIN unlock first asks the core
/// whether it is the duress PIN (before the key is read); if so the core has wiped the store,
/// the Keychain key is deleted and the screen shows what a phone with no store shows. A store
/// the core wiped itself (dead-man timer at open, remote wipe at sync: `OutreachError.Wiped`)
/// also loses its key.
public final class UnlockController {
    public let state = Observable<UnlockState>(.lockedQuietly)
    public private(set) var store: OutreachStore?
    private var lockListeners: [() -> Void] = []
    private let storeDir: String
    private let vault: KeyVault
    private let dispatcher: Dispatcher
    private let opener: (String, Data) throws -> OutreachStore
    private let duressCheck: (String, Data) throws -> Bool
    private let wiper: (String) throws -> Void

    public init(storeDir: String, vault: KeyVault, dispatcher: Dispatcher,
                opener: @escaping (String, Data) throws -> OutreachStore = { try OutreachStore.open(dir: $0, key: $1) },
                duressCheck: @escaping (String, Data) throws -> Bool = { try checkDuressPin(dir: $0, pin: $1) },
                wiper: @escaping (String) throws -> Void = { try wipeStore(dir: $0) }) {
        self.storeDir = storeDir
        self.vault = vault
        self.dispatcher = dispatcher
        self.opener = opener
        self.duressCheck = duressCheck
        self.wiper = wiper
    }

    public func onLock(_ listener: @escaping () -> Void) { lockListeners.append(listener) }

    public func unlock(_ credential: Credential) {
        guard case .locked = state.value else { return }
        state.set(.unlocking)
        let dir = storeDir, vault = vault, opener = opener, duressCheck = duressCheck
        dispatcher.run({ () throws -> OutreachStore in
            if case .pin(let digits) = credential {
                var pin = Data(digits.utf8)
                defer { pin.resetBytes(in: 0..<pin.count) }
                if try duressCheck(dir, pin) {
                    // The core has wiped the store; the key goes too. Then: "no store here".
                    vault.forget()
                    throw OutreachError.NoStore
                }
            }
            var key = try vault.unwrapKey(credential)
            defer { key.resetBytes(in: 0..<key.count) }
            do {
                return try opener(dir, key)
            } catch OutreachError.Wiped {
                // Dead-man timer: the core wiped the store at open; delete the key too.
                vault.forget()
                throw OutreachError.Wiped
            }
        }) { [weak self] result in
            // Locked (quick exit) while the key was being unwrapped: do not unlock.
            guard let self, self.state.value == .unlocking else { return }
            switch result {
            case .success(let s): self.store = s; self.state.set(.unlocked)
            case .failure(let e): self.state.set(.locked(message: Messages.of(e)))
            }
        }
    }

    /// Cancels work, tells the screens to drop data, and releases the store (the Swift object
    /// is freed when the last reference goes; holders never keep one).
    public func lock(message: String? = nil) {
        lockListeners.forEach { $0() }
        store = nil
        state.set(.locked(message: message))
    }

    /// Quick exit: screens drop what they showed, the store is released, the unlock screen
    /// shows nothing; the app then covers itself (iOS has no public API to close an app).
    public func quickExit() { lock(message: nil) }

    /// Sets the duress PIN (unlocked only); refused when it is the unlock PIN. `done` gets nil
    /// when set, or the message to show.
    public func setDuressPin(_ pin: String, done: @escaping (String?) -> Void) {
        guard let s = store else { return done("Unlock first.") }
        let vault = vault
        dispatcher.run({ () throws -> Void in
            if pin.isEmpty { throw KeyVaultError("Type a duress PIN.") }
            if vault.matchesPin(pin) { throw KeyVaultError("The duress PIN must differ from the unlock PIN.") }
            var bytes = Data(pin.utf8)
            defer { bytes.resetBytes(in: 0..<bytes.count) }
            try s.setDuressPin(pin: bytes)
        }) { r in
            if case .failure(let e) = r { done(Messages.of(e)) } else { done(nil) }
        }
    }

    /// Removes the duress PIN.
    public func clearDuressPin(done: @escaping (String?) -> Void) {
        guard let s = store else { return done("Unlock first.") }
        dispatcher.run({ try s.clearDuressPin() }) { r in
            if case .failure(let e) = r { done(Messages.of(e)) } else { done(nil) }
        }
    }

    /// The core reported `Wiped` (a remote wipe found by a sync): delete the key, release what
    /// is left of the store, and say so.
    public func onWiped(_ e: Error) {
        let vault = vault
        dispatcher.run({ vault.forget() }) { [weak self] _ in self?.lock(message: Messages.of(e)) }
    }

    /// Wipes this phone's store now (a "wipe this phone" action): store files and key.
    public func wipeNow() {
        let current = store
        lockListeners.forEach { $0() }
        store = nil
        state.set(.lockedQuietly)
        let vault = vault, wiper = wiper, dir = storeDir
        dispatcher.run({ () throws -> Void in
            if let s = current { try s.wipe() } else { try wiper(dir) }
            vault.forget()
        }) { [weak self] r in
            if case .failure(let e) = r { self?.state.set(.locked(message: Messages.of(e))) }
            else { self?.state.set(.locked(message: Messages.of(OutreachError.Wiped))) }
        }
    }
}

public struct ShiftState {
    public var current: ShiftRecord?
    public var teamZones: [String] = []
    public var message: String?
}

public final class ShiftController {
    public let state = Observable(ShiftState())
    private let unlock: UnlockController
    private let dispatcher: Dispatcher

    public init(unlock: UnlockController, dispatcher: Dispatcher) {
        self.unlock = unlock
        self.dispatcher = dispatcher
        unlock.onLock { [weak self] in self?.state.set(ShiftState()) }
    }

    public func refresh() { call { s, st in var st = st; st.current = try s.currentShift(); st.teamZones = try s.settings().zones; return st } }
    public func start(van: String, crew: [String], zones: [String]) {
        call { s, st in var st = st; st.current = try s.startShift(start: ShiftStartRecord(van: van, crew: crew, zones: zones, atMs: nil)); return st }
    }
    public func end() { call { s, st in var st = st; _ = try s.endShift(); st.current = nil; return st } }

    private func call(_ work: @escaping (OutreachStore, ShiftState) throws -> ShiftState) {
        guard let store = unlock.store else { return }
        let current = state.value
        dispatcher.run({ try work(store, current) }) { [weak self] r in
            guard let self else { return }
            switch r {
            case .success(var st): st.message = nil; self.state.set(st)
            case .failure(let e): var st = self.state.value; st.message = Messages.of(e); self.state.set(st)
            }
        }
    }
}

public struct QuickLogState {
    public var zones: [String] = []
    public var settings: [String] = []
    public var contactTypes: [String] = []
    public var services: [String] = []
    public var zone: String?
    public var setting: String?
    public var contactType: String?
    public var counts: [String: Int] = [:]
    public var person: String?
    public var personLabel: String?
    public var note = ""
    /// Core validation errors keyed by the core's field name (e.g. `encounter.zone`).
    public var fieldErrors: [String: String] = [:]
    public var message: String?
    public var night: [EncounterRecord] = []
    public var lastLogged: String?
}

/// Builds the encounter from taps. It does not validate: unpicked chips go as "" and the
/// core's `Invalid(field, reason)` lands in `fieldErrors`.
public final class QuickLogController {
    public let state = Observable(QuickLogState())
    private let unlock: UnlockController
    private let dispatcher: Dispatcher
    private let clock: Clock

    public init(unlock: UnlockController, dispatcher: Dispatcher, clock: Clock = .system) {
        self.unlock = unlock
        self.dispatcher = dispatcher
        self.clock = clock
        unlock.onLock { [weak self] in self?.state.set(QuickLogState()) }
    }

    public func load() {
        guard let store = unlock.store else { return }
        let current = state.value, now = clock.nowMs()
        dispatcher.run({ () throws -> QuickLogState in
            var st = current
            let shift = try store.currentShift()
            let zones = shift?.zones ?? []
            st.zones = zones.isEmpty ? try store.settings().zones : zones
            st.settings = try controlledValues(list: .setting)
            st.contactTypes = try controlledValues(list: .contactType)
            st.services = try controlledValues(list: .service)
            st.night = try store.listNight(night: shift?.night ?? store.nightOf(atMs: now))
            return st
        }) { [weak self] r in self?.apply(r) }
    }

    public func pickZone(_ z: String) { edit { $0.zone = z } }
    public func pickSetting(_ s: String) { edit { $0.setting = s } }
    public func pickContactType(_ t: String) { edit { $0.contactType = t } }
    public func increment(_ service: String) { edit { $0.counts[service, default: 0] += 1 } }
    public func decrement(_ service: String) {
        edit { st in
            let n = (st.counts[service] ?? 0) - 1
            st.counts[service] = n <= 0 ? nil : n
        }
    }
    public func pickPerson(id: String?, label: String?) { edit { $0.person = id; $0.personLabel = label } }
    public func setNote(_ note: String) { edit { $0.note = note } }

    private func edit(_ change: (inout QuickLogState) -> Void) {
        var st = state.value
        change(&st)
        st.message = nil
        state.set(st)
    }

    public func draft() -> EncounterInputRecord {
        let st = state.value
        return EncounterInputRecord(
            atMs: nil, zone: st.zone ?? "", setting: st.setting ?? "", contactType: st.contactType ?? "",
            person: st.person, workers: [], language: nil, interpreter: "none",
            consent: ConsentFlagsRecord(record: true, followUpContact: false, shareWithPartners: false),
            services: st.counts.sorted { $0.key < $1.key }.map { ServiceCountRecord(service: $0.key, count: UInt32($0.value)) },
            referrals: [], followUp: nil,
            note: st.note.trimmingCharacters(in: .whitespaces).isEmpty ? nil : st.note)
    }

    public func submit() {
        guard let store = unlock.store else { return }
        let input = draft(), now = clock.nowMs()
        var cleared = state.value
        cleared.fieldErrors = [:]
        cleared.message = nil
        state.set(cleared)
        dispatcher.run({ () throws -> (EncounterRecord, [EncounterRecord]) in
            let logged = try store.logEncounter(input: input)
            let night = try store.currentShift()?.night ?? store.nightOf(atMs: now)
            return (logged, try store.listNight(night: night))
        }) { [weak self] r in
            guard let self else { return }
            var st = self.state.value
            switch r {
            case .success(let (logged, night)):
                // Keep zone and setting: the next contact is usually on the same beat.
                st.contactType = nil; st.counts = [:]; st.person = nil; st.personLabel = nil; st.note = ""
                st.night = night; st.lastLogged = logged.id
            case .failure(let e):
                if case OutreachError.Invalid(let field, _) = e { st.fieldErrors = [field: Messages.of(e)] }
                st.message = Messages.of(e)
            }
            self.state.set(st)
        }
    }

    private func apply(_ r: Result<QuickLogState, Error>) {
        switch r {
        case .success(let st): state.set(st)
        case .failure(let e): var st = state.value; st.message = Messages.of(e); state.set(st)
        }
    }
}

public struct PersonSearchState {
    public var query = ""
    public var matches: [PersonMatchRecord] = []
    public var message: String?
}

public final class PersonSearchController {
    public let state = Observable(PersonSearchState())
    private let unlock: UnlockController
    private let dispatcher: Dispatcher

    public init(unlock: UnlockController, dispatcher: Dispatcher) {
        self.unlock = unlock
        self.dispatcher = dispatcher
        unlock.onLock { [weak self] in self?.state.set(PersonSearchState()) }
    }

    public func search(_ query: String, limit: UInt32 = 20) {
        guard let store = unlock.store else { return }
        if query.trimmingCharacters(in: .whitespaces).isEmpty { state.set(PersonSearchState()); return }
        state.set(PersonSearchState(query: query, matches: state.value.matches, message: nil))
        dispatcher.run({ try store.findPeople(query: query, limit: limit) }) { [weak self] r in
            guard let self, self.state.value.query == query else { return }
            switch r {
            case .success(let m): self.state.set(PersonSearchState(query: query, matches: m, message: m.isEmpty ? "No one found." : nil))
            case .failure(let e): self.state.set(PersonSearchState(query: query, matches: [], message: Messages.of(e)))
            }
        }
    }
}

public enum AlertCheckState {
    case idle, checking
    case match([AlertMatchRecord])
    case noMatch
    case error(String)
}

public final class AlertCheckController {
    public let state = Observable(AlertCheckState.idle)
    private let unlock: UnlockController
    private let dispatcher: Dispatcher

    public init(unlock: UnlockController, dispatcher: Dispatcher) {
        self.unlock = unlock
        self.dispatcher = dispatcher
        unlock.onLock { [weak self] in self?.state.set(.idle) }
    }

    public func check(kind: IdentifierKind, value: String) {
        guard let store = unlock.store else { return }
        state.set(.checking)
        dispatcher.run({ try store.checkAlert(kind: kind, value: value) }) { [weak self] r in
            switch r {
            case .success(let m): self?.state.set(m.isEmpty ? .noMatch : .match(m))
            case .failure(let e): self?.state.set(.error(Messages.of(e)))
            }
        }
    }
}

public struct IncidentForm {
    public var whenMs: Int64?
    public var place = ""
    public var kind = ""
    public var injuries = ""
    public var policeReported = false
    public var crimeReference = ""
    public var sharePolice = ""
    public var shareNational = ""
    public var person: String?
    public var encounter: String?
    public init() {}
}

public struct IncidentState {
    public var form = IncidentForm()
    public var saved: String?
    public var message: String?
    public var fieldErrors: [String: String] = [:]
}

public final class IncidentController {
    public let state = Observable(IncidentState())
    private let unlock: UnlockController
    private let dispatcher: Dispatcher
    private let clock: Clock

    public init(unlock: UnlockController, dispatcher: Dispatcher, clock: Clock = .system) {
        self.unlock = unlock
        self.dispatcher = dispatcher
        self.clock = clock
        unlock.onLock { [weak self] in self?.state.set(IncidentState()) }
    }

    public func edit(_ change: (inout IncidentForm) -> Void) {
        var st = state.value
        change(&st.form)
        state.set(st)
    }

    public func submit() {
        guard let store = unlock.store else { return }
        let f = state.value.form
        let input = IncidentInputRecord(
            whenMs: f.whenMs ?? clock.nowMs(), place: f.place, kind: f.kind,
            injuries: f.injuries.isEmpty ? nil : f.injuries, perpetrator: nil, policeReported: f.policeReported,
            crimeReference: f.crimeReference.isEmpty ? nil : f.crimeReference,
            sharePolice: f.sharePolice, shareNational: f.shareNational, support: nil,
            person: f.person, encounter: f.encounter)
        dispatcher.run({ try store.recordIncident(input: input) }) { [weak self] r in
            guard let self else { return }
            switch r {
            case .success(let rec): self.state.set(IncidentState(saved: rec.id))
            case .failure(let e):
                var st = self.state.value
                st.message = Messages.of(e)
                if case OutreachError.Invalid(let field, _) = e { st.fieldErrors = [field: Messages.of(e)] }
                self.state.set(st)
            }
        }
    }
}
