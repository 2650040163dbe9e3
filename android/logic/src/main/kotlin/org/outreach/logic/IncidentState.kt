package org.outreach.logic

import uniffi.outreach_ffi.IncidentInputRecord

data class IncidentForm(
    val whenMs: Long? = null,
    val place: String = "",
    val kind: String = "",
    val injuries: String = "",
    val policeReported: Boolean = false,
    val crimeReference: String = "",
    val sharePolice: String = "",
    val shareNational: String = "",
    val person: String? = null,
    val encounter: String? = null,
)

data class IncidentState(
    val form: IncidentForm = IncidentForm(),
    val saved: String? = null,
    val message: String? = null,
    val fieldErrors: Map<String, String> = emptyMap(),
)

/** Incident report: maps the form to the record; sharing rules are validated by the core. */
class IncidentController(
    private val unlock: UnlockController,
    private val dispatcher: Dispatcher,
    private val clock: Clock = Clock.SYSTEM,
) {
    val state = Observable(IncidentState())

    init {
        unlock.addLockListener { state.set(IncidentState()) }
    }

    fun edit(change: IncidentForm.() -> IncidentForm) = state.set(state.value.copy(form = state.value.form.change()))

    fun submit() {
        val store = unlock.store ?: return
        val f = state.value.form
        val input = IncidentInputRecord(
            whenMs = f.whenMs ?: clock.nowMs(),
            place = f.place,
            kind = f.kind,
            injuries = f.injuries.ifBlank { null },
            perpetrator = null,
            policeReported = f.policeReported,
            crimeReference = f.crimeReference.ifBlank { null },
            sharePolice = f.sharePolice,
            shareNational = f.shareNational,
            support = null,
            person = f.person,
            encounter = f.encounter,
        )
        dispatcher.run({ store.recordIncident(input) }) { r ->
            r.fold(
                { state.set(IncidentState(saved = it.id)) },
                { e ->
                    val errors = if (e is uniffi.outreach_ffi.OutreachException.Invalid) mapOf(e.field to Messages.of(e)) else emptyMap()
                    state.set(state.value.copy(message = Messages.of(e), fieldErrors = errors))
                },
            )
        }
    }
}
