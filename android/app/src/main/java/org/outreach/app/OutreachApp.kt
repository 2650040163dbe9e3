package org.outreach.app

import android.app.Application
import android.content.Context
import androidx.core.content.ContextCompat
import java.util.concurrent.Executors
import org.outreach.logic.AlertCheckController
import org.outreach.logic.Dispatcher
import org.outreach.logic.IncidentController
import org.outreach.logic.PersonSearchController
import org.outreach.logic.QuickLogController
import org.outreach.logic.ShiftController
import org.outreach.logic.SyncController
import org.outreach.logic.SyncPolicy
import org.outreach.logic.UnlockController

/**
 * Wires the logic module's state holders once per process. No logic here: the holders live in
 * android/logic and are tested on the JVM against the real library.
 */
class OutreachApp : Application() {
    lateinit var holders: Holders
        private set

    override fun onCreate() {
        super.onCreate()
        // One background thread for the store (calls block; SQLCipher serialises anyway), results
        // on the main thread.
        val dispatcher = Dispatcher(Executors.newSingleThreadExecutor(), ContextCompat.getMainExecutor(this))
        holders = Holders.create(this, dispatcher)
        SyncScheduling.schedulePeriodic(this)
    }
}

class Holders(
    val unlock: UnlockController,
    val shift: ShiftController,
    val quickLog: QuickLogController,
    val people: PersonSearchController,
    val alerts: AlertCheckController,
    val incident: IncidentController,
    val sync: SyncController,
    val vault: KeystoreKeyVault,
) {
    companion object {
        fun create(context: Context, dispatcher: Dispatcher): Holders {
            val vault = KeystoreKeyVault(context)
            val unlock = UnlockController(context.noBackupFilesDir.resolve("store").path, vault, dispatcher)
            val prefs = context.getSharedPreferences("settings", Context.MODE_PRIVATE)
            val policy = SyncPolicy(avoidMetered = prefs.getBoolean("avoid_metered", false))
            return Holders(
                unlock = unlock,
                shift = ShiftController(unlock, dispatcher),
                quickLog = QuickLogController(unlock, dispatcher),
                people = PersonSearchController(unlock, dispatcher),
                alerts = AlertCheckController(unlock, dispatcher),
                incident = IncidentController(unlock, dispatcher),
                sync = SyncController(unlock, dispatcher, policy),
                vault = vault,
            )
        }
    }
}

val Context.holders: Holders get() = (applicationContext as OutreachApp).holders
