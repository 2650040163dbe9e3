// Swift (Linux, XCTest) tests of the TEMPORARY plumbing API in bindings/src/plumbing.rs.
// Driven by bindings/tests/bindings.rs: compiled with swiftc inside the Debian trixie chroot
// (scripts/swift-chroot.sh) together with the generated outreach_ffi.swift, linked against the
// host-built liboutreach_ffi.so. Five behaviours, as in the Kotlin and Python suites: a normal
// call, a typed error, a Rust panic arriving as an error, progress callbacks, and cancellation
// (from inside a callback and from another thread).
import Foundation
import XCTest

/// Records progress reports; optionally cancels `token` when step `cancelAt` is reported.
final class Recorder: ProgressListener, @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [[UInt32]] = []
    private let token: CancelToken?
    private let cancelAt: UInt32?
    let firstReport = DispatchSemaphore(value: 0)

    init(token: CancelToken? = nil, cancelAt: UInt32? = nil) {
        self.token = token
        self.cancelAt = cancelAt
    }

    func onProgress(completed: UInt32, total: UInt32) {
        lock.lock()
        seen.append([completed, total])
        let first = seen.count == 1
        lock.unlock()
        if first { firstReport.signal() }
        if let at = cancelAt, completed == at { token?.cancel() }
    }

    var events: [[UInt32]] {
        lock.lock()
        defer { lock.unlock() }
        return seen
    }
}

final class PlumbingTests: XCTestCase {
    static let allTests = [
        ("testNormalCallsAndObjectMethods", testNormalCallsAndObjectMethods),
        ("testTypedErrorIsItsSwiftErrorCase", testTypedErrorIsItsSwiftErrorCase),
        ("testRustPanicArrivesAsRustPanicError", testRustPanicArrivesAsRustPanicError),
        ("testProgressCallbacksAreObserved", testProgressCallbacksAreObserved),
        ("testCancelFromInsideTheCallback", testCancelFromInsideTheCallback),
        ("testCancelFromAnotherThread", testCancelFromAnotherThread),
    ]

    let expectedVersion = ProcessInfo.processInfo.environment["OUTREACH_FFI_EXPECTED_VERSION"]

    func testNormalCallsAndObjectMethods() throws {
        XCTAssertNotNil(expectedVersion, "OUTREACH_FFI_EXPECTED_VERSION unset")
        XCTAssertEqual(ffiVersion(), expectedVersion)
        XCTAssertEqual(try checkedDivide(dividend: 7, divisor: 2), 3)
        let tally = Tally(label: "condoms")
        XCTAssertEqual(tally.label(), "condoms")
        XCTAssertEqual(try tally.add(amount: 3), 3)
        XCTAssertEqual(try tally.add(amount: 4), 7)
        XCTAssertEqual(tally.total(), 7)
    }

    func testTypedErrorIsItsSwiftErrorCase() {
        XCTAssertThrowsError(try checkedDivide(dividend: 1, divisor: 0)) { error in
            guard case PlumbingError.InvalidInput(let reason) = error else {
                return XCTFail("expected PlumbingError.InvalidInput, got \(error)")
            }
            XCTAssertTrue(reason.contains("divisor"), "reason was: \(reason)")
        }
        let tally = Tally(label: "x")
        XCTAssertThrowsError(try tally.add(amount: 0)) { error in
            guard case PlumbingError.InvalidInput = error else {
                return XCTFail("expected PlumbingError.InvalidInput, got \(error)")
            }
        }
        XCTAssertEqual(tally.total(), 0)
    }

    func testRustPanicArrivesAsRustPanicError() {
        // The generated `UniffiInternalError` is fileprivate to the bindings file, so callers
        // (and this test) see it only as "an Error that is not PlumbingError", carrying the
        // panic message as its localized description.
        XCTAssertThrowsError(try provokePanic(message: "from swift")) { error in
            XCTAssertFalse(error is PlumbingError, "a panic must not look like a typed error: \(error)")
            XCTAssertTrue(String(describing: error).contains("rustPanic"), "got \(error)")
            let message = (error as? LocalizedError)?.errorDescription ?? ""
            XCTAssertTrue(message.contains("provoked panic: from swift"), "message was: \(message)")
        }
        // The process survived and the library still works after the panic.
        XCTAssertEqual(ffiVersion(), expectedVersion)
    }

    func testProgressCallbacksAreObserved() throws {
        let recorder = Recorder()
        XCTAssertEqual(try runJob(steps: 5, stepMillis: 0, listener: recorder, cancel: CancelToken()), 5)
        XCTAssertEqual(recorder.events, (1...5).map { [UInt32($0), 5] })
    }

    func testCancelFromInsideTheCallback() {
        let token = CancelToken()
        let recorder = Recorder(token: token, cancelAt: 3)
        XCTAssertThrowsError(try runJob(steps: 10, stepMillis: 0, listener: recorder, cancel: token)) { error in
            guard case PlumbingError.Cancelled(let completed) = error else {
                return XCTFail("expected PlumbingError.Cancelled, got \(error)")
            }
            XCTAssertEqual(completed, 3)
        }
        XCTAssertEqual(recorder.events, (1...3).map { [UInt32($0), 10] })
        XCTAssertTrue(token.isCancelled())
    }

    func testCancelFromAnotherThread() {
        let token = CancelToken()
        let recorder = Recorder()
        let steps: UInt32 = 100_000
        final class Box: @unchecked Sendable { var outcome: Result<UInt32, Error>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.outcome = Result { try runJob(steps: steps, stepMillis: 1, listener: recorder, cancel: token) }
            done.signal()
        }
        XCTAssertEqual(recorder.firstReport.wait(timeout: .now() + 10), .success, "no progress within 10 s")
        let started = Date()
        token.cancel()
        guard done.wait(timeout: .now() + 10) == .success else {
            return XCTFail("runJob did not return within 10 s of cancel")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        guard case .failure(PlumbingError.Cancelled(let completed))? = box.outcome else {
            return XCTFail("expected PlumbingError.Cancelled, got \(String(describing: box.outcome))")
        }
        XCTAssertTrue(completed >= 1 && completed < steps, "completed=\(completed)")
        XCTAssertEqual(recorder.events.count, Int(completed))
    }
}

XCTMain([testCase(PlumbingTests.allTests)])
