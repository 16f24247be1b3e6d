import Crypto
import Foundation
import _CryptoExtras

/// Who a token is for. Every field is a string or a boolean (never null, never a number: Jitsi's client breaks on
/// those); `email` and `avatar` are left out unless set, because Jitsi broadcasts every user field to every participant.
public struct JitsiUser: Sendable, Equatable {
    public var id: String
    public var name: String
    public var email: String?
    public var avatar: String?
    public var moderator: Bool

    public init(id: String, name: String, email: String? = nil, avatar: String? = nil, moderator: Bool) {
        self.id = id
        self.name = name
        self.email = email
        self.avatar = avatar
        self.moderator = moderator
    }
}

/// The claims of one token (REFERENCE.md §9): integers for `iat`/`nbf`/`exp`, one string for `aud`, `sub` and `room`
/// always present.
public struct JitsiClaims: Sendable, Equatable {
    public var room: String
    public var user: JitsiUser
    public var issuedAt: Int
    public var notBefore: Int
    public var expiresAt: Int
    /// `context.features`, always set explicitly (a missing key is "denied" for Prosody, a missing object "allowed for
    /// moderators").
    public var features: [(key: String, value: Bool)]

    public init(room: String, user: JitsiUser, issuedAt: Int, notBefore: Int, expiresAt: Int, features: [(key: String, value: Bool)]) {
        self.room = room
        self.user = user
        self.issuedAt = issuedAt
        self.notBefore = notBefore
        self.expiresAt = expiresAt
        self.features = features
    }

    public static func == (lhs: JitsiClaims, rhs: JitsiClaims) -> Bool {
        lhs.room == rhs.room && lhs.user == rhs.user && lhs.issuedAt == rhs.issuedAt && lhs.notBefore == rhs.notBefore
            && lhs.expiresAt == rhs.expiresAt && lhs.features.map(\.key) == rhs.features.map(\.key)
            && lhs.features.map(\.value) == rhs.features.map(\.value)
    }

    /// The feature keys both Prosody and Jitsi's client know. The provider (moderator) gets chat and screen sharing,
    /// and recording only when `JITSI_RECORDING_ENABLED`; the patient gets every feature `false`.
    public static func features(moderator: Bool, recording: Bool) -> [(key: String, value: Bool)] {
        [
            ("recording", moderator && recording), ("livestreaming", false), ("transcription", false), ("outbound-call", false),
            ("sip-outbound-call", false), ("inbound-call", false), ("sip-inbound-call", false), ("file-upload", false),
            ("create-polls", false), ("send-groupchat", moderator), ("screen-sharing", moderator), ("flip", false), ("list-visitors", false),
        ]
    }

    /// `nbf`: the window's opening, and never later than a minute before minting (Prosody allows no clock skew).
    public static func notBefore(windowOpens: Int, now: Int) -> Int { min(windowOpens, now - 60) }
}

/// A key that cannot sign for the configured algorithm. The message never quotes the key.
public struct JitsiKeyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Signs Jitsi tokens with a key parsed once: HMAC-SHA-256 (swift-crypto) or RSA PKCS#1 v1.5 SHA-256
/// (swift-crypto's `_RSA`).
///
/// Minting is on the hot path of `start`/`join` and of benchmark 6, so the work that does not depend on the claims is
/// done once here: the header segment, the constant start of the payload (`aud`, `iss`, `sub`), and for HS256 the
/// HMAC key schedule (the inner and outer SHA-256 states after the padded key). A token then costs one JSON buffer,
/// one string, and the hashing of its own bytes; the segments are base64url-encoded straight into the string's
/// storage and the signature is computed over that storage in place (no intermediate arrays, no generic
/// `DataProtocol` paths).
public struct JitsiSigner: Sendable {
    enum Key: Sendable {
        /// The HMAC with its key already absorbed; copied per token (swift-crypto's hashers copy on write).
        case hmac(HMAC<SHA256>)
        case rsa(_RSA.Signing.PrivateKey)
    }

    public let settings: JitsiSettings
    let key: Key
    /// base64url of the header JSON.
    let headerSegment: [UInt8]
    /// `{"aud":…,"iss":…,"sub":…,"room":`: the payload's start, the same for every token of these settings.
    let payloadPrefix: [UInt8]
    /// The `features` objects every visit token carries (`JitsiClaims.features(moderator:recording:)`, four of them),
    /// written once; other feature lists are written per token.
    let standardFeatures: [(features: [(key: String, value: Bool)], json: [UInt8])]

