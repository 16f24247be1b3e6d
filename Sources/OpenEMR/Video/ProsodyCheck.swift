import Crypto
import Foundation
import _CryptoExtras

/// A JSON value as Lua's cjson sees it: booleans are not numbers, `null` is a value of its own.
public enum TokenJSON: Sendable, Equatable, Decodable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([TokenJSON])
    case object([String: TokenJSON])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([TokenJSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: TokenJSON].self)) }
    }

    public subscript(key: String) -> TokenJSON? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var string: String? { if case .string(let text) = self { text } else { nil } }

    /// Compact JSON with sorted keys.
    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .number(let value): return value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        case .string(let text):
            var writer = JSONWriter(capacity: text.utf8.count + 2)
            writer.string(text)
            return String(decoding: writer.bytes, as: UTF8.self)
        case .array(let values): return "[" + values.map(\.description).joined(separator: ",") + "]"
        case .object(let object):
            return "{" + object.keys.sorted().map { TokenJSON.string($0).description + ":" + (object[$0]?.description ?? "null") }.joined(separator: ",") + "}"
        }
    }
}

/// What Prosody does with a token, rule by rule, in its order (REFERENCE.md §2 and §3, `token/util.lib.lua` and
/// `luajwtjitsi.lib.lua` as of 2026): the first rule that refuses it, with Prosody's own message. Used by
/// `emr-bridge mint-token --verify` (what an admin wants first when a visit fails) and by the tests.
public struct ProsodyCheck: Sendable {
    /// The Prosody side: `signature_algorithm`, the key, accepted issuers and audiences, domain verification.
    public struct Configuration: Sendable {
        /// `signature_algorithm`: the one accepted `alg`.
        public var algorithm: String
        /// `app_secret` (HS*).
        public var secret: [UInt8]?
        /// The public key (RS*).
        public var publicKeyPEM: String?
        /// Key-server / keys-URL mode: header `kid` required, `alg` must start with `RS`.
        public var kidMode: Bool
        /// `asap_accepted_issuers` (`*` accepts any).
        public var acceptedIssuers: [String]
        /// `asap_accepted_audiences` (`*` accepts any; the claim must still be present).
        public var acceptedAudiences: [String] = ["*"]
        /// `asap_require_room_claim`.
        public var requireRoom = true
        /// `enable_domain_verification` (default true since 2022): `sub` must be the MUC base domain (or `*`).
        public var domainVerification = true
        /// `muc_mapper_domain_base`: what `sub` must equal (lowercased) with domain verification.
        public var mucDomainBase: String?

        public init(algorithm: String, secret: [UInt8]? = nil, publicKeyPEM: String? = nil, kidMode: Bool = false, acceptedIssuers: [String]) {
            self.algorithm = algorithm
            self.secret = secret
            self.publicKeyPEM = publicKeyPEM
            self.kidMode = kidMode
            self.acceptedIssuers = acceptedIssuers
        }

        /// How a Prosody configured for these settings checks tokens (the accepted audience is exactly the one we mint;
        /// for JaaS the same rules apply with `iss "chat"`).
        public init(settings: JitsiSettings, publicKeyPEM: String?) {
            self.init(
                algorithm: settings.algorithm.jwtAlgorithm, secret: settings.algorithm == .hs256 ? Array(settings.appSecret.utf8) : nil,
                publicKeyPEM: publicKeyPEM, kidMode: settings.algorithm != .hs256, acceptedIssuers: [settings.issuer]
            )
            acceptedAudiences = [settings.audienceClaim]
            mucDomainBase = settings.subClaim
            domainVerification = settings.algorithm != .jaas
        }
    }

    /// The outcome.
    public struct Verdict: Sendable {
        public var header: TokenJSON?
        public var claims: TokenJSON?
        /// nil: accepted. Else the rule (`§2.3 step 3`, …) and Prosody's message.
        public var refusal: (rule: String, message: String)?
        /// `mod_token_affiliation`'s decision (owner iff `moderator` is `true`/`"true"` or `affiliation` is
        /// owner/moderator/teacher).
        public var moderator: Bool

