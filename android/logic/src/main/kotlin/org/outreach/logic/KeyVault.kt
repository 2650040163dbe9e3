package org.outreach.logic

/** How the person proved it is them: a PIN, or a biometric that unlocked the platform key. */
sealed interface Credential {
    class Pin(val digits: CharArray) : Credential
    data object Biometric : Credential
}

class KeyVaultException(message: String) : Exception(message)

/**
 * Holds the 32-byte store key wrapped by a platform key (Android Keystore in app/, an
 * in-memory one in tests). The key bytes are handed out only to open the store and are wiped by
 * the caller right after.
 */
interface KeyVault {
    /** True once [createKey] has run on this phone. */
    fun hasKey(): Boolean

    /** Generates a new random store key, wraps it, returns the plain bytes once (for create). */
    fun createKey(credential: Credential): ByteArray

    /** Unwraps the store key; throws [KeyVaultException] when the platform refuses. */
    fun unwrapKey(credential: Credential): ByteArray

    /** Forgets the wrapped key (device reset / revoked / wiped): the platform key is deleted. */
    fun forget()

    /**
     * Whether [pin] is the unlock PIN, WITHOUT counting a failure (used to refuse a duress PIN
     * equal to it). Vaults without a PIN answer false.
     */
    fun matchesPin(pin: CharArray): Boolean = false
}
