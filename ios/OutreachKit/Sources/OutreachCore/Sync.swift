import Foundation
#if canImport(OutreachFFI)
import OutreachFFI
#endif

public enum SyncTrigger { case connectivityRegained, periodic, userRequested, afterLog }

public struct SyncConditions {
    public var connected: Bool
    public var metered: Bool
    public var locked: Bool
    public var registered: Bool
    public var consecutiveFailures: Int
    public var lastAttemptMs: Int64?
    public var revoked = false
}

public enum SyncDecision: Equatable {
    case run
    case wait(untilMs: Int64)
    case skip(String)
}

/// When to sync (plain logic; BGTaskScheduler/WorkManager only execute it). Exponential backoff
/// after failures, capped; a user tap skips backoff but not the hard conditions.
public struct SyncPolicy {
    public var avoidMetered = false
    public var baseBackoffMs: Int64 = 30_000
    public var maxBackoffMs: Int64 = 30 * 60_000
    public init(avoidMetered: Bool = false, baseBackoffMs: Int64 = 30_000, maxBackoffMs: Int64 = 30 * 60_000) {
        self.avoidMetered = avoidMetered
        self.baseBackoffMs = baseBackoffMs
        self.maxBackoffMs = maxBackoffMs
    }

    public func backoffMs(_ failures: Int) -> Int64 {
        guard failures > 0 else { return 0 }
        return min(baseBackoffMs << Int64(min(failures - 1, 20)), maxBackoffMs)
    }

    public func decide(_ trigger: SyncTrigger, _ c: SyncConditions, nowMs: Int64) -> SyncDecision {
        if c.revoked { return .skip("revoked") }
        if !c.registered { return .skip("not registered with a hub") }
        if c.locked { return .skip("locked") }
        if !c.connected { return .skip("offline") }
        if c.metered && avoidMetered { return .skip("metered network") }
        if trigger == .userRequested { return .run }
        if c.consecutiveFailures > 0, let last = c.lastAttemptMs, nowMs < last + backoffMs(c.consecutiveFailures) {
            return .wait(untilMs: last + backoffMs(c.consecutiveFailures))
        }
        return .run
    }

    /// Earliest begin date for the next `BGProcessingTaskRequest` (which also sets
    /// `requiresNetworkConnectivity = true`): after the backoff, never sooner than 15 minutes.
    public func nextBackgroundRunMs(_ c: SyncConditions, nowMs: Int64) -> Int64 {
        let minimum = nowMs + 15 * 60_000
        guard let last = c.lastAttemptMs else { return minimum }
        return max(minimum, last + backoffMs(c.consecutiveFailures))
    }
}

public struct SyncState {
    public var running = false
    public var progress: SyncProgressRecord?
    public var status: SyncStatusRecord?
    public var consecutiveFailures = 0
    public var lastAttemptMs: Int64?
    public var revoked = false
    public var message: String?
    public var lastDecision: SyncDecision?
}

/// Only posts state; never calls back into the store (that would deadlock).
final class ProgressForwarder: SyncProgressListener, @unchecked Sendable {
    let post: (SyncProgressRecord) -> Void
    init(_ post: @escaping (SyncProgressRecord) -> Void) { self.post = post }
    func onProgress(progress: SyncProgressRecord) { post(progress) }
}

public final class SyncController {
    public let state = Observable(SyncState())
    private let unlock: UnlockController
    private let dispatcher: Dispatcher
    private let policy: SyncPolicy
    private let clock: Clock
    private var running: CancelHandle?
    private let lock = NSLock()

    public init(unlock: UnlockController, dispatcher: Dispatcher, policy: SyncPolicy, clock: Clock = .system) {
        self.unlock = unlock
        self.dispatcher = dispatcher
        self.policy = policy
        self.clock = clock
        unlock.onLock { [weak self] in self?.cancel() }
    }

    public func conditions(connected: Bool, metered: Bool) -> SyncConditions {
        let st = state.value
        return SyncConditions(connected: connected, metered: metered, locked: unlock.store == nil,
                              registered: st.status?.registered ?? (unlock.store != nil),
                              consecutiveFailures: st.consecutiveFailures, lastAttemptMs: st.lastAttemptMs, revoked: st.revoked)
    }

    public func refreshStatus() {
        guard let store = unlock.store else { return }
        dispatcher.run({ try store.syncStatus() }) { [weak self] r in
            guard let self, case .success(let s) = r else { return }
            var st = self.state.value; st.status = s; self.state.set(st)
        }
    }

    @discardableResult
    public func maybeSync(_ trigger: SyncTrigger, connected: Bool, metered: Bool) -> SyncDecision {
        let decision = policy.decide(trigger, conditions(connected: connected, metered: metered), nowMs: clock.nowMs())
        var st = state.value
        st.lastDecision = decision
        state.set(st)
        guard decision == .run, let store = unlock.store else { return decision }
        let handle = CancelHandle()
        lock.lock()
        if running != nil { lock.unlock(); return .skip("already running") }
        running = handle
        lock.unlock()
        st.running = true; st.progress = nil; st.message = nil; st.lastAttemptMs = clock.nowMs()
        state.set(st)
        let forwarder = ProgressForwarder { [weak self] p in
            guard let self else { return }
            var s = self.state.value; s.progress = p; self.state.set(s)
        }
        dispatcher.run({ () throws -> SyncSummary in
            defer { self.lock.lock(); self.running = nil; self.lock.unlock() }
            return try store.sync(progress: forwarder, cancel: handle)
        }) { [weak self] r in
            guard let self else { return }
            var s = self.state.value
            s.running = false
            switch r {
            case .success: s.consecutiveFailures = 0; s.message = "Synced."
            case .failure(let e):
                if case OutreachError.Cancelled = e {} else { s.consecutiveFailures += 1 }
                if case OutreachError.Revoked = e { s.revoked = true }
                // A lead's remote wipe was obeyed: the store is gone; delete the key and lock.
                if case OutreachError.Wiped = e { self.unlock.onWiped(e) }
                s.message = Messages.of(e)
            }
            self.state.set(s)
            self.refreshStatus()
        }
        return decision
    }

    public func cancel() {
        lock.lock(); let h = running; lock.unlock()
        h?.cancel()
    }
}
