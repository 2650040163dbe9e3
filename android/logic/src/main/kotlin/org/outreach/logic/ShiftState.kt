package org.outreach.logic

import uniffi.outreach_ffi.ShiftRecord
import uniffi.outreach_ffi.ShiftStartRecord

data class ShiftState(
    val current: ShiftRecord? = null,
    val teamZones: List<String> = emptyList(),
    val busy: Boolean = false,
    val message: String? = null,
)

/** Shift start/end. Which zones exist and whether a shift may start are the core's rules. */
class ShiftController(private val unlock: UnlockController, private val dispatcher: Dispatcher) {
    val state = Observable(ShiftState())

    init {
        unlock.addLockListener { state.set(ShiftState()) }
    }

    fun refresh() = call({ s -> state.value.copy(current = s.currentShift(), teamZones = s.settings().zones) })

    fun start(van: String, crew: List<String>, zones: List<String>) =
        call({ s -> state.value.copy(current = s.startShift(ShiftStartRecord(van, crew, zones, null))) })

    fun end() = call({ s -> s.endShift(); state.value.copy(current = null) })

    private fun call(work: (uniffi.outreach_ffi.OutreachStore) -> ShiftState) {
        val store = unlock.store ?: return
        state.set(state.value.copy(busy = true, message = null))
        dispatcher.run({ work(store) }) { r ->
            r.fold(
                onSuccess = { state.set(it.copy(busy = false, message = null)) },
                onFailure = { state.set(state.value.copy(busy = false, message = Messages.of(it))) },
            )
        }
    }
}
