// JVM tests of the app logic against the REAL outreach-ffi library (JNA), driven by
// tests/tests/shells.rs. All data is obviously fake.
package org.outreach.logic

import java.io.File
import java.nio.file.Path
import java.security.SecureRandom
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import org.junit.jupiter.api.io.TempDir
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import uniffi.outreach_ffi.AlertInputRecord
import uniffi.outreach_ffi.ControlledList
import uniffi.outreach_ffi.PersonInputRecord
import uniffi.outreach_ffi.controlledValues
import uniffi.outreach_ffi.IdentifierKind
import uniffi.outreach_ffi.OutreachException
import uniffi.outreach_ffi.OutreachStore
import uniffi.outreach_ffi.TeamSetupRecord

/**
 * Test vault: hands out the bytes it holds (a "wrong PIN" is modelled by holding other bytes);
 * [pin], when given, is what [matchesPin] compares with.
 */
class InMemoryKeyVault(private var key: ByteArray?, private val pin: String? = null) : KeyVault {
    override fun hasKey() = key != null
    override fun createKey(credential: Credential): ByteArray =
        ByteArray(32).also { SecureRandom().nextBytes(it); key = it.copyOf() }
    override fun unwrapKey(credential: Credential): ByteArray =
        key?.copyOf() ?: throw KeyVaultException("No key on this phone.")
    override fun forget() { key = null }
    override fun matchesPin(pin: CharArray): Boolean = this.pin != null && String(pin) == this.pin
}

private const val ZONE = "TEST-north-beat"

class LogicTest {
    @TempDir
    lateinit var tmp: Path

    private val key = ByteArray(32).also { SecureRandom().nextBytes(it) }
    private val dir: String get() = File(tmp.toFile(), "store").path

    private fun createStore() {
        OutreachStore.create(dir, key.copyOf(), TeamSetupRecord("TEST Team", listOf(ZONE, "TEST-canal"), "GB", 0)).use { s ->
            s.setUser("TEST-staff")
            s.addAlert(
                AlertInputRecord(
                    description = "TEST alert: fictional driver", plates = listOf("TE57 ABC"),
                    phones = listOf("+44 7700 900123"), emails = emptyList(), usernames = emptyList(),
                    area = ZONE, risk = "high", from = null, review = null,
                ),
            )
        }
    }

    private fun unlocked(): UnlockController {
        createStore()
        val u = UnlockController(dir, InMemoryKeyVault(key.copyOf()), Dispatcher.direct())
        u.unlock(Credential.Pin("1234".toCharArray()))
        assertIs<UnlockState.Unlocked>(u.state.value)
        u.store!!.setUser("TEST-staff")
        return u
    }

    @Test
    fun wrongKeyShowsTheTypedErrorMessage() {
        createStore()
        val wrong = key.map { (it.toInt() xor 0x5A).toByte() }.toByteArray()
        val u = UnlockController(dir, InMemoryKeyVault(wrong), Dispatcher.direct())
        u.unlock(Credential.Pin("0000".toCharArray()))
        val locked = assertIs<UnlockState.Locked>(u.state.value)
        assertEquals(Messages.of(OutreachException.WrongKey()), locked.message)
        assertEquals("That PIN or key does not open this phone's store.", locked.message)
        assertNull(u.store)
    }

    @Test
    fun unlockWithoutAVaultKeySaysSo() {
        createStore()
        val u = UnlockController(dir, InMemoryKeyVault(null), Dispatcher.direct())
        u.unlock(Credential.Biometric)
        assertEquals("No key on this phone.", assertIs<UnlockState.Locked>(u.state.value).message)
    }

