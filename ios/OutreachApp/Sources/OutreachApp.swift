import SwiftUI
import OutreachCore

@main
struct OutreachApp: App {
    @StateObject private var model = AppModel()
    @Environment(\.scenePhase) private var phase

    init() {
        BackgroundSync.register()
    }

    var body: some Scene {
        WindowGroup {
            ZStack {
                RootView().environmentObject(model)
                // Privacy screen: the app switcher snapshot is taken while inactive, so the
                // cover goes up before it and the log never appears there.
                if phase != .active {
                    Color.black.ignoresSafeArea().overlay(Text("Van log").foregroundColor(.gray))
                }
            }
            .preferredColorScheme(.dark)
        }
        .onChange(of: phase) { newPhase in
            if newPhase == .background {
                model.holders.unlock.lock() // leaving the app locks it
                BackgroundSync.schedule(model.holders.sync)
            }
        }
    }
}
