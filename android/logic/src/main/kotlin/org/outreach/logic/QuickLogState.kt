package org.outreach.logic

import uniffi.outreach_ffi.ConsentFlagsRecord
import uniffi.outreach_ffi.ControlledList
import uniffi.outreach_ffi.EncounterInputRecord
import uniffi.outreach_ffi.EncounterRecord
import uniffi.outreach_ffi.OutreachException
import uniffi.outreach_ffi.ServiceCountRecord
import uniffi.outreach_ffi.controlledValues

/** What the quick-log screen shows: the taps so far, the choices, errors, and tonight's list. */
data class QuickLogState(
    val zones: List<String> = emptyList(),
    val settings: List<String> = emptyList(),
    val contactTypes: List<String> = emptyList(),
    val services: List<String> = emptyList(),
    val zone: String? = null,
    val setting: String? = null,
    val contactType: String? = null,
    val counts: Map<String, Int> = emptyMap(),
    val person: String? = null,
    val personLabel: String? = null,
    val note: String = "",
    /** Core validation errors keyed by the core's field name (e.g. `encounter.zone`). */
    val fieldErrors: Map<String, String> = emptyMap(),
    val message: String? = null,
    val busy: Boolean = false,
    val night: List<EncounterRecord> = emptyList(),
    val lastLogged: String? = null,
)

/**
 * Builds an [EncounterInputRecord] from taps and logs it. It does NOT validate: an unpicked
 * chip is sent as an empty string and the core answers `Invalid { field, reason }`, which lands
 * in [QuickLogState.fieldErrors]. Choices come from the core's controlled lists.
 */
class QuickLogController(
    private val unlock: UnlockController,
    private val dispatcher: Dispatcher,
    private val clock: Clock = Clock.SYSTEM,
) {
    val state = Observable(QuickLogState())

    init {
        unlock.addLockListener { state.set(QuickLogState()) }
    }

    /** Loads choices (zones of the open shift, else the team's) and tonight's list. */
    fun load() {
        val store = unlock.store ?: return
        dispatcher.run({
            val shift = store.currentShift()
            val zones = shift?.zones?.takeIf { it.isNotEmpty() } ?: store.settings().zones
            val night = shift?.night ?: store.nightOf(clock.nowMs())
            state.value.copy(
                zones = zones,
                settings = controlledValues(ControlledList.SETTING),
                contactTypes = controlledValues(ControlledList.CONTACT_TYPE),
                services = controlledValues(ControlledList.SERVICE),
                night = store.listNight(night),
            )
        }) { r -> r.fold({ state.set(it) }, { state.set(state.value.copy(message = Messages.of(it))) }) }
    }

    fun pickZone(zone: String) = edit { copy(zone = zone) }
    fun pickSetting(setting: String) = edit { copy(setting = setting) }
    fun pickContactType(type: String) = edit { copy(contactType = type) }
    fun increment(service: String) = edit { copy(counts = counts + (service to (counts[service] ?: 0) + 1)) }
    fun decrement(service: String) = edit {
        val n = (counts[service] ?: 0) - 1
        copy(counts = if (n <= 0) counts - service else counts + (service to n))
    }
    fun pickPerson(id: String?, label: String?) = edit { copy(person = id, personLabel = label) }
    fun setNote(note: String) = edit { copy(note = note) }

    private fun edit(change: QuickLogState.() -> QuickLogState) = state.set(state.value.change().copy(message = null))

    /** The record the taps describe (exposed for tests and for an "amend" screen). */
    fun draft(): EncounterInputRecord = with(state.value) {
        EncounterInputRecord(
            atMs = null,
            zone = zone ?: "",
            setting = setting ?: "",
            contactType = contactType ?: "",
            person = person,
            workers = emptyList(),
            language = null,
            interpreter = "none",
            consent = ConsentFlagsRecord(record = true, followUpContact = false, shareWithPartners = false),
            services = counts.entries.sortedBy { it.key }.map { ServiceCountRecord(it.key, it.value.toUInt()) },
            referrals = emptyList(),
            followUp = null,
            note = note.takeIf { it.isNotBlank() },
        )
    }

    fun submit() {
        val store = unlock.store ?: return
        val input = draft()
        state.set(state.value.copy(busy = true, fieldErrors = emptyMap(), message = null))
        dispatcher.run({
            val logged = store.logEncounter(input)
            val night = store.currentShift()?.night ?: store.nightOf(clock.nowMs())
            logged to store.listNight(night)
        }) { r ->
            r.fold(
                onSuccess = { (logged, night) ->
                    // Keep zone and setting: the next contact is usually on the same beat.
                    state.set(
                        state.value.copy(
                            busy = false, contactType = null, counts = emptyMap(), person = null,
                            personLabel = null, note = "", night = night, lastLogged = logged.id,
                        ),
                    )
                },
                onFailure = { e ->
                    val errors = if (e is OutreachException.Invalid) mapOf(e.field to Messages.of(e)) else emptyMap()
                    state.set(state.value.copy(busy = false, fieldErrors = errors, message = Messages.of(e)))
                },
            )
        }
    }
}