    @Test
    fun quickLogProducesAnEncounterInTheNightList() {
        val u = unlocked()
        val d = Dispatcher.direct()
        val shift = ShiftController(u, d)
        shift.start("TEST Van 1", listOf("TEST-a"), listOf(ZONE))
        assertNotNull(shift.state.value.current, shift.state.value.message)

        val log = QuickLogController(u, d)
        log.load()
        assertEquals(listOf(ZONE), log.state.value.zones)
        assertTrue("street" in log.state.value.settings, log.state.value.settings.toString())
        log.pickZone(ZONE)
        log.pickSetting("street")
        log.pickContactType(log.state.value.contactTypes.first())
        log.increment("condoms"); log.increment("condoms"); log.increment("condoms"); log.decrement("condoms")
        log.setNote("TEST note")
        log.submit()
        val st = log.state.value
        assertNull(st.message, st.message)
        val logged = assertNotNull(st.lastLogged)
        assertEquals(listOf(logged), st.night.map { it.id })
        assertEquals(listOf("condoms" to 2u), st.night[0].input.services.map { it.service to it.count })
        // The form is ready for the next contact on the same beat.
        assertEquals(ZONE, st.zone)
        assertTrue(st.counts.isEmpty())
    }

    @Test
    fun quickLogValidationComesFromTheCore() {
        val u = unlocked()
        val d = Dispatcher.direct()
        val log = QuickLogController(u, d)
        // No shift open: the core's state rule, shown as a message.
        log.pickZone(ZONE); log.pickSetting("street"); log.pickContactType("brief")
        log.submit()
        assertNotNull(log.state.value.message)
        assertNull(log.state.value.lastLogged)
        ShiftController(u, d).start("TEST Van 1", listOf("TEST-a"), listOf(ZONE))
        // An unknown setting: the core names the field, the holder maps it to a label.
        log.pickSetting("TEST-rooftop")
        log.submit()
        val errors = log.state.value.fieldErrors
        assertEquals(setOf("encounter.setting"), errors.keys)
        assertTrue(errors.getValue("encounter.setting").startsWith("Setting: "), errors.toString())
    }

    @Test
    fun alertCheckMatchAndNoMatch() {
        val u = unlocked()
        val a = AlertCheckController(u, Dispatcher.direct())
        a.check(IdentifierKind.PHONE, "07700 900123")
        val m = assertIs<AlertCheckState.Match>(a.state.value)
        assertEquals(listOf("high"), m.matches.map { it.risk })
        a.check(IdentifierKind.PLATE, "te57abc")
        assertIs<AlertCheckState.Match>(a.state.value)
        a.check(IdentifierKind.PHONE, "07700 900999")
        assertEquals(AlertCheckState.NoMatch, a.state.value)
    }

    @Test
    fun syncPolicyBackoffDecisions() {
        val p = SyncPolicy(avoidMetered = true, baseBackoffMs = 30_000, maxBackoffMs = 600_000)
        val ok = SyncConditions(connected = true, metered = false, locked = false, registered = true, consecutiveFailures = 0, lastAttemptMs = null)
        assertEquals(SyncDecision.Run, p.decide(SyncTrigger.CONNECTIVITY_REGAINED, ok, 1_000))
        assertEquals(SyncDecision.Skip("offline"), p.decide(SyncTrigger.PERIODIC, ok.copy(connected = false), 1_000))
        assertEquals(SyncDecision.Skip("metered network"), p.decide(SyncTrigger.PERIODIC, ok.copy(metered = true), 1_000))
        assertEquals(SyncDecision.Run, SyncPolicy(avoidMetered = false).decide(SyncTrigger.PERIODIC, ok.copy(metered = true), 1_000))
        assertEquals(SyncDecision.Skip("locked"), p.decide(SyncTrigger.USER_REQUESTED, ok.copy(locked = true), 1_000))
        assertEquals(SyncDecision.Skip("revoked"), p.decide(SyncTrigger.USER_REQUESTED, ok.copy(revoked = true), 1_000))
        assertEquals(listOf(0L, 30_000L, 60_000L, 120_000L, 600_000L, 600_000L), listOf(0, 1, 2, 3, 6, 60).map(p::backoffMs))
        val failed3 = ok.copy(consecutiveFailures = 3, lastAttemptMs = 10_000)
        assertEquals(SyncDecision.Wait(130_000), p.decide(SyncTrigger.CONNECTIVITY_REGAINED, failed3, 20_000))
        assertEquals(SyncDecision.Run, p.decide(SyncTrigger.CONNECTIVITY_REGAINED, failed3, 130_000))
        assertEquals(SyncDecision.Run, p.decide(SyncTrigger.USER_REQUESTED, failed3, 20_000))
    }

