package org.outreach.logic

import uniffi.outreach_ffi.OutreachStore

sealed interface UnlockState {
    data class Locked(val message: String? = null) : UnlockState
    data object Unlocking : UnlockState
    data class Unlocked(val store: OutreachStore) : UnlockState
}

/**
 * Unlock / lock / quick exit. Holds the only reference to the open store; every other holder
 * gets it from here and must not keep it after [lock].
 */
class UnlockController(
    private val storeDir: String,
    private val vault: KeyVault,
    private val dispatcher: Dispatcher,
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
            val key = vault.unwrapKey(credential)
            try {
                opener(storeDir, key)
            } finally {
                key.fill(0)
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

    /** Quick exit: the same as lock with no message; the shell then hides/finishes its task. */
    fun quickExit() = lock(null)
}
