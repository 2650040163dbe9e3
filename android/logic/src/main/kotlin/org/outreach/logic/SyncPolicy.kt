package org.outreach.logic

/** Why a sync is being considered. */
enum class SyncTrigger { CONNECTIVITY_REGAINED, PERIODIC, USER_REQUESTED, AFTER_LOG }

data class SyncConditions(
    val connected: Boolean,
    val metered: Boolean,
    val locked: Boolean,
    val registered: Boolean,
    /** Failures in a row since the last success (reset by a success). */
    val consecutiveFailures: Int,
    val lastAttemptMs: Long?,
    val revoked: Boolean = false,
)

sealed interface SyncDecision {
    data object Run : SyncDecision
    data class Wait(val untilMs: Long) : SyncDecision
    data class Skip(val reason: String) : SyncDecision
}

/**
 * When to sync (plain logic; WorkManager on Android and BGTaskScheduler on iOS only execute the
 * decision). Exponential backoff after failures, capped; a user tap skips the backoff but not
 * the hard conditions (offline, locked, revoked, metered when configured).
 */
class SyncPolicy(
    private val avoidMetered: Boolean = false,
    private val baseBackoffMs: Long = 30_000,
    private val maxBackoffMs: Long = 30 * 60_000,
) {
    fun backoffMs(failures: Int): Long {
        if (failures <= 0) return 0
        val shift = (failures - 1).coerceAtMost(20)
        return (baseBackoffMs shl shift).coerceAtMost(maxBackoffMs)
    }

    fun decide(trigger: SyncTrigger, c: SyncConditions, nowMs: Long): SyncDecision = when {
        c.revoked -> SyncDecision.Skip("revoked")
        !c.registered -> SyncDecision.Skip("not registered with a hub")
        c.locked -> SyncDecision.Skip("locked")
        !c.connected -> SyncDecision.Skip("offline")
        c.metered && avoidMetered -> SyncDecision.Skip("metered network")
        trigger == SyncTrigger.USER_REQUESTED -> SyncDecision.Run
        c.consecutiveFailures > 0 && c.lastAttemptMs != null &&
            nowMs < c.lastAttemptMs + backoffMs(c.consecutiveFailures) ->
            SyncDecision.Wait(c.lastAttemptMs + backoffMs(c.consecutiveFailures))
        else -> SyncDecision.Run
    }
}
