package org.outreach.app

import android.content.Context
import android.net.ConnectivityManager
import android.net.NetworkCapabilities
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.Worker
import androidx.work.WorkerParameters
import java.util.concurrent.TimeUnit
import org.outreach.logic.SyncDecision
import org.outreach.logic.SyncTrigger

/**
 * WorkManager only executes what org.outreach.logic.SyncPolicy decides. Work is constrained to
 * NetworkType.CONNECTED, so a one-off request enqueued while offline runs when connectivity
 * returns. The store is only open while the app is unlocked; a worker that finds it locked
 * does nothing (it never unwraps the key in the background).
 */
object SyncScheduling {
    private val connected = Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build()

    fun schedulePeriodic(context: Context) {
        val request = PeriodicWorkRequestBuilder<SyncWorker>(15, TimeUnit.MINUTES)
            .setConstraints(connected)
            .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
            .build()
        WorkManager.getInstance(context).enqueueUniquePeriodicWork("sync", ExistingPeriodicWorkPolicy.KEEP, request)
    }

    /** After a log or a tap on "Sync now": runs as soon as there is a network. */
    fun syncSoon(context: Context) {
        val request = OneTimeWorkRequestBuilder<SyncWorker>()
            .setConstraints(connected)
            .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
            .build()
        WorkManager.getInstance(context).enqueueUniqueWork("sync-now", ExistingWorkPolicy.REPLACE, request)
    }
}

class SyncWorker(context: Context, params: WorkerParameters) : Worker(context, params) {
    override fun doWork(): Result {
        val cm = applicationContext.getSystemService(ConnectivityManager::class.java)
        val caps = cm.getNetworkCapabilities(cm.activeNetwork)
        val metered = caps?.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED) != true
        val decision = applicationContext.holders.sync.maybeSync(
            SyncTrigger.CONNECTIVITY_REGAINED,
            connected = caps != null,
            metered = metered,
        )
        return when (decision) {
            SyncDecision.Run, is SyncDecision.Skip -> Result.success()
            is SyncDecision.Wait -> Result.retry()
        }
    }
}