    public init(settings: JitsiSettings) throws {
        self.settings = settings
        switch settings.algorithm {
        case .hs256:
            guard !settings.appSecret.isEmpty else { throw JitsiKeyError(message: "HS256 needs JITSI_APP_SECRET.") }
            // Prosody uses the configured string's raw bytes as the HMAC key (never base64-decoded).
            key = .hmac(HMAC<SHA256>(key: SymmetricKey(data: Array(settings.appSecret.utf8))))
        case .rs256, .jaas:
            let pem = settings.privateKeyPEM
            guard pem.contains("PRIVATE KEY") else {
                throw JitsiKeyError(message: "is not a PEM private key (\(settings.algorithm.rawValue) needs an RSA private key).")
            }
            do {
                let privateKey = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
                key = .rsa(privateKey)
            } catch {
                throw JitsiKeyError(message: "is not an RSA private key of 2048 bits or more (\(settings.algorithm.rawValue) needs one).")
            }
        }
        var header = JSONWriter(capacity: 96)
        header.raw("{\"alg\":")
        header.string(settings.algorithm.jwtAlgorithm)
        header.raw(",\"typ\":\"JWT\"")
        if settings.algorithm != .hs256 {
            header.raw(",\"kid\":")
            header.string(settings.keyID)
        }
        header.raw("}")
        headerSegment = Base64URL.encode(header.bytes)
        var prefix = JSONWriter(capacity: 160)
        prefix.raw("{\"aud\":")
        prefix.string(settings.audienceClaim)
        prefix.raw(",\"iss\":")
        prefix.string(settings.issuer)
        prefix.raw(",\"sub\":")
        prefix.string(settings.subClaim)
        prefix.raw(",\"room\":")
        payloadPrefix = prefix.bytes
        standardFeatures = [(true, true), (true, false), (false, true), (false, false)].map { moderator, recording in
            let features = JitsiClaims.features(moderator: moderator, recording: recording)
            var json = JSONWriter(capacity: 320)
            Self.write(features, into: &json)
            return (features, json.bytes)
        }
    }

    /// `{"key":bool,…}`.
    static func write(_ features: [(key: String, value: Bool)], into json: inout JSONWriter) {
        json.raw("{")
        for (index, feature) in features.enumerated() {
            if index > 0 { json.raw(",") }
            json.string(feature.key)
            if feature.value { json.raw(":true") } else { json.raw(":false") }
        }
        json.raw("}")
    }

    /// The JSON of `features`: a standard list's prepared text (compared key by key), else written now.
    func write(features: [(key: String, value: Bool)], into json: inout JSONWriter) {
        for standard in standardFeatures where standard.features.count == features.count {
            var same = true
            for index in features.indices where features[index].key != standard.features[index].key || features[index].value != standard.features[index].value {
                same = false
                break
            }
            if same { return json.raw(standard.json) }
        }
        Self.write(features, into: &json)
    }

    /// The public key (PEM) that verifies this signer's RS256 tokens; nil for HS256.
    public var publicKeyPEM: String? {
        if case .rsa(let key) = key { return key.publicKey.pemRepresentation }
        return nil
    }

    /// The payload JSON of `claims` under these settings.
    public func payload(_ claims: JitsiClaims) -> [UInt8] {
        var json = JSONWriter(capacity: payloadPrefix.count + 480 + claims.user.name.utf8.count)
        json.raw(payloadPrefix)
        json.string(claims.room)
        json.raw(",\"iat\":")
        json.int(claims.issuedAt)
        json.raw(",\"nbf\":")
        json.int(claims.notBefore)
        json.raw(",\"exp\":")
        json.int(claims.expiresAt)
        json.raw(",\"context\":{\"user\":{\"id\":")
        json.string(claims.user.id)
        json.raw(",\"name\":")
        json.string(claims.user.name)
        if let email = claims.user.email {
            json.raw(",\"email\":")
            json.string(email)
        }
        if let avatar = claims.user.avatar {
            json.raw(",\"avatar\":")
            json.string(avatar)
        }
        if claims.user.moderator {
            json.raw(",\"moderator\":true,\"affiliation\":\"owner\",\"lobby_bypass\":true}")
        } else {
            json.raw(",\"moderator\":false,\"affiliation\":\"member\"}")
        }
        json.raw(",\"features\":")
        write(features: claims.features, into: &json)
        json.raw("}}")
        return json.bytes
    }

