package org.outreach.app

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.SecretKeyFactory
import javax.crypto.spec.GCMParameterSpec
import javax.crypto.spec.PBEKeySpec
import javax.crypto.spec.SecretKeySpec
import org.outreach.logic.Credential
import org.outreach.logic.KeyVault
import org.outreach.logic.KeyVaultException

/**
 * The 32-byte store key, never stored in the clear. Two wrapped copies in no-backup prefs:
 *  - PIN copy: AES-GCM under PBKDF2(PIN), then AES-GCM under a non-exportable Android Keystore
 *    key (so the blob is useless off this phone, and a wrong PIN fails the inner GCM tag);
 *    after [MAX_PIN_FAILURES] wrong PINs both copies are erased (the data stays, encrypted,
 *    until a lead re-enrols the phone);
 *  - biometric copy: AES-GCM under a Keystore key that requires a strong biometric within the
 *    last [AUTH_VALIDITY_SECONDS] seconds and is invalidated when a new fingerprint/face enrols.
 */
class KeystoreKeyVault(context: Context) : KeyVault {
    private val prefs = context.getSharedPreferences("vault", Context.MODE_PRIVATE)
    private val keyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }

    override fun hasKey() = prefs.contains(PIN_BLOB)

    override fun createKey(credential: Credential): ByteArray {
        val pin = (credential as? Credential.Pin)?.digits ?: throw KeyVaultException("Set a PIN first.")
        val storeKey = ByteArray(32).also { SecureRandom().nextBytes(it) }
        val salt = ByteArray(16).also { SecureRandom().nextBytes(it) }
        val inner = seal(pinKey(pin, salt), storeKey)
        val outer = seal(platformKey(ALIAS_PIN, userAuth = false), inner)
        val bio = runCatching { seal(platformKey(ALIAS_BIO, userAuth = true), storeKey) }.getOrNull()
        prefs.edit()
            .putString(PIN_BLOB, b64(outer))
            .putString(SALT, b64(salt))
            .putInt(FAILURES, 0)
            .apply { if (bio != null) putString(BIO_BLOB, b64(bio)) }
            .apply()
        return storeKey
    }

    override fun unwrapKey(credential: Credential): ByteArray = when (credential) {
        is Credential.Pin -> {
            val outer = blob(PIN_BLOB)
            val inner = open(platformKey(ALIAS_PIN, userAuth = false), outer)
            try {
                open(pinKey(credential.digits, blob(SALT)), inner).also { prefs.edit().putInt(FAILURES, 0).apply() }
            } catch (e: AEADBadTagException) {
                val failures = prefs.getInt(FAILURES, 0) + 1
                if (failures >= MAX_PIN_FAILURES) {
                    forget()
                    throw KeyVaultException("Too many wrong PINs. Ask the lead to set this phone up again.")
                }
                prefs.edit().putInt(FAILURES, failures).apply()
                throw KeyVaultException("Wrong PIN. ${MAX_PIN_FAILURES - failures} tries left.")
            }
        }
        Credential.Biometric -> {
            if (!prefs.contains(BIO_BLOB)) throw KeyVaultException("Fingerprint unlock is not set up. Use the PIN.")
            try {
                open(platformKey(ALIAS_BIO, userAuth = true), blob(BIO_BLOB))
            } catch (e: android.security.keystore.KeyPermanentlyInvalidatedException) {
                prefs.edit().remove(BIO_BLOB).apply()
                throw KeyVaultException("Fingerprints changed. Use the PIN.")
            } catch (e: android.security.keystore.UserNotAuthenticatedException) {
                throw KeyVaultException("Fingerprint needed.")
            }
        }
    }

    override fun matchesPin(pin: CharArray): Boolean {
        if (!prefs.contains(PIN_BLOB)) return false
        val inner = open(platformKey(ALIAS_PIN, userAuth = false), blob(PIN_BLOB))
        return try {
            open(pinKey(pin, blob(SALT)), inner).fill(0)
            true
        } catch (e: AEADBadTagException) {
            false // not counted as a failure: this is not an unlock attempt
        }
    }

    override fun forget() {
        prefs.edit().clear().apply()
        runCatching { keyStore.deleteEntry(ALIAS_PIN) }
        runCatching { keyStore.deleteEntry(ALIAS_BIO) }
    }

    private fun platformKey(alias: String, userAuth: Boolean): SecretKey {
        (keyStore.getKey(alias, null) as? SecretKey)?.let { return it }
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .apply {
                if (userAuth) {
                    setUserAuthenticationRequired(true)
                    setInvalidatedByBiometricEnrollment(true)
                    if (android.os.Build.VERSION.SDK_INT >= 30) {
                        setUserAuthenticationParameters(AUTH_VALIDITY_SECONDS, KeyProperties.AUTH_BIOMETRIC_STRONG)
                    } else {
                        @Suppress("DEPRECATION")
                        setUserAuthenticationValidityDurationSeconds(AUTH_VALIDITY_SECONDS)
                    }
                }
            }
            .build()
        return KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore").run {
            init(spec)
            generateKey()
        }
    }

    private fun pinKey(pin: CharArray, salt: ByteArray): SecretKey {
        val spec = PBEKeySpec(pin, salt, 310_000, 256)
        try {
            val bytes = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).encoded
            return SecretKeySpec(bytes, "AES")
        } finally {
            spec.clearPassword()
        }
    }

    private fun seal(key: SecretKey, plain: ByteArray): ByteArray {
        val c = Cipher.getInstance("AES/GCM/NoPadding")
        c.init(Cipher.ENCRYPT_MODE, key)
        return c.iv + c.doFinal(plain)
    }

    private fun open(key: SecretKey, blob: ByteArray): ByteArray {
        val c = Cipher.getInstance("AES/GCM/NoPadding")
        c.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(128, blob, 0, 12))
        return c.doFinal(blob, 12, blob.size - 12)
    }

    private fun blob(name: String): ByteArray =
        Base64.decode(prefs.getString(name, null) ?: throw KeyVaultException("No key on this phone."), Base64.NO_WRAP)

    private fun b64(b: ByteArray) = Base64.encodeToString(b, Base64.NO_WRAP)

    private companion object {
        const val ALIAS_PIN = "outreach-store-wrap-pin"
        const val ALIAS_BIO = "outreach-store-wrap-bio"
        const val PIN_BLOB = "pin_blob"
        const val BIO_BLOB = "bio_blob"
        const val SALT = "salt"
        const val FAILURES = "pin_failures"
        const val MAX_PIN_FAILURES = 10
        const val AUTH_VALIDITY_SECONDS = 30
    }
}
