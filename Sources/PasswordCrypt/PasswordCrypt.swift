internal import CArgon2
internal import CCrypt
internal import COpenSSL

/// Result of checking a password against a stored hash.
public enum PasswordVerification: Sendable, Equatable {
    /// The password is correct.
    case match
    /// The password is wrong (or empty, or the stored hash is empty).
    case mismatch
    /// The stored hash cannot be checked (unknown or malformed format, missing salt,
    /// legacy hash that modern libraries refuse, …). `reason` is a fixed, human-readable
    /// explanation that never contains the hash, the salt or the password, so it is safe to log.
    case unsupported(reason: String)
}

/// Synchronous password verification against the hash formats OpenEMR has stored over time.
///
/// All calls block the calling thread (bcrypt cost 12 or argon2 with default parameters take
/// tens to hundreds of milliseconds). From async code use ``PasswordVerifier``.
public enum PasswordCrypt {
    /// A PHP `password_hash(<random 64 hex chars>, PASSWORD_BCRYPT, ["cost" => 10])` hash whose
    /// plaintext is unknown. Verify the submitted password against it when the user does not
    /// exist (or has no usable hash) so that the response time does not reveal that fact.
    public static let timingDummyHash: String = "$2y$10$iUcZKGy65LHtTbOvCCWiselUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO"

    /// Same as ``timingDummyHash`` but with cost 12, the `PASSWORD_DEFAULT` cost of PHP ≥ 8.4
    /// (the official OpenEMR 7.0.4+ images). Use the one whose cost matches the real hashes.
    public static let timingDummyHashCost12: String = "$2y$12$CgdIf.DXLOEUKBjgQ8e12uXggjjra5o.A5Ll4EG4aRnzrWr4nfbq2"

    /// Detects the format of `storedHash`. Same as ``PasswordHashFormat/detect(_:)``.
    public static func format(of storedHash: String) -> PasswordHashFormat {
        PasswordHashFormat.detect(storedHash)
    }

    /// OpenEMR's `AuthHash::hashValid` whitelist (6.0 – 8.x): `true` only for hashes OpenEMR
    /// itself would try to verify (`$2y$` of length 60, `$argon2i$`, `$argon2id$`, `$2a$05$…`,
    /// `$6$rounds=…`). ``verify(password:storedHash:salt:)`` accepts more formats; callers that
    /// must never accept a hash OpenEMR rejects should check this first.
    public static func isAcceptedByOpenEMR(storedHash: String) -> Bool {
        let b = Array(storedHash.utf8)
        if b.hasPrefix("$2y$") { return b.count == 60 }
        return b.hasPrefix("$argon2i$") || b.hasPrefix("$argon2id$") || b.hasPrefix("$2a$05$")
            || b.hasPrefix("$6$rounds=")
    }

