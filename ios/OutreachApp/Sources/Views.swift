import SwiftUI
import OutreachCore
import OutreachFFI
import Network

// Views only render holder state and forward events; rules live in OutreachCore or the core.

private let target: CGFloat = 64 // big touch targets for gloves and moving vans

struct RootView: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        NavigationStack {
            Group {
                if model.covered {
                    Color.black.ignoresSafeArea().onTapGesture(count: 3) { model.covered = false }
                } else if case .unlocked = model.unlock {
                    MainTabs()
                } else {
                    UnlockView()
                }
            }
            .toolbar {
                ToolbarItem(placement: .topBarTrailing) {
                    Button("EXIT") { model.quickExit() }
                        .font(.title3.bold()).frame(minWidth: target, minHeight: 44)
                        .buttonStyle(.borderedProminent).tint(.red)
                }
            }
        }
        .background(Color.black)
    }
}

struct UnlockView: View {
    @EnvironmentObject var model: AppModel
    @State private var pin = ""

    var body: some View {
        VStack(spacing: 16) {
            Text("Locked").font(.largeTitle)
            SecureField("PIN", text: $pin).keyboardType(.numberPad).font(.title).textFieldStyle(.roundedBorder)
            if case .locked(let message?) = model.unlock { Text(message).foregroundColor(.red) }
            BigButton(title: model.unlock == .unlocking ? "Unlocking…" : "Unlock") {
                model.holders.unlock.unlock(.pin(pin)); pin = ""
            }
            BigButton(title: "Face ID") { model.holders.unlock.unlock(.biometric) }
        }.padding(24)
    }
}

struct MainTabs: View {
    var body: some View {
        TabView {
            QuickLogView().tabItem { Text("Log") }
            ShiftView().tabItem { Text("Shift") }
            PersonView().tabItem { Text("People") }
            AlertView().tabItem { Text("Alert") }
            IncidentView().tabItem { Text("Incident") }
            SyncView().tabItem { Text("Sync") }
        }
    }
}

struct Chips: View {
    let options: [String]
    let selected: String?
    let error: String?
    let pick: (String) -> Void

    var body: some View {
        VStack(alignment: .leading) {
            LazyVGrid(columns: [GridItem(.adaptive(minimum: 120))], spacing: 8) {
                ForEach(options, id: \.self) { o in
                    Button(o) { pick(o) }
                        .frame(maxWidth: .infinity, minHeight: target)
                        .background(o == selected ? Color.orange : Color(white: 0.15))
                        .foregroundColor(o == selected ? .black : .white)
                        .clipShape(RoundedRectangle(cornerRadius: 12))
                }
            }
            if let error { Text(error).foregroundColor(.red) }
        }
    }
}

struct QuickLogView: View {
    @EnvironmentObject var model: AppModel
    var log: QuickLogController { model.holders.quickLog }

    var body: some View {
        let s = model.quickLog
        ScrollView {
            VStack(alignment: .leading, spacing: 12) {
                Text("Zone"); Chips(options: s.zones, selected: s.zone, error: s.fieldErrors["encounter.zone"], pick: log.pickZone)
                Text("Setting"); Chips(options: s.settings, selected: s.setting, error: s.fieldErrors["encounter.setting"], pick: log.pickSetting)
                Text("Contact"); Chips(options: s.contactTypes, selected: s.contactType, error: s.fieldErrors["encounter.contact_type"], pick: log.pickContactType)
                Text("Services")
                ForEach(s.services, id: \.self) { service in
                    HStack {
                        Button("−") { log.decrement(service) }.frame(width: target, height: target).background(Color(white: 0.15))
                        Text("\(s.counts[service] ?? 0)").frame(width: 40)
                        Button("+") { log.increment(service) }.frame(width: target, height: target).background(Color.orange).foregroundColor(.black)
                        Text(service)
                    }.font(.title2)
                }
                Text("Person: \(s.personLabel ?? "not recorded") (pick in People)")
                TextField("Note (optional)", text: Binding(get: { s.note }, set: log.setNote)).textFieldStyle(.roundedBorder)
                if let m = s.message { Text(m).foregroundColor(.red) }
                BigButton(title: "Log contact") { log.submit() }
                Text("Tonight: \(s.night.count) contacts").font(.title2)
                ForEach(s.night.reversed(), id: \.id) { e in
                    Text("\(e.input.zone) · \(e.input.setting) · \(e.input.contactType)")
                }
            }.padding()
        }
        .onAppear { log.load() }
    }
}

struct ShiftView: View {
    @EnvironmentObject var model: AppModel
    @State private var van = ""
    @State private var crew = ""
    @State private var zones: Set<String> = []

    var body: some View {
        let s = model.shift
        VStack(alignment: .leading, spacing: 12) {
            if let current = s.current {
                Text("On shift: \(current.van) · \(current.zones.joined(separator: ", "))").font(.title2)
                BigButton(title: "End shift") { model.holders.shift.end() }
            } else {
                TextField("Van", text: $van).textFieldStyle(.roundedBorder)
                TextField("Crew (handles, comma-separated)", text: $crew).textFieldStyle(.roundedBorder)
                ForEach(s.teamZones, id: \.self) { z in
                    Toggle(z, isOn: Binding(get: { zones.contains(z) }, set: { on in if on { zones.insert(z) } else { zones.remove(z) } }))
                        .frame(minHeight: target)
                }
                BigButton(title: "Start shift") {
                    model.holders.shift.start(van: van, crew: crew.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }, zones: Array(zones))
                }
            }
            if let m = s.message { Text(m).foregroundColor(.red) }
            Spacer()
        }.padding().onAppear { model.holders.shift.refresh() }
    }
}

