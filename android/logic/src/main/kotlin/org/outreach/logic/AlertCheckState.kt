package org.outreach.logic

import uniffi.outreach_ffi.AlertMatchRecord
import uniffi.outreach_ffi.IdentifierKind

sealed interface AlertCheckState {
    data object Idle : AlertCheckState
    data object Checking : AlertCheckState
    data class Match(val matches: List<AlertMatchRecord>) : AlertCheckState
    data object NoMatch : AlertCheckState
    data class Error(val message: String) : AlertCheckState
}

/** Offline alert check: normalising the phone/plate and matching is the core's job. */
class AlertCheckController(private val unlock: UnlockController, private val dispatcher: Dispatcher) {
    val state = Observable<AlertCheckState>(AlertCheckState.Idle)

    init {
        unlock.addLockListener { state.set(AlertCheckState.Idle) }
    }

    fun check(kind: IdentifierKind, value: String) {
        val store = unlock.store ?: return
        state.set(AlertCheckState.Checking)
        dispatcher.run({ store.checkAlert(kind, value) }) { r ->
            state.set(
                r.fold(
                    { if (it.isEmpty()) AlertCheckState.NoMatch else AlertCheckState.Match(it) },
                    { AlertCheckState.Error(Messages.of(it)) },
                ),
            )
        }
    }

    fun clear() = state.set(AlertCheckState.Idle)
}