    /// Checks `password` against `storedHash`. Blocking; safe to call from any thread.
    ///
    /// - crypt families (bcrypt, SHA-512/256 crypt, MD5 crypt) go through libcrypt `crypt_r`
    ///   with a fresh heap-allocated work area; bcrypt only uses the first 72 bytes of the password.
    /// - argon2id / argon2i go through libargon2.
    /// - MD5 / SHA-1 hex are compared case-insensitively.
    /// - `$SHA1$` needs `salt` (the old `salt` column value, including its `$SHA1$` prefix).
    ///
    /// All comparisons are constant time. An empty password or empty hash is `.mismatch`; a
    /// password containing NUL never matches a crypt hash. Note the `$2a$05$`/`.`-at-28 case
    /// described at ``PasswordHashFormat/legacyBcrypt21``. This function accepts more formats than
    /// OpenEMR does; see ``isAcceptedByOpenEMR(storedHash:)``.
    ///
    /// - Parameters:
    ///   - password: The submitted password (any UTF-8; compared as its UTF-8 bytes).
    ///   - storedHash: The stored hash string.
    ///   - salt: Separate salt column, only used for ``PasswordHashFormat/openEMRSaltedSHA1``.
    public static func verify(password: String, storedHash: String, salt: String? = nil) -> PasswordVerification {
        if password.isEmpty || storedHash.isEmpty { return .mismatch }
        switch PasswordHashFormat.detect(storedHash) {
        case .bcrypt:
            return cryptVerify(password: password, storedHash: storedHash, bcrypt: true)
        case .sha512Crypt, .sha256Crypt, .md5Crypt:
            return cryptVerify(password: password, storedHash: storedHash, bcrypt: false)
        case .legacyBcrypt21:
            return legacyBcrypt21Verify(password: password, storedHash: storedHash)
        case .argon2id:
            return argon2Verify(password: password, storedHash: storedHash, id: true)
        case .argon2i:
            return argon2Verify(password: password, storedHash: storedHash, id: false)
        case .md5Hex:
            return hexDigestVerify(Array(password.utf8), storedHash: storedHash, md: EVP_md5())
        case .sha1Hex:
            return hexDigestVerify(Array(password.utf8), storedHash: storedHash, md: EVP_sha1())
        case .openEMRSaltedSHA1:
            guard let salt, !salt.isEmpty else {
                return .unsupported(
                    reason: "$SHA1$ salted hash needs the legacy salt column, which OpenEMR >= 6.0 no longer has")
            }
            // hash = "$SHA1$" + hex(sha1(salt ‖ password)); the salt keeps its "$SHA1$" prefix.
            let hexPart = String(decoding: Array(storedHash.utf8).dropFirst(6), as: UTF8.self)
            return hexDigestVerify(Array(salt.utf8) + Array(password.utf8), storedHash: hexPart, md: EVP_sha1())
        case .unknown:
            return .unsupported(reason: "unrecognised password hash format")
        }
    }

    // MARK: - crypt

    /// libxcrypt refuses passphrases of this many bytes or more (CRYPT_MAX_PASSPHRASE_SIZE).
    static let maxCryptPassphrase = 512
    /// bcrypt only ever reads this many password bytes.
    static let bcryptMaxBytes = 72

    enum CryptOutcome {
        case output([UInt8])
        case rejected
    }

    /// Runs `crypt_r(phrase, setting)` with a zeroed, heap-allocated `struct crypt_data` that is
    /// wiped and freed before returning. Returns `.rejected` when crypt returns NULL or a `*` token.
    static func crypt(phrase: [UInt8], setting: [UInt8]) -> CryptOutcome {
        let size = ccrypt_data_size()
        let data = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        data.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        defer {
            OPENSSL_cleanse(data, size)
            data.deallocate()
        }
        var phraseZ = phrase
        phraseZ.append(0)
        var settingZ = setting
        settingZ.append(0)
        defer { OPENSSL_cleanse(&phraseZ, phraseZ.count) }
        let result: [UInt8]? = phraseZ.withUnsafeBufferPointer { p in
            settingZ.withUnsafeBufferPointer { s in
                guard let pBase = p.baseAddress, let sBase = s.baseAddress else { return nil }
                let out = pBase.withMemoryRebound(to: CChar.self, capacity: p.count) { pc in
                    sBase.withMemoryRebound(to: CChar.self, capacity: s.count) { sc in
                        ccrypt_r(pc, sc, data)
                    }
                }
                guard let out else { return nil }
                return Array(UnsafeRawBufferPointer(start: out, count: strlenC(out)))
            }
        }
        guard let result, let first = result.first, first != UInt8(ascii: "*") else { return .rejected }
        return .output(result)
    }

    private static func strlenC(_ p: UnsafePointer<CChar>) -> Int {
        var n = 0
        while p[n] != 0 { n += 1 }
        return n
    }