    /// The signed token `header.payload.signature` (base64url, no padding), written into the string's own storage:
    /// the signing input first, then the signature taken over those bytes in place.
    public func mint(_ claims: JitsiClaims) throws -> String {
        let payload = self.payload(claims)
        let signatureCount: Int
        switch key {
        case .hmac: signatureCount = SHA256.byteCount
        case .rsa(let privateKey): signatureCount = (privateKey.keySizeInBits + 7) / 8  // PKCS#1 v1.5: the modulus' size
        }
        let length = headerSegment.count + 1 + Base64URL.encodedCount(payload.count) + 1 + Base64URL.encodedCount(signatureCount)
        return try String(unsafeUninitializedCapacity: length) { buffer in
            var end = 0
            headerSegment.withUnsafeBufferPointer { header in
                _ = UnsafeMutableBufferPointer(rebasing: buffer[0..<header.count]).initialize(fromContentsOf: header)
                end = header.count
            }
            buffer[end] = UInt8(ascii: ".")
            end += 1
            payload.withUnsafeBytes { end = Base64URL.encode($0, into: buffer, at: end) }
            let input = UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[0..<end]))
            buffer[end] = UInt8(ascii: ".")
            end += 1
            switch key {
            case .hmac(let keyed):
                var mac = keyed
                mac.update(data: input)
                mac.finalize().withUnsafeBytes { end = Base64URL.encode($0, into: buffer, at: end) }
            case .rsa(let privateKey):
                let signature = try privateKey.signature(for: input, padding: .insecurePKCS1v1_5).rawRepresentation
                guard signature.count == signatureCount else { throw JitsiKeyError(message: "made an RSA signature of an unexpected size.") }
                signature.withUnsafeBytes { end = Base64URL.encode($0, into: buffer, at: end) }
            }
            return end
        }
    }
}