    @Test
    fun syncOnAnUnregisteredStoreCountsAFailureWithTheCoreMessage() {
        val u = unlocked()
        val sync = SyncController(u, Dispatcher.direct(), SyncPolicy())
        assertEquals(SyncDecision.Run, sync.maybeSync(SyncTrigger.USER_REQUESTED, connected = true, metered = false))
        val st = sync.state.value
        assertEquals(1, st.consecutiveFailures)
        assertNotNull(st.message)
        assertEquals(false, st.running)
        assertEquals(false, st.status?.registered)
        // Now the policy knows it is not registered and stops trying.
        assertIs<SyncDecision.Skip>(sync.maybeSync(SyncTrigger.PERIODIC, connected = true, metered = false))
    }

    @Test
    fun quickExitLocksAndDropsTheStore() {
        val u = unlocked()
        val d = Dispatcher.direct()
        val log = QuickLogController(u, d)
        ShiftController(u, d).start("TEST Van 1", listOf("TEST-a"), listOf(ZONE))
        log.load(); log.pickZone(ZONE); log.pickSetting("street"); log.pickContactType("brief"); log.submit()
        assertEquals(1, log.state.value.night.size)
        val store = u.store!!
        u.quickExit()
        assertEquals(UnlockState.Locked(null), u.state.value)
        assertNull(u.store)
        // Screens dropped what they showed, and the native store handle is gone.
        assertTrue(log.state.value.night.isEmpty())
        assertFailsWith<IllegalStateException> { store.currentShift() }
        // Data stays encrypted on disk and comes back with the right key.
        u.unlock(Credential.Biometric)
        assertIs<UnlockState.Unlocked>(u.state.value)
        log.load()
        assertEquals(1, log.state.value.night.size)
        u.lock()
    }
    @Test
    fun personLookupFeedsTheQuickLog() {
        val u = unlocked()
        val d = Dispatcher.direct()
        val added = u.store!!.addPerson(
            PersonInputRecord(
                codeName = "TEST Sparrow", nameQuality = controlledValues(ControlledList.NAME_QUALITY).first(),
                ageBand = controlledValues(ControlledList.AGE_BAND).first(), gender = controlledValues(ControlledList.GENDER).first(),
                settings = emptyList(), firstLanguage = null, living = controlledValues(ControlledList.LIVING).first(),
                injecting = false, gpRegistered = null, note = null,
            ),
        )
        val people = PersonSearchController(u, d)
        people.search("sparrow")
        val match = people.state.value.matches.firstOrNull()
        assertEquals(added.id, match?.id, people.state.value.toString())
        people.search("")
        assertTrue(people.state.value.matches.isEmpty())

        ShiftController(u, d).start("TEST Van 1", listOf("TEST-a"), listOf(ZONE))
        val log = QuickLogController(u, d)
        log.pickZone(ZONE); log.pickSetting("street"); log.pickContactType("brief")
        log.pickPerson(match!!.id, match.codeName)
        log.submit()
        assertEquals(added.id, log.state.value.night.single().input.person, log.state.value.message)
    }

    @Test
    fun storeCallsRunOffTheCallingThread() {
        createStore()
        val io = Executors.newSingleThreadExecutor { r -> Thread(r, "TEST-io") }
        val mainQueue = ConcurrentLinkedQueue<Runnable>()
        val openedOn = mutableListOf<String>()
        val u = UnlockController(dir, InMemoryKeyVault(key.copyOf()), Dispatcher(io) { mainQueue.add(it) }) { d, k ->
            openedOn += Thread.currentThread().name
            OutreachStore.open(d, k)
        }
        u.unlock(Credential.Biometric)
        assertEquals(UnlockState.Unlocking, u.state.value) // returned at once; nothing blocked
        io.shutdown(); assertTrue(io.awaitTermination(30, TimeUnit.SECONDS))
        generateSequence { mainQueue.poll() }.forEach { it.run() } // the "main thread" delivers
        assertEquals(listOf("TEST-io"), openedOn)
        assertIs<UnlockState.Unlocked>(u.state.value)
        u.lock()
    }