    static func cryptVerify(password: String, storedHash: String, bcrypt: Bool) -> PasswordVerification {
        var phrase = Array(password.utf8)
        defer { OPENSSL_cleanse(&phrase, phrase.count) }
        // crypt takes a C string: a NUL would silently truncate the password.
        if phrase.contains(0) { return .mismatch }
        if bcrypt {
            if phrase.count > bcryptMaxBytes { phrase.removeLast(phrase.count - bcryptMaxBytes) }
        } else if phrase.count >= maxCryptPassphrase {
            return .mismatch
        }
        let stored = Array(storedHash.utf8)
        if stored.contains(0) { return .unsupported(reason: "stored crypt hash contains a NUL byte") }
        switch crypt(phrase: phrase, setting: stored) {
        case .rejected:
            return .unsupported(reason: "libcrypt rejected the stored hash (malformed or unsupported crypt setting)")
        case .output(let out):
            return constantTimeEqual(out, stored) ? .match : .mismatch
        }
    }

    /// OpenEMR `AuthHash::passwordVerify`: standard bcrypt first; if that fails and the hash is
    /// `$2a$05$` with `.` at index 28, retry crypt with salt = first 28 chars + `$`.
    static func legacyBcrypt21Verify(password: String, storedHash: String) -> PasswordVerification {
        if cryptVerify(password: password, storedHash: storedHash, bcrypt: true) == .match { return .match }
        var phrase = Array(password.utf8)
        defer { OPENSSL_cleanse(&phrase, phrase.count) }
        if phrase.contains(0) { return .mismatch }
        if phrase.count > bcryptMaxBytes { phrase.removeLast(phrase.count - bcryptMaxBytes) }
        let stored = Array(storedHash.utf8)
        let retrySetting = Array(stored.prefix(28)) + [UInt8(ascii: "$")]
        switch crypt(phrase: phrase, setting: retrySetting) {
        case .rejected:
            return .unsupported(
                reason: "possible pre-5.0 $2a$05$ hash with 21-char salt: standard bcrypt did not match and libcrypt rejects the legacy retry salt; password reset required")
        case .output(let out):
            return constantTimeEqual(out, stored) ? .match : .mismatch
        }
    }

    // MARK: - argon2

    static func argon2Verify(password: String, storedHash: String, id: Bool) -> PasswordVerification {
        var pwd = Array(password.utf8)
        defer { OPENSSL_cleanse(&pwd, pwd.count) }
        if storedHash.utf8.contains(0) { return .unsupported(reason: "stored argon2 hash contains a NUL byte") }
        let rc: Int32 = storedHash.withCString { encoded in
            pwd.withUnsafeBytes { p in
                id ? argon2id_verify(encoded, p.baseAddress, p.count) : argon2i_verify(encoded, p.baseAddress, p.count)
            }
        }
        if rc == ARGON2_OK.rawValue { return .match }
        if rc == ARGON2_VERIFY_MISMATCH.rawValue { return .mismatch }
        let message = argon2_error_message(rc).map { String(cString: $0) } ?? "error \(rc)"
        return .unsupported(reason: "libargon2 rejected the stored hash: \(message)")
    }

    // MARK: - hex digests

    static func hexDigestVerify(_ input: [UInt8], storedHash: String, md: OpaquePointer?) -> PasswordVerification {
        var input = input
        defer { OPENSSL_cleanse(&input, input.count) }
        guard let digest = Digest.evpDigest(md, input) else {
            return .unsupported(reason: "libcrypto could not compute the digest (algorithm unavailable)")
        }
        let computed = Array(Digest.hex(digest).utf8)
        let stored = storedHash.utf8.map(asciiLowercase)
        return constantTimeEqual(computed, stored) ? .match : .mismatch
    }

    @inline(__always)
    static func asciiLowercase(_ c: UInt8) -> UInt8 {
        (c >= 0x41 && c <= 0x5A) ? c | 0x20 : c
    }
}

/// Length check (which may return early: lengths are not secret), then `CRYPTO_memcmp`.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withUnsafeBytes { pa in
        b.withUnsafeBytes { pb in
            CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, pa.count) == 0
        }
    }
}
