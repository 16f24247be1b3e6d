internal import COpenSSL
internal import Crypto

/// Hash, HMAC, randomness and hex helpers, for use across the app.
///
/// SHA-256, SHA-1, MD5 and HMAC-SHA-256 come from swift-crypto (`Crypto`, BoringSSL underneath on Linux), random
/// bytes from the system CSPRNG (`SystemRandomNumberGenerator`: `getrandom` on Linux). SHA3-512 stays on OpenSSL
/// libcrypto (EVP): swift-crypto 3.x, the oldest release this package accepts, has no SHA-3 (4.x adds `SHA3_512`).
/// Constant-time comparison stays on `CRYPTO_memcmp`.
public enum Digest {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        if bytes.withContiguousStorageIfAvailable({ hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }) == nil {
            Array(bytes).withUnsafeBytes { hasher.update(bufferPointer: $0) }
        }
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    /// Lowercase hex SHA-256 of the UTF-8 bytes of `string`.
    public static func sha256Hex(_ string: String) -> String {
        digest(SHA256.self, string).withUnsafeBytes { hex($0) }
    }

    /// Lowercase hex SHA3-512 of the UTF-8 bytes of `string` (128 hex chars). This is the
    /// OpenEMR audit-log checksum (`log_comment_encrypt.checksum`, `checksum_api`).
    public static func sha3_512Hex(_ string: String) -> String {
        hex(required(evpDigest(EVP_sha3_512(), Array(string.utf8)), "SHA3-512"))
    }

    /// Lowercase hex SHA-1 of the UTF-8 bytes of `string`.
    public static func sha1Hex(_ string: String) -> String {
        digest(Insecure.SHA1.self, string).withUnsafeBytes { hex($0) }
    }

    /// Lowercase hex MD5 of the UTF-8 bytes of `string`.
    public static func md5Hex(_ string: String) -> String {
        digest(Insecure.MD5.self, string).withUnsafeBytes { hex($0) }
    }

    /// HMAC-SHA-256 of `message` under `key` (32 bytes). Any key length, including empty.
    public static func hmacSHA256(key: some Collection<UInt8>, message: some Collection<UInt8>) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: Array(key)))
        if message.withContiguousStorageIfAvailable({ hmac.update(data: UnsafeRawBufferPointer($0)) }) == nil {
            hmac.update(data: Array(message))
        }
        return hmac.finalize().withUnsafeBytes { Array($0) }
    }

    /// `count` cryptographically secure random bytes from the system CSPRNG (`SystemRandomNumberGenerator`:
    /// `getrandom` on Linux, `arc4random_buf` on Apple platforms), which never fails short of trapping.
    public static func randomBytes(count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var rng = SystemRandomNumberGenerator()
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var offset = 0
            while offset < count {
                withUnsafeBytes(of: rng.next() as UInt64) { word in
                    for byte in word where offset < count {
                        buffer[offset] = byte
                        offset += 1
                    }
                }
            }
            initialized = count
        }
    }

    /// Lowercase hex encoding of `bytes`.
    public static func hex(_ bytes: some Collection<UInt8>) -> String {
        let table: StaticString = "0123456789abcdef"
        var chars = [UInt8]()
        chars.reserveCapacity(bytes.count * 2)
        table.withUTF8Buffer { t in
            for b in bytes {
                chars.append(t[Int(b >> 4)])
                chars.append(t[Int(b & 0x0F)])
            }
        }
        return String(decoding: chars, as: UTF8.self)
    }

    /// Constant-time equality of two byte sequences. Only the lengths may leak (different
    /// lengths return `false` immediately); equal-length inputs are compared with `CRYPTO_memcmp`.
    public static func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        constantTimeEqual(Array(a), Array(b))
    }

    /// Constant-time equality of the UTF-8 bytes of two strings (e.g. tokens, hex checksums).
    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        constantTimeEqual(Array(a.utf8), Array(b.utf8))
    }

    // MARK: - internals

    /// One-shot swift-crypto digest of the UTF-8 bytes of `string` (no copy when the string is native UTF-8). The
    /// callers read the bytes through the concrete digest type's `withUnsafeBytes` (the generic one is Foundation's
    /// `ContiguousBytes`, which this module does not import).
    private static func digest<H: HashFunction>(_: H.Type, _ string: String) -> H.Digest {
        var string = string
        var hasher = H()
        string.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        return hasher.finalize()
    }

    /// One-shot OpenSSL `EVP_Digest` (SHA3-512 here; the legacy MD5/SHA-1 password hashes in `PasswordCrypt`);
    /// `nil` if libcrypto cannot provide or run the algorithm (e.g. MD5 under a FIPS-only configuration).
    static func evpDigest(_ md: OpaquePointer?, _ bytes: some Collection<UInt8>) -> [UInt8]? {
        guard let md else { return nil }
        let input = Array(bytes)
        var out = [UInt8](repeating: 0, count: 64)  // EVP_MAX_MD_SIZE
        var outLen: UInt32 = 0
        let ok = withNonNullBytes(input) { p, n in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(p, n, o.baseAddress, &outLen, md, nil) == 1
            }
        }
        guard ok, outLen > 0, outLen <= 64 else { return nil }
        return Array(out.prefix(Int(outLen)))
    }

    /// Calls `body` with a non-NULL pointer even for empty input (some OpenSSL entry points
    /// reject NULL with length 0).
    private static func withNonNullBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawPointer, Int) -> R) -> R {
        if bytes.isEmpty {
            let dummy: UInt8 = 0
            return withUnsafeBytes(of: dummy) { p in
                // `withUnsafeBytes(of:)` on a 1-byte value always has a base address.
                guard let base = p.baseAddress else { requiredFailure("buffer") }
                return body(base, 0)
            }
        }
        return bytes.withUnsafeBytes { p in
            guard let base = p.baseAddress else { requiredFailure("buffer") }
            return body(base, p.count)
        }
    }

    private static func required(_ value: [UInt8]?, _ what: StaticString) -> [UInt8] {
        guard let value else { requiredFailure(what) }
        return value
    }

    /// The standard digests cannot fail in a working libcrypto; if they do (broken install,
    /// provider missing) continuing would produce wrong checksums, so stop loudly.
    private static func requiredFailure(_ what: StaticString) -> Never {
        fatalError("libcrypto failed to compute \(what); OpenSSL installation or provider configuration is broken")
    }
}
