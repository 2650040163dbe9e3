package org.outreach.logic

import java.nio.CharBuffer
import uniffi.outreach_ffi.OutreachException
import uniffi.outreach_ffi.OutreachStore
import uniffi.outreach_ffi.checkDuressPin
import uniffi.outreach_ffi.wipeStore

sealed interface UnlockState {
    data class Locked(val message: String? = null) : UnlockState
    data object Unlocking : UnlockState
    data class Unlocked(val store: OutreachStore) : UnlockState
}

/** The PIN as UTF-8 bytes (no String is made, so the caller can wipe both arrays). */
internal fun pinBytes(pin: CharArray): ByteArray {
    val buf = Charsets.UTF_8.encode(CharBuffer.wrap(pin))
    val out = ByteArray(buf.remaining())
    buf.get(out)
    if (buf.hasArray()) buf.array().fill(0)
    return out
}

/**
 * Unlock / lock / quick exit, and the device-loss paths. Holds the only reference to the open
 * store; every other holder gets it from here and must not keep it after [lock].
 *
 * Device loss (ARCHITECTURE.md, "Device loss"):
 *  - **duress PIN**: a PIN unlock first asks the core whether the PIN is the duress PIN
 *    ([duressCheck], before the key is unwrapped, so it never counts as a wrong PIN). If it is,
 *    the core has wiped the store; the Keystore key is deleted too ([KeyVault.forget]) and the
 *    screen shows exactly what a phone with no store shows.
 *  - **dead-man timer / remote wipe**: the core wipes the store itself and answers
 *    `OutreachException.Wiped` (at open, or from a sync); the key is deleted and the screen says
 *    the phone was wiped.
 *  - **quick exit**: [quickExit].
 */
class UnlockController(
    private val storeDir: String,
    private val vault: KeyVault,
    private val dispatcher: Dispatcher,
    private val duressCheck: (String, ByteArray) -> Boolean = { dir, pin -> checkDuressPin(dir, pin) },
    private val wiper: (String) -> Unit = { dir -> wipeStore(dir) },
    private val opener: (String, ByteArray) -> OutreachStore = { dir, key -> OutreachStore.open(dir, key) },
) {
    val state = Observable<UnlockState>(UnlockState.Locked())
    private val onLock = java.util.concurrent.CopyOnWriteArrayList<() -> Unit>()

    /** Called before the store is closed (sync cancels, screens drop their data). */
    fun addLockListener(listener: () -> Unit) {
        onLock.add(listener)
    }

    val store: OutreachStore?
        get() = (state.value as? UnlockState.Unlocked)?.store

    fun unlock(credential: Credential) {
        if (state.value !is UnlockState.Locked) return
        state.set(UnlockState.Unlocking)
        dispatcher.run({
            try {
                if (credential is Credential.Pin) {
                    val pin = pinBytes(credential.digits)
                    val duress = try { duressCheck(storeDir, pin) } finally { pin.fill(0) }
                    if (duress) {
                        // The core has wiped the store; the key goes too. Then: "no store here".
                        vault.forget()
                        throw OutreachException.NoStore()
                    }
                }
                val key = vault.unwrapKey(credential)
                try {
                    opener(storeDir, key)
                } catch (e: OutreachException.Wiped) {
                    // Dead-man timer: the core wiped the store at open; delete the key too.
                    vault.forget()
                    throw e
                } finally {
                    key.fill(0)
                }
            } finally {
                if (credential is Credential.Pin) credential.digits.fill('\u0000')
            }
        }) { result ->
            result.fold(
                onSuccess = {
                    // Locked (quick exit) while the key was being unwrapped: do not unlock.
                    if (state.value == UnlockState.Unlocking) state.set(UnlockState.Unlocked(it)) else it.close()
                },
                onFailure = { if (state.value == UnlockState.Unlocking) state.set(UnlockState.Locked(Messages.of(it))) },
            )
        }
    }

    /** Locks: cancels work, closes the store (native handle freed now, not by the Cleaner). */
    fun lock(message: String? = null) {
        val current = state.value
        onLock.forEach { it() }
        state.set(UnlockState.Locked(message))
        if (current is UnlockState.Unlocked) current.store.close()
    }

    /**
     * Quick exit: the same as lock with no message (screens drop what they showed, the store is
     * closed, the unlock screen shows nothing); the shell then hides/finishes its task.
     */
    fun quickExit() = lock(null)

    /**
     * Sets the duress PIN (unlocked only). Refused when it is the unlock PIN. [done] gets null
     * when set, or the message to show. The PIN array is wiped.
     */
    fun setDuressPin(pin: CharArray, done: (String?) -> Unit) {
        val s = store ?: return done("Unlock first.")
        dispatcher.run({
            try {
                if (pin.isEmpty()) throw KeyVaultException("Type a duress PIN.")
                if (vault.matchesPin(pin)) throw KeyVaultException("The duress PIN must differ from the unlock PIN.")
                val bytes = pinBytes(pin)
                try { s.setDuressPin(bytes) } finally { bytes.fill(0) }
            } finally {
                pin.fill('\u0000')
            }
        }) { r -> done(r.exceptionOrNull()?.let(Messages::of)) }
    }

    /** Removes the duress PIN. */
    fun clearDuressPin(done: (String?) -> Unit) {
        val s = store ?: return done("Unlock first.")
        dispatcher.run({ s.clearDuressPin() }) { r -> done(r.exceptionOrNull()?.let(Messages::of)) }
    }

    /**
     * The core reported `Wiped` (a lead's remote wipe found by a sync): delete the key, close
     * what is left of the store, and say so.
     */
    fun onWiped(e: Throwable) {
        dispatcher.run({ vault.forget() }) { lock(Messages.of(e)) }
    }

    /** Wipes this phone's store now (a "wipe this phone" action): store files and key. */
    fun wipeNow() {
        val current = state.value
        onLock.forEach { it() }
        state.set(UnlockState.Locked(null))
        dispatcher.run({
            if (current is UnlockState.Unlocked) {
                current.store.use { it.wipe() }
            } else {
                wiper(storeDir)
            }
            vault.forget()
        }) { r -> state.set(UnlockState.Locked(r.exceptionOrNull()?.let(Messages::of) ?: Messages.of(OutreachException.Wiped()))) }
    }
}