        public var accepted: Bool { refusal == nil }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration) { self.configuration = configuration }

    /// Checks `token` at `now` (integer Unix seconds: Prosody has no leeway). `roomNode`: the room JID node the client
    /// joins (nil: the one the web client derives from the `room` claim as a URL path).
    public func check(_ token: String, now: Int, roomNode: String? = nil) -> Verdict {
        var verdict = Verdict(header: nil, claims: nil, refusal: nil, moderator: false)
        func refuse(_ rule: String, _ message: String) -> Verdict {
            verdict.refusal = (rule, message)
            return verdict
        }
        // 1. Runs of characters other than '.' and '\', empty ones dropped; exactly three.
        let segments = token.split(whereSeparator: { $0 == "." || $0 == "\\" })
        guard segments.count == 3 else { return refuse("§2.3 step 1", "Invalid token") }
        // 2. base64url JSON.
        guard let headerBytes = Base64URL.decode(segments[0]), let header = try? JSONDecoder().decode(TokenJSON.self, from: Data(headerBytes)),
            case .object = header
        else { return refuse("§2.3 step 2", "Invalid header") }
        verdict.header = header
        guard let bodyBytes = Base64URL.decode(segments[1]), let body = try? JSONDecoder().decode(TokenJSON.self, from: Data(bodyBytes)),
            case .object = body
        else { return refuse("§2.3 step 2", "Invalid body") }
        verdict.claims = body
        guard let signature = Base64URL.decode(segments[2]) else { return refuse("§2.3 step 2", "Invalid signature") }
        let user = body["context"]?["user"]
        verdict.moderator = Self.isModerator(user)
        // 2.2 key selection in kid mode.
        if configuration.kidMode {
            guard header["kid"] != nil else { return refuse("§2.2", "'kid' claim is missing") }
            guard header["alg"]?.string?.hasPrefix("RS") == true else { return refuse("§2.2", "'kid' claim only support with RS family") }
        }
        // 3. typ exactly "JWT".
        guard header["typ"] == .string("JWT") else { return refuse("§2.3 step 3", "Invalid typ") }
        // 4. alg exactly the configured one.
        guard header["alg"] == .string(configuration.algorithm) else { return refuse("§2.3 step 4", "Invalid or incorrect alg") }
        // 5. Signature over header.payload (the first two segments as sent).
        let signingInput = Array(token.utf8.prefix(segments[0].utf8.count + 1 + segments[1].utf8.count))
        guard verifySignature(signature, over: signingInput) else { return refuse("§2.3 step 5", "Invalid signature") }
        // 6. exp / nbf must be numbers when present (null counts as present; false as absent).
        for name in ["exp", "nbf"] {
            switch body[name] {
            case nil, .bool(false): continue
            case .number: continue
            default: return refuse("§2.3 step 6", "\(name) must be number")
            }
        }
        // 7. now >= exp refused; 8. now < nbf refused. No leeway.
        if case .number(let exp) = body["exp"], Double(now) >= exp {
            return refuse("§2.3 step 7", "Not acceptable by exp (\(now - Int(exp)) sec since expired)")
        }
        if case .number(let nbf) = body["nbf"], Double(now) < nbf { return refuse("§2.3 step 8", "Not acceptable by nbf") }
        // 10. iss; 11. aud (string equality; an array only passes with "*").
        guard let iss = body["iss"] else { return refuse("§2.3 step 10", "'iss' claim is missing") }
        if !configuration.acceptedIssuers.contains("*") {
            guard let text = iss.string, configuration.acceptedIssuers.contains(text) else { return refuse("§2.3 step 10", "invalid 'iss' claim") }
        }
        guard let aud = body["aud"] else { return refuse("§2.3 step 11", "'aud' claim is missing") }
        if !configuration.acceptedAudiences.contains("*") {
            guard let text = aud.string, configuration.acceptedAudiences.contains(text) else { return refuse("§2.3 step 11", "invalid 'aud' claim") }
        }
        // 12. room; 13. sub (since May 2026).
        if configuration.requireRoom && body["room"] == nil { return refuse("§2.4 step 12", "room claim is missing") }
        guard let sub = body["sub"] else { return refuse("§2.4 step 13", "sub claim is missing") }
        // §3: the room check on join.
        guard let room = body["room"] else { return verdict }
        guard let claimRoom = room.string else { return refuse("§3.2", "room-name-does-not-match (room claim is not a string)") }
        let authRoom = Self.asciiLowercased(claimRoom)
        let node = roomNode ?? Self.roomNode(fromURLPath: claimRoom)
        if authRoom != "*" && authRoom != node {
            return refuse("§3.4", "room-name-does-not-match (the room JID node is \(node), the token's room \(authRoom))")
        }
        if configuration.domainVerification {
            guard let subText = sub.string else { return refuse("§3.4 step 4", "room-mismatch (sub is not a string)") }
            let authDomain = Self.asciiLowercased(subText)
            if authDomain != "*", let base = configuration.mucDomainBase, authDomain != Self.asciiLowercased(base) {
                return refuse("§3.4 step 4", "room-mismatch (sub \(authDomain) is not the XMPP domain \(Self.asciiLowercased(base)))")
            }
        }
        return verdict
    }

