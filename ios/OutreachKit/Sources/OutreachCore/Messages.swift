import Foundation
#if canImport(OutreachFFI)
import OutreachFFI
#endif

/// Maps the core's typed errors to on-screen text. Presentation only: the core decides what is
/// valid and names the field and rule; this gives the field a label. Never echoes input values.
public enum Messages {
    static let fieldLabels: [String: String] = [
        "encounter.zone": "Zone",
        "encounter.setting": "Setting",
        "encounter.contact_type": "Contact type",
        "encounter.services": "Services",
        "encounter.person": "Person",
        "encounter.note": "Note",
        "key": "Key",
        "shift.van": "Van",
        "shift.crew": "Crew",
        "shift.zones": "Zones",
    ]

    public static func label(_ field: String) -> String {
        if let l = fieldLabels[field] { return l }
        let last = field.split(separator: ".").last.map(String.init) ?? field
        return last.replacingOccurrences(of: "_", with: " ").capitalizedFirst
    }

    public static func of(_ error: Error) -> String {
        if let v = error as? KeyVaultError { return v.message }
        guard let e = error as? OutreachError else { return "Something went wrong. Restart the app." }
        switch e {
        case .WrongKey: return "That PIN or key does not open this phone's store."
        case .NoStore: return "No store on this phone yet. Set up the phone first."
        case .AlreadyExists: return "This phone already has a store."
        case .Corrupt(let code): return "The store cannot be read (\(code)). Call the lead."
        case .Invalid(let field, let reason): return "\(label(field)): \(reason)"
        case .NotFound(let kind): return "That \(kind) was not found."
        case .State(let reason): return reason.capitalizedFirst
        case .Network: return "Hub not reachable. Nothing is lost; sync will retry."
        case .Revoked: return "This phone was removed from the team. It can no longer sync."
        case .Hub(let code, let retryable): return retryable ? "Hub busy (\(code)); will retry." : "Hub refused (\(code))."
        case .Crypto: return "Synced data failed checks and was not applied. Tell the lead."
        case .Cancelled: return "Cancelled."
        case .Internal(let code): return "Something went wrong (\(code)). Restart the app."
        case .Wiped: return "This phone's data was wiped (the lead's order, or too long without a sync). Ask the lead to set it up again."
        }
    }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
