// Kotlin/JVM (JNA) scenario tests of the outreach-ffi API. Driven by bindings/tests/bindings.rs
// (see bindings/README.md), which starts a hub on loopback and prepares a registered lead store
// and an invite (OUTREACH_TEST_* environment variables). The same behaviours as the Swift and
// Python suites: open with key bytes, shift, log with services, list the night, alert check
// (match and no match), sync with progress, enrol from an invite and see the lead's data
// arrive, cancel (before and while running, then a sync that succeeds), the wrong key as its
// typed exception, and a panic inside the core as an exception after which the library keeps
// working. All data is obviously fake.
package org.outreach.ffi.tests

import java.security.SecureRandom
import java.util.Collections
import kotlin.concurrent.thread
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import uniffi.outreach_ffi.CancelHandle
import uniffi.outreach_ffi.ConsentFlagsRecord
import uniffi.outreach_ffi.DeviceRole
import uniffi.outreach_ffi.EncounterInputRecord
import uniffi.outreach_ffi.IdentifierKind
import uniffi.outreach_ffi.InternalException
import uniffi.outreach_ffi.OutreachException
import uniffi.outreach_ffi.OutreachStore
import uniffi.outreach_ffi.ServiceCountRecord
import uniffi.outreach_ffi.ShiftStartRecord
import uniffi.outreach_ffi.SyncPhase
import uniffi.outreach_ffi.SyncProgressListener
import uniffi.outreach_ffi.SyncProgressRecord
import uniffi.outreach_ffi.TeamSetupRecord
import uniffi.outreach_ffi.checkDuressPin
import uniffi.outreach_ffi.ffiVersion
import uniffi.outreach_ffi.wipeStore

private fun env(name: String): String =
    assertNotNull(System.getenv(name)?.takeIf { it.isNotEmpty() }, "$name unset (run through cargo test -p outreach-ffi)")

private fun hex(s: String): ByteArray = ByteArray(s.length / 2) { s.substring(2 * it, 2 * it + 2).toInt(16).toByte() }

private fun randomKey(): ByteArray = ByteArray(32).also { SecureRandom().nextBytes(it) }

private val zone: String get() = env("OUTREACH_TEST_ZONE")

/** Records progress; optionally cancels [handle] at the first report. */
class Recorder(private val handle: CancelHandle? = null) : SyncProgressListener {
    val events: MutableList<SyncProgressRecord> = Collections.synchronizedList(mutableListOf())

    override fun onProgress(progress: SyncProgressRecord) {
        events.add(progress)
        handle?.cancel()
    }
}

private fun encounter(zone: String, vararg services: Pair<String, UInt>) = EncounterInputRecord(
    atMs = null,
    zone = zone,
    setting = "street",
    contactType = "brief",
    person = null,
    workers = emptyList(),
    language = null,
    interpreter = "none",
    consent = ConsentFlagsRecord(record = true, followUpContact = false, shareWithPartners = false),
    services = services.map { ServiceCountRecord(it.first, it.second) },
    referrals = emptyList(),
    followUp = null,
    note = "TEST note",
)

private fun freshStore(name: String): OutreachStore = OutreachStore.create(
    "${env("OUTREACH_TEST_WORK_DIR")}/$name",
    randomKey(),
    TeamSetupRecord(team = "TEST Team", zones = listOf("zone-a"), defaultCountry = "GB", utcOffsetMinutes = 0),
)

class OutreachTest {
    @Test
    fun version() {
        assertEquals(env("OUTREACH_FFI_EXPECTED_VERSION"), ffiVersion())
    }

    @Test
    fun scenarioShiftLogAlertSyncEnrolCancel() {
        OutreachStore.open(env("OUTREACH_TEST_LEAD_DIR"), hex(env("OUTREACH_TEST_LEAD_KEY_HEX"))).use { store ->
            assertTrue(zone in store.settings().zones)
            store.setUser("TEST-staff-kt")

            // Shift and an encounter with services.
            val shift = store.startShift(ShiftStartRecord("TEST Van 1", listOf("TEST-a", "TEST-b"), listOf(zone), null))
            assertEquals(shift.id, store.currentShift()?.id)
            val logged = store.logEncounter(encounter(zone, "condoms" to 5u, "hot_drink" to 1u))
            val night = store.listNight(shift.night)
            assertEquals(listOf(logged.id), night.map { it.id })
            assertEquals(setOf("condoms" to 5u, "hot_drink" to 1u), night[0].input.services.map { it.service to it.count }.toSet())
            assertEquals(listOf("TEST-a", "TEST-b"), night[0].input.workers)

            // Alert check: the driver's alert matches in another spelling; another number does not.
            assertEquals(listOf("high"), store.checkAlert(IdentifierKind.PHONE, "07700 900123").map { it.risk })
            assertTrue(store.checkAlert(IdentifierKind.PHONE, "07700 900999").isEmpty())

            // Sync with progress.
            assertTrue(store.syncStatus().outbox > 0UL)
            var rec = Recorder()
            val summary = CancelHandle().use { store.sync(rec, it) }
            assertTrue(summary.pushedChunks > 0UL)
            assertTrue(rec.events.any { it.phase == SyncPhase.PUSH })
            assertTrue(rec.events.any { it.phase == SyncPhase.PULL })
            val status = store.syncStatus()
            assertEquals(0UL, status.outbox)
            assertNull(status.lastError)
            assertTrue(status.registered)

            // A new device enrols from the invite and pulls the lead's night and alert.
            OutreachStore.enrol("${env("OUTREACH_TEST_WORK_DIR")}/member-kt", randomKey(), env("OUTREACH_TEST_INVITE"), "TEST van 2 phone").use { member ->
                assertEquals(DeviceRole.MEMBER, member.role())
                rec = Recorder()
                assertTrue(member.sync(rec, CancelHandle()).pulledChunks > 0UL)
                assertTrue(rec.events.isNotEmpty())
                assertTrue(zone in member.settings().zones)
                assertEquals(listOf(logged.id), member.listNight(shift.night).map { it.id })
                assertEquals(1, member.checkAlert(IdentifierKind.PLATE, "te57abc").size)

                // Cancel before the sync starts.
                CancelHandle().use { handle ->
                    handle.cancel()
                    assertFailsWith<OutreachException.Cancelled> { store.sync(Recorder(), handle) }
                }
                assertEquals("cancelled", store.syncStatus().lastError)

                // Cancel while it runs (from the first progress report; there is something to push).
                store.logEncounter(encounter(zone, "lube" to 2u))
                CancelHandle().use { handle ->
                    rec = Recorder(handle)
                    assertFailsWith<OutreachException.Cancelled> { store.sync(rec, handle) }
                    assertEquals(1, rec.events.size)
                }

                // Cancel from another thread.
                CancelHandle().use { handle ->
                    thread { handle.cancel() }.join()
                    assertFailsWith<OutreachException.Cancelled> { store.sync(Recorder(), handle) }
                }

                // A later sync succeeds and delivers the rest.
                store.sync(Recorder(), CancelHandle())
                assertEquals(0UL, store.syncStatus().outbox)
                member.sync(Recorder(), CancelHandle())
                assertEquals(2, member.listNight(shift.night).size)
            }
            store.endShift()
            assertNull(store.currentShift())
            assertTrue(store.auditTail(20u).any { it.action == "encounter.create" })
        }
    }