struct PersonView: View {
    @EnvironmentObject var model: AppModel
    var body: some View {
        let s = model.people
        VStack {
            TextField("Street / code name", text: Binding(get: { s.query }, set: { model.holders.people.search($0) }))
                .textFieldStyle(.roundedBorder).font(.title3)
            if let m = s.message { Text(m) }
            List(s.matches, id: \.id) { m in
                Button("\(m.codeName) · \(m.ageBand)") { model.holders.quickLog.pickPerson(id: m.mergedInto ?? m.id, label: m.codeName) }
                    .frame(minHeight: target)
            }
        }.padding()
    }
}

struct AlertView: View {
    @EnvironmentObject var model: AppModel
    @State private var value = ""
    @State private var kind = IdentifierKind.plate

    var body: some View {
        VStack(alignment: .leading, spacing: 12) {
            Picker("Kind", selection: $kind) {
                Text("Plate").tag(IdentifierKind.plate); Text("Phone").tag(IdentifierKind.phone)
                Text("Email").tag(IdentifierKind.email); Text("Username").tag(IdentifierKind.username)
            }.pickerStyle(.segmented)
            TextField("Plate, phone, email or username", text: $value).textFieldStyle(.roundedBorder).font(.title3)
            BigButton(title: "Check") { model.holders.alerts.check(kind: kind, value: value) }
            switch model.alert {
            case .match(let matches):
                ForEach(matches, id: \.alert) { m in Text("WARNING (\(m.risk)): \(m.description)").font(.title2).foregroundColor(.red) }
            case .noMatch: Text("No alert on this phone for that.")
            case .error(let msg): Text(msg).foregroundColor(.red)
            case .checking: ProgressView()
            case .idle: EmptyView()
            }
            Spacer()
        }.padding()
    }
}

struct IncidentView: View {
    @EnvironmentObject var model: AppModel
    var inc: IncidentController { model.holders.incident }

    var body: some View {
        let f = model.incident.form
        Form {
            TextField("What happened (type)", text: Binding(get: { f.kind }, set: { v in inc.edit { $0.kind = v } }))
            TextField("Where", text: Binding(get: { f.place }, set: { v in inc.edit { $0.place = v } }))
            TextField("Injuries (optional)", text: Binding(get: { f.injuries }, set: { v in inc.edit { $0.injuries = v } }))
            TextField("Share with police", text: Binding(get: { f.sharePolice }, set: { v in inc.edit { $0.sharePolice = v } }))
            TextField("Share with national scheme", text: Binding(get: { f.shareNational }, set: { v in inc.edit { $0.shareNational = v } }))
            ForEach(Array(model.incident.fieldErrors.values), id: \.self) { Text($0).foregroundColor(.red) }
            if let m = model.incident.message { Text(m).foregroundColor(.red) }
            if model.incident.saved != nil { Text("Saved.") }
            BigButton(title: "Save incident") { inc.submit() }
        }
    }
}

struct SyncView: View {
    @EnvironmentObject var model: AppModel
    var body: some View {
        let s = model.sync
        VStack(alignment: .leading, spacing: 12) {
            if let st = s.status {
                Text(st.registered ? "Waiting to send: \(st.outbox)" : "Not connected to a hub yet").font(.title2)
                if let e = st.lastError { Text("Last problem: \(e)") }
            }
            if let p = s.progress, let total = p.chunksTotal, total > 0 {
                ProgressView(value: Double(p.chunksDone), total: Double(total))
            } else if s.running { ProgressView() }
            if let m = s.message { Text(m) }
            if s.running {
                BigButton(title: "Cancel") { model.holders.sync.cancel() }
            } else {
                BigButton(title: "Sync now") {
                    let path = BackgroundSync.currentPath // the shell reads connectivity; the policy decides
                    model.holders.sync.maybeSync(.userRequested, connected: path.status == .satisfied, metered: path.isExpensive)
                }
            }
            DuressPinSection()
            Spacer()
        }.padding().onAppear { model.holders.sync.refreshStatus() }
    }
}

/// Duress PIN: typed at the unlock screen it wipes this phone's store and key
/// (logic: OutreachCore's UnlockController).
struct DuressPinSection: View {
    @EnvironmentObject var model: AppModel
    @State private var pin = ""
    @State private var note: String?
    var body: some View {
        VStack(alignment: .leading, spacing: 8) {
            Text("Duress PIN").font(.headline)
            Text("Typed at the unlock screen instead of your PIN, it wipes this phone's data. Unsynced records are lost.")
            SecureField("Duress PIN", text: $pin).keyboardType(.numberPad)
            if let n = note { Text(n) }
            BigButton(title: "Set duress PIN") {
                let p = pin
                pin = ""
                model.holders.unlock.setDuressPin(p) { note = $0 ?? "Duress PIN set." }
            }
            BigButton(title: "Remove duress PIN") {
                model.holders.unlock.clearDuressPin { note = $0 ?? "Duress PIN removed." }
            }
        }
    }
}

struct BigButton: View {
    let title: String
    let action: () -> Void
    var body: some View {
        Button(action: action) { Text(title).font(.title2.bold()).frame(maxWidth: .infinity, minHeight: target) }
            .buttonStyle(.borderedProminent).tint(.orange).foregroundColor(.black)
    }
}
