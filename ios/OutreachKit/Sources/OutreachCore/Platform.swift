// Plain-Swift app logic for the iOS shell (mirrors android/logic). No UIKit/SwiftUI here: it
// builds and is tested on Linux against the real library (tests/tests/shells.rs).
import Foundation
#if canImport(OutreachFFI)
import OutreachFFI
#endif

/// Wall clock, injectable for tests and the sync policy.
public struct Clock {
    public let nowMs: () -> Int64
    public init(nowMs: @escaping () -> Int64) { self.nowMs = nowMs }
    public static let system = Clock { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// Where store calls run: every `OutreachStore` call blocks, so holders hand the work to `io`
/// and deliver the result on `main` (the app: a serial background queue + the main queue;
/// tests: `.direct`).
public struct Dispatcher {
    let io: (@escaping () -> Void) -> Void
    let main: (@escaping () -> Void) -> Void
    public init(io: @escaping (@escaping () -> Void) -> Void, main: @escaping (@escaping () -> Void) -> Void) {
        self.io = io
        self.main = main
    }

    public func run<T>(_ work: @escaping () throws -> T, done: @escaping (Result<T, Error>) -> Void) {
        io {
            let result = Result { try work() }
            main { done(result) }
        }
    }

    /// Work and delivery on the calling thread: tests only.
    public static let direct = Dispatcher(io: { $0() }, main: { $0() })

    #if canImport(Dispatch)
    /// The app's dispatcher: one serial background queue for the store, results on main.
    public static func app() -> Dispatcher {
        let queue = DispatchQueue(label: "outreach.store", qos: .userInitiated)
        // Work items are handed over once and never shared, hence the unchecked box.
        return Dispatcher(io: { work in let box = UncheckedBox(work); queue.async { box.value() } },
                          main: { work in let box = UncheckedBox(work); DispatchQueue.main.async { box.value() } })
    }
    #endif
}

struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A tiny observable value; the SwiftUI layer adapts it to `ObservableObject`.
public final class Observable<T> {
    public private(set) var value: T
    private var listeners: [UUID: (T) -> Void] = [:]
    private let lock = NSLock()

    public init(_ initial: T) { value = initial }

    public func set(_ next: T) {
        lock.lock()
        value = next
        let ls = Array(listeners.values)
        lock.unlock()
        ls.forEach { $0(next) }
    }

    @discardableResult
    public func observe(_ listener: @escaping (T) -> Void) -> UUID {
        let id = UUID()
        lock.lock(); listeners[id] = listener; lock.unlock()
        listener(value)
        return id
    }

    public func stopObserving(_ id: UUID) {
        lock.lock(); listeners[id] = nil; lock.unlock()
    }
}