    @Test
    fun quickExitDuringUnlockWins() {
        createStore()
        val pending = mutableListOf<Runnable>()
        val u = UnlockController(dir, InMemoryKeyVault(key.copyOf()), Dispatcher({ pending.add(it) }, { it.run() }))
        u.unlock(Credential.Biometric)
        u.quickExit()
        pending.forEach { it.run() } // the store opens after the exit...
        assertEquals(UnlockState.Locked(null), u.state.value) // ...and is not shown
        assertNull(u.store)
    }

    private fun filesUnder(dir: File): List<File> = dir.walkTopDown().filter { it.isFile }.toList()

    @Test
    fun duressPinWipesTheStoreAndTheKeyAndLooksLikeNoStore() {
        createStore()
        val vault = InMemoryKeyVault(key.copyOf(), pin = "1234")
        val u = UnlockController(dir, vault, Dispatcher.direct())
        u.unlock(Credential.Pin("1234".toCharArray()))
        assertIs<UnlockState.Unlocked>(u.state.value)
        ShiftController(u, Dispatcher.direct()).start("TEST Van 1", listOf("TEST-a"), listOf(ZONE))
        var result: String? = "not called"
        u.setDuressPin("1234".toCharArray()) { result = it }
        assertEquals("The duress PIN must differ from the unlock PIN.", result)
        u.setDuressPin("999999".toCharArray()) { result = it }
        assertNull(result)
        u.lock()
        // Not used yet: the store is still there.
        assertTrue(File(dir, "outreach.db").exists())
        // The duress PIN: store and key gone; the screen shows what a phone with no store shows.
        u.unlock(Credential.Pin("999999".toCharArray()))
        assertEquals(UnlockState.Locked(Messages.of(OutreachException.NoStore())), u.state.value)
        assertEquals(false, vault.hasKey())
        assertEquals(false, File(dir).exists())
        assertTrue(filesUnder(tmp.toFile()).isEmpty(), filesUnder(tmp.toFile()).toString())
        assertFailsWith<OutreachException.NoStore> { OutreachStore.open(dir, key.copyOf()) }
    }

    @Test
    fun aWipeReportedByTheCoreDeletesTheKey() {
        createStore()
        // Dead-man timer: the core wipes at open and answers Wiped.
        val vault = InMemoryKeyVault(key.copyOf())
        val u = UnlockController(dir, vault, Dispatcher.direct(), opener = { _, _ -> throw OutreachException.Wiped() })
        u.unlock(Credential.Biometric)
        assertEquals(UnlockState.Locked(Messages.of(OutreachException.Wiped())), u.state.value)
        assertEquals(false, vault.hasKey())
        // Remote wipe found by a sync: the same.
        val vault2 = InMemoryKeyVault(key.copyOf())
        val u2 = UnlockController(dir, vault2, Dispatcher.direct())
        u2.unlock(Credential.Biometric)
        val store = assertNotNull(u2.store)
        u2.onWiped(OutreachException.Wiped())
        assertEquals(UnlockState.Locked(Messages.of(OutreachException.Wiped())), u2.state.value)
        assertEquals(false, vault2.hasKey())
        assertFailsWith<IllegalStateException> { store.currentShift() }
    }

    @Test
    fun wipeNowDestroysStoreAndKey() {
        val u = unlocked()
        val store = u.store!!
        u.wipeNow()
        assertNull(u.store)
        assertEquals(UnlockState.Locked(Messages.of(OutreachException.Wiped())), u.state.value)
        assertFailsWith<IllegalStateException> { store.currentShift() }
        assertTrue(filesUnder(tmp.toFile()).isEmpty(), filesUnder(tmp.toFile()).toString())
        assertFailsWith<OutreachException.NoStore> { OutreachStore.open(dir, key.copyOf()) }
    }
}
