import Foundation

/// How the person proved it is them.
public enum Credential {
    case pin(String)
    case biometric
}

public struct KeyVaultError: Error, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// Holds the 32-byte store key, protected by the platform (Keychain on iOS, see
/// `KeychainKeyVault`; `InMemoryKeyVault` for tests). Callers wipe the bytes after opening.
public protocol KeyVault: AnyObject {
    func hasKey() -> Bool
    func createKey(_ credential: Credential) throws -> Data
    func unwrapKey(_ credential: Credential) throws -> Data
    func forget()
    /// Whether `pin` is the unlock PIN, WITHOUT counting a failure (used to refuse a duress PIN
    /// equal to it). Vaults without a PIN answer false.
    func matchesPin(_ pin: String) -> Bool
}

extension KeyVault {
    public func matchesPin(_ pin: String) -> Bool { false }
}

/// Test vault: hands out the bytes it holds (a "wrong PIN" is modelled by holding other bytes).
public final class InMemoryKeyVault: KeyVault {
    private var key: Data?
    private let pin: String?
    /// `pin`, when given, is what `matchesPin` compares with.
    public init(key: Data?, pin: String? = nil) { self.key = key; self.pin = pin }
    public func matchesPin(_ pin: String) -> Bool { self.pin != nil && self.pin == pin }
    public func hasKey() -> Bool { key != nil }
    public func createKey(_ credential: Credential) throws -> Data {
        let k = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        key = k
        return k
    }
    public func unwrapKey(_ credential: Credential) throws -> Data {
        guard let k = key else { throw KeyVaultError("No key on this phone.") }
        return k
    }
    public func forget() { key = nil }
}

#if canImport(Security)
import Security
#if canImport(LocalAuthentication)
import LocalAuthentication
#endif

/// Keychain-held store key: a generic password item, this-device-only, readable only when the
/// device is unlocked and (with `.userPresence`) after Face ID / Touch ID / device passcode.
/// A PIN is an app-level second factor checked by the shell before calling this (see README).
public final class KeychainKeyVault: KeyVault {
    private let service = "org.outreach.store-key"
    private let account = "store"
    public init() {}

    private func access() -> SecAccessControl? {
        SecAccessControlCreateWithFlags(nil, kSecAttrAccessibleWhenUnlockedThisDeviceOnly, .userPresence, nil)
    }

    public func hasKey() -> Bool {
        var q = base()
        #if canImport(LocalAuthentication)
        let ctx = LAContext()
        ctx.interactionNotAllowed = true
        q[kSecUseAuthenticationContext as String] = ctx
        #endif
        let status = SecItemCopyMatching(q as CFDictionary, nil)
        return status == errSecSuccess || status == errSecInteractionNotAllowed
    }

    public func createKey(_ credential: Credential) throws -> Data {
        var bytes = [UInt8](repeating: 0, count: 32)
        guard SecRandomCopyBytes(kSecRandomDefault, bytes.count, &bytes) == errSecSuccess else {
            throw KeyVaultError("Could not make a key.")
        }
        var q = base()
        q[kSecValueData as String] = Data(bytes)
        if let a = access() { q[kSecAttrAccessControl as String] = a }
        SecItemDelete(base() as CFDictionary)
        guard SecItemAdd(q as CFDictionary, nil) == errSecSuccess else { throw KeyVaultError("Could not store the key.") }
        return Data(bytes)
    }

    public func unwrapKey(_ credential: Credential) throws -> Data {
        var q = base()
        q[kSecReturnData as String] = true
        q[kSecUseOperationPrompt as String] = "Unlock the outreach log"
        var out: AnyObject?
        let status = SecItemCopyMatching(q as CFDictionary, &out)
        guard status == errSecSuccess, let data = out as? Data else {
            throw KeyVaultError(status == errSecItemNotFound ? "No key on this phone." : "Unlock was refused.")
        }
        return data
    }

    public func forget() { SecItemDelete(base() as CFDictionary) }

    private func base() -> [String: Any] {
        [kSecClass as String: kSecClassGenericPassword, kSecAttrService as String: service, kSecAttrAccount as String: account]
    }
}
#endif