    private func verifySignature(_ signature: [UInt8], over input: [UInt8]) -> Bool {
        switch configuration.algorithm {
        case "HS256":
            guard let secret = configuration.secret else { return false }
            return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: input, using: SymmetricKey(data: secret))
        case "RS256":
            guard let pem = configuration.publicKeyPEM, let key = try? _RSA.Signing.PublicKey(pemRepresentation: pem) else { return false }
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: input, padding: .insecurePKCS1v1_5)
        default:
            return false
        }
    }

    /// `mod_token_affiliation`: owner iff `moderator` is `true` or `"true"`, or `affiliation` is owner/moderator/teacher.
    static func isModerator(_ user: TokenJSON?) -> Bool {
        if let moderator = user?["moderator"], moderator == .bool(true) || moderator == .string("true") { return true }
        if let affiliation = user?["affiliation"]?.string, ["owner", "moderator", "teacher"].contains(affiliation) { return true }
        return false
    }

    /// Lua's `string.lower`: `A`–`Z` only.
    public static func asciiLowercased(_ text: String) -> String {
        String(decoding: text.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// The room JID node Jitsi's web client makes of a URL path part (`getBackendSafeRoomName`): reserved characters
    /// stripped, lowercased, then `encodeURIComponent` with lowercase hex. (NFKC normalisation is not modelled.)
    public static func roomNode(fromURLPath path: String) -> String {
        let stripped = path.lowercased().filter { !":?#[]@!$&'()*+,;=><\"/".contains($0) }
        var node = ""
        for byte in stripped.utf8 {
            let isUnreserved =
                (byte >= 97 && byte <= 122) || (byte >= 65 && byte <= 90) || (byte >= 48 && byte <= 57) || "-_.!~*'()".utf8.contains(byte)
            if isUnreserved { node.unicodeScalars.append(UnicodeScalar(byte)) } else { node += String(format: "%%%02x", byte) }
        }
        return node
    }
}

extension TokenJSON: Encodable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Encoded as is (keys are never converted: Jitsi's option names are camelCase).
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .number(let value):
            var container = encoder.singleValueContainer()
            if value == value.rounded() && abs(value) < 1e15 { try container.encode(Int(value)) } else { try container.encode(value) }
        case .string(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .array(let values):
            var container = encoder.unkeyedContainer()
            for value in values { try container.encode(value) }
        case .object(let object):
            var container = encoder.container(keyedBy: Key.self)
            for key in object.keys.sorted() { try container.encode(object[key] ?? .null, forKey: Key(stringValue: key)) }
        }
    }
}