/// base64url without padding (RFC 7515 §2), as JWTs use it.
public enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    /// Every 12-bit value's two characters, as they lie in memory (8 KiB): one lookup per two characters.
    private static let pairs: [UInt16] = (0..<4096).map { value in
        UInt16(alphabet[value >> 6]) | UInt16(alphabet[value & 63]) << 8
    }

    /// The length of the encoding of `count` bytes (no padding).
    public static func encodedCount(_ count: Int) -> Int { (count * 4 + 2) / 3 }

    public static func encode(_ input: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        encode(input, into: &output)
        return output
    }

    public static func encode(_ input: [UInt8], into output: inout [UInt8]) {
        let count = encodedCount(input.count)
        let encoded = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = input.withUnsafeBytes { encode($0, into: buffer, at: 0) }
        }
        output.append(contentsOf: encoded)
    }

    /// Encodes `source` into `output` from index `start` (the caller sized it: `encodedCount`); returns the index
    /// after the last character written.
    @discardableResult
    public static func encode(_ source: UnsafeRawBufferPointer, into output: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
        let length = source.count
        precondition(start >= 0 && start + encodedCount(length) <= output.count, "base64url output too small")
        guard length > 0, let base = output.baseAddress else { return start }
        let destination = UnsafeMutableRawPointer(base)
        var index = 0, out = start
        pairs.withUnsafeBufferPointer { pairs in
            while index + 3 <= length {
                let value = Int(source[index]) << 16 | Int(source[index + 1]) << 8 | Int(source[index + 2])
                destination.storeBytes(of: pairs[value >> 12].littleEndian, toByteOffset: out, as: UInt16.self)
                destination.storeBytes(of: pairs[value & 0xFFF].littleEndian, toByteOffset: out + 2, as: UInt16.self)
                index += 3
                out += 4
            }
        }
        return alphabet.withUnsafeBufferPointer { table in
            let rest = length - index
            if rest == 1 {
                let value = UInt32(source[index]) << 16
                output[out] = table[Int(value >> 18 & 63)]
                output[out + 1] = table[Int(value >> 12 & 63)]
                out += 2
            } else if rest == 2 {
                let value = UInt32(source[index]) << 16 | UInt32(source[index + 1]) << 8
                output[out] = table[Int(value >> 18 & 63)]
                output[out + 1] = table[Int(value >> 12 & 63)]
                output[out + 2] = table[Int(value >> 6 & 63)]
                out += 3
            }
            return out
        }
    }

    /// Decodes base64url as luajwtjitsi does: `=` padding ignored, `+` and `/` refused. Nil when malformed.
    public static func decode(_ text: Substring) -> [UInt8]? {
        var values: [UInt8] = []
        values.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case 65...90: values.append(byte - 65)
            case 97...122: values.append(byte - 71)
            case 48...57: values.append(byte + 4)
            case UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "_"): values.append(63)
            case UInt8(ascii: "="): continue
            default: return nil
            }
        }
        if values.count % 4 == 1 { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(values.count * 3 / 4)
        var index = 0
        while index + 4 <= values.count {
            let value = UInt32(values[index]) << 18 | UInt32(values[index + 1]) << 12 | UInt32(values[index + 2]) << 6 | UInt32(values[index + 3])
            output.append(UInt8(value >> 16 & 0xFF))
            output.append(UInt8(value >> 8 & 0xFF))
            output.append(UInt8(value & 0xFF))
            index += 4
        }
        let rest = values.count - index
        if rest >= 2 {
            var value = UInt32(values[index]) << 18 | UInt32(values[index + 1]) << 12
            if rest == 3 { value |= UInt32(values[index + 2]) << 6 }
            output.append(UInt8(value >> 16 & 0xFF))
            if rest == 3 { output.append(UInt8(value >> 8 & 0xFF)) }
        }
        return output
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// In-process minting speed (the hidden `emr-bridge mint-token --bench N`, benchmark 6): tokens per CPU-second of
/// one thread, HS256 with a 48-byte secret and RS256 with a fresh 2048-bit key, for a provider token of a visit.
public enum JitsiMintBenchmark {
    public struct Result: Sendable {
        public var hs256PerSecond: Double
        public var rs256PerSecond: Double
    }

    /// This thread's CPU time: the first field of Linux's `/proc/thread-self/schedstat` (nanoseconds on a CPU); the wall
    /// clock elsewhere. (No `timespec`: which C module declares it differs between clean and incremental builds.)
    static func cpuSeconds() -> Double {
        if let text = try? String(contentsOfFile: "/proc/thread-self/schedstat", encoding: .utf8),
            let first = text.split(separator: " ").first, let nanoseconds = Double(first)
        {
            return nanoseconds / 1e9
        }
        return Date().timeIntervalSince1970
    }

    /// Mints `count` HS256 tokens and `count / 20` RS256 tokens (RSA signing is ~100x slower).
    public static func run(count: Int) throws -> Result {
        var settings = JitsiSettings()
        settings.domain = "meet.example.com"
        settings.appID = "emr-bridge"
        settings.appSecret = String(repeating: "k", count: 48)
        let hs = try JitsiSigner(settings: settings)
        settings.algorithm = .rs256
        settings.keyID = "emr-bridge/bench"
        settings.privateKeyPEM = try _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation
        let rs = try JitsiSigner(settings: settings)
        let now = Int(Date().timeIntervalSince1970)
        let claims = JitsiClaims(
            room: "v-abcdefghijklmnopqrstuvwxyz234567", user: JitsiUser(id: "u-0123456789abcdef01234567", name: "Dr Jane Smith", moderator: true),
            issuedAt: now, notBefore: now - 60, expiresAt: now + 3600, features: JitsiClaims.features(moderator: true, recording: false)
        )
        func rate(_ signer: JitsiSigner, _ n: Int) throws -> Double {
            var total = 0
            let start = cpuSeconds()
            for _ in 0..<n { total &+= try signer.mint(claims).utf8.count }
            let seconds = cpuSeconds() - start
            precondition(total > 0)
            return Double(n) / max(seconds, 1e-9)
        }
        _ = try rate(hs, min(count, 1000))
        return Result(hs256PerSecond: try rate(hs, count), rs256PerSecond: try rate(rs, max(10, count / 20)))
    }
}
