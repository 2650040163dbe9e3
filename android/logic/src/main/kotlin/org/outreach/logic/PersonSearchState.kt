package org.outreach.logic

import uniffi.outreach_ffi.PersonMatchRecord

data class PersonSearchState(
    val query: String = "",
    val matches: List<PersonMatchRecord> = emptyList(),
    val message: String? = null,
)

/** Person lookup: the core does the fuzzy matching and ranking; this only forwards the query. */
class PersonSearchController(private val unlock: UnlockController, private val dispatcher: Dispatcher) {
    val state = Observable(PersonSearchState())

    init {
        unlock.addLockListener { state.set(PersonSearchState()) }
    }

    fun search(query: String, limit: UInt = 20u) {
        val store = unlock.store ?: return
        state.set(state.value.copy(query = query, message = null))
        if (query.isBlank()) {
            state.set(PersonSearchState())
            return
        }
        dispatcher.run({ store.findPeople(query, limit) }) { r ->
            if (state.value.query != query) return@run // a newer query superseded this one
            r.fold(
                { state.set(state.value.copy(matches = it, message = if (it.isEmpty()) "No one found." else null)) },
                { state.set(state.value.copy(matches = emptyList(), message = Messages.of(it))) },
            )
        }
    }
}
