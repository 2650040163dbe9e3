import BackgroundTasks
import Foundation
import Network
import OutreachCore

/// BGTaskScheduler executes what OutreachCore's SyncPolicy decides. The store is closed while
/// locked, so a background task that finds it locked does nothing (the key is never unwrapped
/// in the background); it still reschedules itself.
enum BackgroundSync {
    static let identifier = "org.outreach.vanlog.sync"
    private static weak var controller: SyncController?
    private static let monitor = NWPathMonitor()

    static var currentPath: NWPath { monitor.currentPath }

    static func register() {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            guard let task = task as? BGProcessingTask else { return }
            handle(task)
        }
        monitor.start(queue: DispatchQueue(label: "outreach.path"))
    }

    static func schedule(_ sync: SyncController) {
        controller = sync
        let request = BGProcessingTaskRequest(identifier: identifier)
        request.requiresNetworkConnectivity = true
        let policy = SyncPolicy()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let next = policy.nextBackgroundRunMs(sync.conditions(connected: true, metered: false), nowMs: now)
        request.earliestBeginDate = Date(timeIntervalSince1970: Double(next) / 1000)
        try? BGTaskScheduler.shared.submit(request)
    }

    private static func handle(_ task: BGProcessingTask) {
        guard let sync = controller else { task.setTaskCompleted(success: true); return }
        task.expirationHandler = { sync.cancel() }
        let path = monitor.currentPath
        _ = sync.maybeSync(.periodic, connected: path.status == .satisfied, metered: path.isExpensive)
        schedule(sync)
        task.setTaskCompleted(success: true)
    }
}
