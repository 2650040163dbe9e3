package org.outreach.logic

import java.util.concurrent.atomic.AtomicReference
import uniffi.outreach_ffi.CancelHandle
import uniffi.outreach_ffi.OutreachException
import uniffi.outreach_ffi.SyncProgressListener
import uniffi.outreach_ffi.SyncProgressRecord
import uniffi.outreach_ffi.SyncStatusRecord

data class SyncState(
    val running: Boolean = false,
    val progress: SyncProgressRecord? = null,
    val status: SyncStatusRecord? = null,
    val consecutiveFailures: Int = 0,
    val lastAttemptMs: Long? = null,
    val revoked: Boolean = false,
    val message: String? = null,
    val lastDecision: SyncDecision? = null,
)

/**
 * Runs sync when [SyncPolicy] says so, shows progress and cancels on lock. The progress
 * listener only posts state: it never calls back into the store (that would deadlock).
 */
class SyncController(
    private val unlock: UnlockController,
    private val dispatcher: Dispatcher,
    private val policy: SyncPolicy,
    private val clock: Clock = Clock.SYSTEM,
) {
    val state = Observable(SyncState())
    private val running = AtomicReference<CancelHandle?>(null)

    init {
        unlock.addLockListener { cancel() }
    }

    fun refreshStatus() {
        val store = unlock.store ?: return
        dispatcher.run({ store.syncStatus() }) { r ->
            r.onSuccess { state.set(state.value.copy(status = it)) }
        }
    }

    /** Asks the policy, then syncs. Returns the decision (WorkManager maps Wait to a retry). */
    fun maybeSync(trigger: SyncTrigger, connected: Boolean, metered: Boolean): SyncDecision {
        val store = unlock.store
        val s = state.value
        val decision = policy.decide(
            trigger,
            SyncConditions(
                connected = connected,
                metered = metered,
                locked = store == null,
                registered = s.status?.registered ?: (store != null),
                consecutiveFailures = s.consecutiveFailures,
                lastAttemptMs = s.lastAttemptMs,
                revoked = s.revoked,
            ),
            clock.nowMs(),
        )
        state.set(state.value.copy(lastDecision = decision))
        if (decision != SyncDecision.Run || store == null) return decision
        val handle = CancelHandle()
        if (!running.compareAndSet(null, handle)) {
            handle.close()
            return SyncDecision.Skip("already running")
        }
        state.set(state.value.copy(running = true, progress = null, message = null, lastAttemptMs = clock.nowMs()))
        val listener = object : SyncProgressListener {
            override fun onProgress(progress: SyncProgressRecord) {
                state.set(state.value.copy(progress = progress))
            }
        }
        dispatcher.run({
            try {
                store.sync(listener, handle)
            } finally {
                running.compareAndSet(handle, null)
                handle.close()
            }
        }) { r ->
            r.fold(
                { state.set(state.value.copy(running = false, consecutiveFailures = 0, message = "Synced.")) },
                { e ->
                    // A lead's remote wipe was obeyed: the store is gone; delete the key and lock.
                    if (e is OutreachException.Wiped) unlock.onWiped(e)
                    val cancelled = e is OutreachException.Cancelled
                    state.set(
                        state.value.copy(
                            running = false,
                            consecutiveFailures = if (cancelled) state.value.consecutiveFailures else state.value.consecutiveFailures + 1,
                            revoked = e is OutreachException.Revoked,
                            message = Messages.of(e),
                        ),
                    )
                },
            )
            if (unlock.store != null) refreshStatus()
        }
        return decision
    }

    fun cancel() {
        running.get()?.cancel()
    }
}