    @Test
    fun wrongKeyIsItsTypedException() {
        val wrong = hex(env("OUTREACH_TEST_LEAD_KEY_HEX")).map { (it.toInt() xor 0xFF).toByte() }.toByteArray()
        assertFailsWith<OutreachException.WrongKey> { OutreachStore.open(env("OUTREACH_TEST_LEAD_DIR"), wrong) }
        val e = assertFailsWith<OutreachException.Invalid> { OutreachStore.open(env("OUTREACH_TEST_LEAD_DIR"), ByteArray(5)) }
        assertEquals("key", e.field)
    }

    @Test
    fun invalidInputNamesTheField() {
        freshStore("invalid-kt").use { store ->
            assertFailsWith<OutreachException.State> { store.logEncounter(encounter("zone-a")) }
            store.startShift(ShiftStartRecord("TEST Van", listOf("TEST-a"), listOf("zone-a"), null))
            val e = assertFailsWith<OutreachException.Invalid> { store.logEncounter(encounter("zone-a").copy(setting = "rooftop")) }
            assertEquals("encounter.setting", e.field)
        }
    }

    @Test
    fun wipeAndDuressPinLeaveNoStore() {
        val work = env("OUTREACH_TEST_WORK_DIR")
        val team = TeamSetupRecord(team = "TEST Team", zones = listOf("zone-a"), defaultCountry = "GB", utcOffsetMinutes = 0)
        // Wipe an open store: its files go, the object is unusable, the store cannot be opened.
        val wiped = "$work/wipe-kt"
        val key = randomKey()
        val store = OutreachStore.create(wiped, key.copyOf(), team)
        store.startShift(ShiftStartRecord("TEST Van", listOf("TEST-a"), listOf("zone-a"), null))
        store.wipe()
        assertFailsWith<OutreachException.State> { store.currentShift() }
        store.close()
        assertFailsWith<OutreachException.NoStore> { OutreachStore.open(wiped, key.copyOf()) }
        assertFalse(java.io.File(wiped).exists())
        // Wipe by directory (a store that cannot be opened).
        val closed = "$work/wipe-dir-kt"
        val key2 = randomKey()
        OutreachStore.create(closed, key2.copyOf(), team).close()
        wipeStore(closed)
        assertFailsWith<OutreachException.NoStore> { OutreachStore.open(closed, key2.copyOf()) }
        // Duress PIN: another PIN leaves the store; the duress PIN wipes it.
        val duress = "$work/duress-kt"
        val key3 = randomKey()
        OutreachStore.create(duress, key3.copyOf(), team).use { it.setDuressPin("999999".toByteArray()) }
        assertFalse(checkDuressPin(duress, "123456".toByteArray()))
        OutreachStore.open(duress, key3.copyOf()).use { assertNull(it.currentShift()) }
        assertTrue(checkDuressPin(duress, "999999".toByteArray()))
        assertFailsWith<OutreachException.NoStore> { OutreachStore.open(duress, key3.copyOf()) }
        assertFalse(java.io.File(duress).exists())
    }

    @Test
    fun panicInsideTheCoreIsAnExceptionAndTheLibraryKeepsWorking() {
        freshStore("panic-kt").use { store ->
            val e = assertFailsWith<InternalException> { store.debugProvokePanic() }
            assertTrue("provoked panic" in (e.message ?: ""), "message was: ${e.message}")
            // (InternalException is not an OutreachException: the compiler proves it.)
            // The same store (its lock was held by the panicking call) still works.
            store.startShift(ShiftStartRecord("TEST Van", listOf("TEST-a"), listOf("zone-a"), null))
            assertNotNull(store.currentShift())
            assertEquals(env("OUTREACH_FFI_EXPECTED_VERSION"), ffiVersion())
        }
    }
}
