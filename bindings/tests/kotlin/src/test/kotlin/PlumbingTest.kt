// Kotlin/JVM (JNA) tests of the TEMPORARY plumbing API in bindings/src/plumbing.rs.
// Driven by bindings/tests/bindings.rs (see bindings/README.md). Five behaviours, as in the
// Swift and Python suites: a normal call, a typed error, a Rust panic arriving as an exception,
// progress callbacks, and cancellation (from inside a callback and from another thread).
package org.outreach.ffi.tests

import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlin.test.fail
import uniffi.outreach_ffi.CancelToken
import uniffi.outreach_ffi.InternalException
import uniffi.outreach_ffi.PlumbingException
import uniffi.outreach_ffi.ProgressListener
import uniffi.outreach_ffi.Tally
import uniffi.outreach_ffi.checkedDivide
import uniffi.outreach_ffi.ffiVersion
import uniffi.outreach_ffi.provokePanic
import uniffi.outreach_ffi.runJob

/** Records every progress report; optionally cancels [token] when step [cancelAt] is reported. */
class Recorder(private val token: CancelToken? = null, private val cancelAt: UInt? = null) :
    ProgressListener {
    val events: MutableList<Pair<UInt, UInt>> = Collections.synchronizedList(mutableListOf())
    val firstReport = CountDownLatch(1)

    override fun onProgress(completed: UInt, total: UInt) {
        events.add(completed to total)
        firstReport.countDown()
        if (cancelAt != null && completed == cancelAt) token!!.cancel()
    }
}

class PlumbingTest {
    private val expectedVersion: String =
        assertNotNull(System.getenv("OUTREACH_FFI_EXPECTED_VERSION"), "OUTREACH_FFI_EXPECTED_VERSION unset")

    @Test
    fun normalCallsAndObjectMethods() {
        assertEquals(expectedVersion, ffiVersion())
        assertEquals(3L, checkedDivide(7L, 2L))
        Tally("condoms").use { tally ->
            assertEquals("condoms", tally.label())
            assertEquals(3UL, tally.add(3u))
            assertEquals(7UL, tally.add(4u))
            assertEquals(7UL, tally.total())
        }
    }

    @Test
    fun typedErrorIsItsKotlinExceptionClass() {
        val e = assertFailsWith<PlumbingException.InvalidInput> { checkedDivide(1L, 0L) }
        assertTrue("divisor" in e.reason, "reason was: ${e.reason}")
        Tally("x").use { tally ->
            assertFailsWith<PlumbingException.InvalidInput> { tally.add(0u) }
            assertEquals(0UL, tally.total())
        }
    }

    @Test
    fun rustPanicArrivesAsInternalException() {
        val e = assertFailsWith<InternalException> { provokePanic("from kotlin") }
        assertTrue("provoked panic: from kotlin" in (e.message ?: ""), "message was: ${e.message}")
        // The process survived and the library still works after the panic.
        assertEquals(expectedVersion, ffiVersion())
    }

    @Test
    fun progressCallbacksAreObserved() {
        val recorder = Recorder()
        CancelToken().use { token ->
            assertEquals(5u, runJob(5u, 0u, recorder, token))
        }
        assertEquals((1u..5u).map { it to 5u }, recorder.events.toList())
    }

    @Test
    fun cancelFromInsideTheCallback() {
        CancelToken().use { token ->
            val recorder = Recorder(token, cancelAt = 3u)
            val e = assertFailsWith<PlumbingException.Cancelled> { runJob(10u, 0u, recorder, token) }
            assertEquals(3u, e.completed)
            assertEquals((1u..3u).map { it to 10u }, recorder.events.toList())
            assertTrue(token.isCancelled())
        }
    }

    @Test
    fun cancelFromAnotherThread() {
        CancelToken().use { token ->
            val recorder = Recorder()
            val steps = 100_000u
            var outcome: Result<UInt>? = null
            // Daemon thread: if cancel were broken, the JVM must not wait ~100 s for it at exit.
            val worker = thread(isDaemon = true) { outcome = runCatching { runJob(steps, 1u, recorder, token) } }
            assertTrue(recorder.firstReport.await(10, TimeUnit.SECONDS), "no progress within 10 s")
            val started = System.nanoTime()
            token.cancel()
            worker.join(10_000)
            assertTrue(!worker.isAlive, "runJob did not return within 10 s of cancel")
            val cancelLatencyMs = (System.nanoTime() - started) / 1_000_000
            assertTrue(cancelLatencyMs < 5_000, "cancel took $cancelLatencyMs ms")
            val error = outcome?.exceptionOrNull() ?: fail("runJob returned ${outcome?.getOrNull()} instead of Cancelled")
            val cancelled = error as? PlumbingException.Cancelled ?: fail("unexpected error: $error")
            assertTrue(cancelled.completed in 1u until steps, "completed=${cancelled.completed}")
            assertEquals(cancelled.completed.toInt(), recorder.events.size)
        }
    }
}
