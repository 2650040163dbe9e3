package org.outreach.logic

import uniffi.outreach_ffi.OutreachException

/**
 * Maps the core's typed errors to what staff read on screen. This is presentation only: the
 * rules (what is valid, what state allows what) live in the core, which names the field and the
 * rule it broke; here they only get a human label. Messages never echo the rejected value.
 */
object Messages {
    private val fieldLabels = mapOf(
        "encounter.zone" to "Zone",
        "encounter.setting" to "Setting",
        "encounter.contact_type" to "Contact type",
        "encounter.services" to "Services",
        "encounter.person" to "Person",
        "encounter.note" to "Note",
        "key" to "Key",
        "shift.van" to "Van",
        "shift.crew" to "Crew",
        "shift.zones" to "Zones",
        "alert.value" to "Identifier",
    )

    fun label(field: String): String =
        fieldLabels[field] ?: field.substringAfterLast('.').replace('_', ' ').replaceFirstChar { it.uppercase() }

    fun of(e: Throwable): String = when (e) {
        is OutreachException.WrongKey -> "That PIN or key does not open this phone's store."
        is OutreachException.NoStore -> "No store on this phone yet. Set up the phone first."
        is OutreachException.AlreadyExists -> "This phone already has a store."
        is OutreachException.Corrupt -> "The store cannot be read (${e.code}). Call the lead."
        is OutreachException.Invalid -> "${label(e.field)}: ${e.reason}"
        is OutreachException.NotFound -> "That ${e.kind} was not found."
        is OutreachException.State -> e.reason.replaceFirstChar { it.uppercase() }
        is OutreachException.Network -> "Hub not reachable. Nothing is lost; sync will retry."
        is OutreachException.Revoked -> "This phone was removed from the team. It can no longer sync."
        is OutreachException.Hub -> if (e.retryable) "Hub busy (${e.code}); will retry." else "Hub refused (${e.code})."
        is OutreachException.Crypto -> "Synced data failed checks and was not applied. Tell the lead."
        is OutreachException.Cancelled -> "Cancelled."
        is OutreachException.Internal -> "Something went wrong (${e.code}). Restart the app."
        is OutreachException.Wiped -> "This phone's data was wiped (the lead's order, or too long without a sync). Ask the lead to set it up again."
        is KeyVaultException -> e.message ?: "Key unavailable."
        else -> "Something went wrong. Restart the app."
    }
}
