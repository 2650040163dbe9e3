package org.outreach.app

import android.os.Bundle
import android.view.WindowManager
import androidx.activity.compose.setContent
import androidx.biometric.BiometricManager
import androidx.biometric.BiometricPrompt
import androidx.core.content.ContextCompat
import androidx.fragment.app.FragmentActivity
import org.outreach.app.ui.OutreachRoot
import org.outreach.logic.Credential

/**
 * The only activity. FLAG_SECURE blocks screenshots, screen recording and the app-switcher
 * thumbnail. Leaving the app (home, switcher, screen off) locks it: the store is closed and the
 * screens forget what they showed. Quick exit locks and removes the task.
 */
class MainActivity : FragmentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE)
        setContent {
            OutreachRoot(
                holders = holders,
                onBiometric = ::promptBiometric,
                onQuickExit = ::quickExit,
            )
        }
    }

    override fun onStop() {
        super.onStop()
        if (!isChangingConfigurations) holders.unlock.lock()
    }

    private fun quickExit() {
        holders.unlock.quickExit()
        finishAndRemoveTask()
    }

    private fun promptBiometric() {
        val can = BiometricManager.from(this).canAuthenticate(BiometricManager.Authenticators.BIOMETRIC_STRONG)
        if (can != BiometricManager.BIOMETRIC_SUCCESS) return
        val prompt = BiometricPrompt(
            this,
            ContextCompat.getMainExecutor(this),
            object : BiometricPrompt.AuthenticationCallback() {
                override fun onAuthenticationSucceeded(result: BiometricPrompt.AuthenticationResult) {
                    // The Keystore key is time-bound to this authentication (KeystoreKeyVault).
                    holders.unlock.unlock(Credential.Biometric)
                }
            },
        )
        prompt.authenticate(
            BiometricPrompt.PromptInfo.Builder()
                .setTitle("Unlock")
                .setNegativeButtonText("Use PIN")
                .setAllowedAuthenticators(BiometricManager.Authenticators.BIOMETRIC_STRONG)
                .build(),
        )
    }
}
