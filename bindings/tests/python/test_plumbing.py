"""Python (ctypes) tests of the TEMPORARY plumbing API in bindings/src/plumbing.rs.

Driven by bindings/tests/bindings.rs, which generates `outreach_ffi.py` next to a copy of
liboutreach_ffi.so and puts that directory on PYTHONPATH. Five behaviours, as in the Kotlin and
Swift suites: a normal call, a typed error, a Rust panic arriving as an exception, progress
callbacks, and cancellation (from inside a callback and from another thread).
"""

import os
import threading
import time

import pytest

import outreach_ffi as ffi


EXPECTED_VERSION = os.environ.get("OUTREACH_FFI_EXPECTED_VERSION")


class Recorder(ffi.ProgressListener):
    """Records progress reports; optionally cancels `token` when step `cancel_at` is reported."""

    def __init__(self, token=None, cancel_at=None):
        self.events = []
        self.first_report = threading.Event()
        self._lock = threading.Lock()
        self._token = token
        self._cancel_at = cancel_at

    def on_progress(self, completed, total):
        with self._lock:
            self.events.append((completed, total))
        self.first_report.set()
        if self._cancel_at is not None and completed == self._cancel_at:
            self._token.cancel()


def test_expected_version_is_set():
    assert EXPECTED_VERSION, "OUTREACH_FFI_EXPECTED_VERSION unset"


def test_normal_calls_and_object_methods():
    assert ffi.ffi_version() == EXPECTED_VERSION
    assert ffi.checked_divide(7, 2) == 3
    tally = ffi.Tally("condoms")
    assert tally.label() == "condoms"
    assert tally.add(3) == 3
    assert tally.add(4) == 7
    assert tally.total() == 7


def test_typed_error_is_its_python_exception_class():
    with pytest.raises(ffi.PlumbingError.InvalidInput) as info:
        ffi.checked_divide(1, 0)
    assert "divisor" in info.value.reason
    assert isinstance(info.value, ffi.PlumbingError)
    tally = ffi.Tally("x")
    with pytest.raises(ffi.PlumbingError.InvalidInput):
        tally.add(0)
    assert tally.total() == 0


def test_rust_panic_arrives_as_internal_error():
    with pytest.raises(ffi.InternalError) as info:
        ffi.provoke_panic("from python")
    assert "provoked panic: from python" in str(info.value)
    # The process survived and the library still works after the panic.
    assert ffi.ffi_version() == EXPECTED_VERSION


def test_progress_callbacks_are_observed():
    recorder = Recorder()
    assert ffi.run_job(5, 0, recorder, ffi.CancelToken()) == 5
    assert recorder.events == [(i, 5) for i in range(1, 6)]


def test_cancel_from_inside_the_callback():
    token = ffi.CancelToken()
    recorder = Recorder(token, cancel_at=3)
    with pytest.raises(ffi.PlumbingError.Cancelled) as info:
        ffi.run_job(10, 0, recorder, token)
    assert info.value.completed == 3
    assert recorder.events == [(i, 10) for i in range(1, 4)]
    assert token.is_cancelled()


def test_cancel_from_another_thread():
    token = ffi.CancelToken()
    recorder = Recorder()
    steps = 100_000
    outcome = {}

    def work():
        try:
            outcome["value"] = ffi.run_job(steps, 1, recorder, token)
        except Exception as e:  # noqa: BLE001 - inspected below
            outcome["error"] = e

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    assert recorder.first_report.wait(10), "no progress within 10 s"
    started = time.monotonic()
    token.cancel()
    worker.join(10)
    assert not worker.is_alive(), "run_job did not return within 10 s of cancel"
    assert time.monotonic() - started < 5
    error = outcome.get("error")
    assert isinstance(error, ffi.PlumbingError.Cancelled), f"outcome: {outcome!r}"
    assert 1 <= error.completed < steps
    assert len(recorder.events) == error.completed
