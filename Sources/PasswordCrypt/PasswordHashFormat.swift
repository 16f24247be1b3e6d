/// The kind of password hash found in an OpenEMR password column
/// (`users_secure.password`, `password_history1..4`, `patient_access_onsite.portal_pwd`,
/// or the legacy `users.password`).
///
/// Detection looks only at the shape of the string (prefix, length, alphabet). It never
/// proves a hash is well formed: `verify` reports `.unsupported` when the underlying
/// library rejects a hash of a recognised family.
public enum PasswordHashFormat: Sendable, Equatable {
    /// Blowfish crypt: `$2y$`, `$2a$` or `$2b$`, any cost. PHP's `PASSWORD_BCRYPT`/`PASSWORD_DEFAULT`.
    case bcrypt
    /// `$2a$05$` with `.` at index 28: possibly a pre-5.0.0 OpenEMR hash generated from a
    /// 21-character salt. About a quarter of ordinary `$2a$05$` hashes have this shape too,
    /// so verification tries standard bcrypt first and only then OpenEMR's legacy retry
    /// (salt = first 28 chars + `$`), which libxcrypt rejects. Hence for this shape a correct
    /// password gives `.match` but any other password gives `.unsupported`, never `.mismatch`:
    /// callers should still count that as a failed login attempt, as OpenEMR does.
    case legacyBcrypt21
    /// SHA-512 crypt, `$6$`, with or without `rounds=`.
    case sha512Crypt
    /// SHA-256 crypt, `$5$`.
    case sha256Crypt
    /// MD5 crypt, `$1$`.
    case md5Crypt
    /// `$argon2id$…` (PHP `PASSWORD_ARGON2ID`).
    case argon2id
    /// `$argon2i$…` (PHP `PASSWORD_ARGON2I`).
    case argon2i
    /// OpenEMR 4.1.1–5.0.x fallback: `$SHA1$` + 40 hex of sha1(salt ‖ password).
    /// Needs the separate salt column value to verify.
    case openEMRSaltedSHA1
    /// Unsalted MD5 as 32 hex digits (either case).
    case md5Hex
    /// Unsalted SHA-1 as 40 hex digits (either case).
    case sha1Hex
    /// Anything else.
    case unknown

    /// Detects the format of `storedHash` from its shape.
    public init(storedHash: String) {
        self = Self.detect(storedHash)
    }

    /// Detects the format of `storedHash` from its shape.
    public static func detect(_ storedHash: String) -> PasswordHashFormat {
        let b = Array(storedHash.utf8)
        if b.hasPrefix("$2y$") || b.hasPrefix("$2a$") || b.hasPrefix("$2b$") {
            if b.hasPrefix("$2a$05$"), b.count > 28, b[28] == UInt8(ascii: ".") {
                return .legacyBcrypt21
            }
            return .bcrypt
        }
        if b.hasPrefix("$6$") { return .sha512Crypt }
        if b.hasPrefix("$5$") { return .sha256Crypt }
        if b.hasPrefix("$1$") { return .md5Crypt }
        if b.hasPrefix("$argon2id$") { return .argon2id }
        if b.hasPrefix("$argon2i$") { return .argon2i }
        if b.hasPrefix("$SHA1$") {
            return b.count == 46 && b[6...].allSatisfy(isHexDigit) ? .openEMRSaltedSHA1 : .unknown
        }
        if b.allSatisfy(isHexDigit) {
            if b.count == 32 { return .md5Hex }
            if b.count == 40 { return .sha1Hex }
        }
        return .unknown
    }
}

@inline(__always)
func isHexDigit(_ c: UInt8) -> Bool {
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
}

extension Array where Element == UInt8 {
    @inline(__always)
    func hasPrefix(_ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard count >= n else { return false }
        return prefix.withUTF8Buffer { p in
            for i in 0..<n where self[i] != p[i] { return false }
            return true
        }
    }
}
