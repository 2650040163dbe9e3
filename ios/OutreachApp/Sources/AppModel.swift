import Foundation
import SwiftUI
import OutreachCore
import OutreachFFI

/// Wires the OutreachCore holders once and republishes their state to SwiftUI. No logic here:
/// the holders are in OutreachKit and tested on Linux against the real library.
final class Holders {
    let unlock: UnlockController
    let shift: ShiftController
    let quickLog: QuickLogController
    let people: PersonSearchController
    let alerts: AlertCheckController
    let incident: IncidentController
    let sync: SyncController
    let vault: KeyVault

    init() {
        let dispatcher = Dispatcher.app()
        let support = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
        var dir = support.appendingPathComponent("store", isDirectory: true)
        // Never in iCloud/iTunes backups.
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try? FileManager.default.createDirectory(at: support, withIntermediateDirectories: true)
        try? dir.setResourceValues(values)
        vault = KeychainKeyVault()
        unlock = UnlockController(storeDir: dir.path, vault: vault, dispatcher: dispatcher)
        shift = ShiftController(unlock: unlock, dispatcher: dispatcher)
        quickLog = QuickLogController(unlock: unlock, dispatcher: dispatcher)
        people = PersonSearchController(unlock: unlock, dispatcher: dispatcher)
        alerts = AlertCheckController(unlock: unlock, dispatcher: dispatcher)
        incident = IncidentController(unlock: unlock, dispatcher: dispatcher)
        sync = SyncController(unlock: unlock, dispatcher: dispatcher,
                              policy: SyncPolicy(avoidMetered: UserDefaults.standard.bool(forKey: "avoidMetered")))
    }
}

final class AppModel: ObservableObject {
    let holders = Holders()
    @Published var unlock: UnlockState = .lockedQuietly
    @Published var shift = ShiftState()
    @Published var quickLog = QuickLogState()
    @Published var people = PersonSearchState()
    @Published var alert = AlertCheckState.idle
    @Published var incident = IncidentState()
    @Published var sync = SyncState()

    init() {
        holders.unlock.state.observe { [weak self] v in self?.publish { $0.unlock = v } }
        holders.shift.state.observe { [weak self] v in self?.publish { $0.shift = v } }
        holders.quickLog.state.observe { [weak self] v in self?.publish { $0.quickLog = v } }
        holders.people.state.observe { [weak self] v in self?.publish { $0.people = v } }
        holders.alerts.state.observe { [weak self] v in self?.publish { $0.alert = v } }
        holders.incident.state.observe { [weak self] v in self?.publish { $0.incident = v } }
        holders.sync.state.observe { [weak self] v in self?.publish { $0.sync = v } }
    }

    private func publish(_ change: @escaping (AppModel) -> Void) {
        if Thread.isMainThread { change(self) } else { DispatchQueue.main.async { change(self) } }
    }

    /// Quick exit: lock (store released, screens cleared) and show a neutral cover. iOS has no
    /// public API to close an app; the cover stays until the next unlock, so a glance at the
    /// phone shows nothing, and leaving to the home screen is one swipe.
    @Published var covered = false

    func quickExit() {
        holders.unlock.quickExit()
        covered = true
    }
}
