import Foundation

/// How tokens are signed and which claims say who issued them (`JITSI_JWT_ALGORITHM`).
public enum JitsiAlgorithm: String, Sendable, CaseIterable {
    /// Self-hosted Prosody with `app_secret`: HMAC-SHA-256, `iss` = app id.
    case hs256 = "HS256"
    /// Self-hosted Prosody with a key server / keys URL: RSA PKCS#1 v1.5 SHA-256, header `kid`.
    case rs256 = "RS256"
    /// 8x8 JaaS: RS256, `iss "chat"`, `aud "jitsi"`, `sub` = the AppID, `context.features` always present.
    case jaas = "JAAS"

    /// The `alg` header value.
    public var jwtAlgorithm: String { self == .hs256 ? "HS256" : "RS256" }

    /// Case-insensitive parse of `HS256`, `RS256`, `JAAS`.
    public init?(text: String) {
        guard let value = JitsiAlgorithm(rawValue: text.trimmingCharacters(in: .whitespaces).uppercased()) else { return nil }
        self = value
    }
}

/// The Jitsi settings in force for one facility: the `JITSI_*` environment, with an admin's per-facility overrides
/// (`mmt_video_settings`) applied. `appSecret` and `privateKeyPEM` are never logged, printed or returned.
public struct JitsiSettings: Sendable, Equatable {
    /// `JITSI_DOMAIN`: the public host of the Jitsi server (meeting URL `https://DOMAIN/ROOM?jwt=…`).
    public var domain: String = ""
    /// `JITSI_APP_ID`: Prosody's `app_id` (the `iss` claim); for JaaS the AppID `vpaas-magic-cookie-…` (`sub`).
    public var appID: String = ""
    /// `JITSI_APP_SECRET` (HS256): Prosody's `app_secret`, at least 32 bytes.
    public var appSecret: String = ""
    /// `JITSI_AUDIENCE` (default `jitsi`): the `aud` claim, one string.
    public var audience: String = "jitsi"
    /// `JITSI_SUB`: the XMPP domain (`muc_mapper_domain_base`, e.g. `meet.jitsi` in docker-jitsi-meet) or the tenant;
    /// default: `JITSI_DOMAIN`.
    public var sub: String = ""
    /// `JITSI_JWT_ALGORITHM` (default HS256).
    public var algorithm: JitsiAlgorithm = .hs256
    /// `JITSI_KEY_ID` (RS256, JaaS): the header `kid`.
    public var keyID: String = ""
    /// The PEM of `JITSI_PRIVATE_KEY_FILE` (RS256, JaaS).
    public var privateKeyPEM: String = ""
    /// `JITSI_RECORDING_ENABLED`: the provider's token allows recording.
    public var recordingEnabled: Bool = false
    /// `JITSI_WINDOW_BEFORE` (seconds, default 600): the room opens this long before the visit's start.
    public var windowBefore: Int = 600
    /// `JITSI_WINDOW_AFTER` (seconds, default 1800): and closes this long after it.
    public var windowAfter: Int = 1800
    /// `JITSI_TOKEN_TTL` (seconds, default 3600), never past the window's end.
    public var tokenTTL: Int = 3600
    /// `JITSI_MAX_DURATION` (seconds, default 9000): a live visit ends by itself this long after its start.
    public var maxDuration: Int = 9000
    /// `JITSI_INCLUDE_EMAIL`: put the provider's e-mail in `context.user` (every participant sees it). A patient's
    /// e-mail is never put in a token.
    public var includeProviderEmail: Bool = false
    /// `JITSI_START_AUDIO_MUTED` / `JITSI_START_VIDEO_MUTED`: IFrame options.
    public var startAudioMuted: Bool = false
    public var startVideoMuted: Bool = false
    /// `JITSI_PREJOIN`: show Jitsi's device-check screen before joining (default off).
    public var prejoin: Bool = false
    /// `JITSI_APPOINTMENT_STATUS`: move the matching OpenEMR appointment to "in exam room" (`<`) at start and to
    /// "checked out" (`>`) at the end.
    public var appointmentStatus: Bool = false

    public init() {}

    /// Secrets that ship in examples (Jitsi's, docker-jitsi-meet's, this project's demo): refused outside demo mode.
    public static let knownDefaultSecrets: Set<String> = [
        "", "secret", "changeme", "change-me", "jitsi", "my_jitsi_app_secret", "my_jitsi_app_id", "example_app_secret", "app_secret",
        "password", "emrbridge-demo-jitsi-secret-0123456789abcdef",
    ]

    /// The demo configuration `scripts/demo.sh` uses (demo mode only).
    public static let demoSecret = "emrbridge-demo-jitsi-secret-0123456789abcdef"

    /// `iss` as the token carries it.
    public var issuer: String { algorithm == .jaas ? "chat" : appID }
    /// `aud` as the token carries it.
    public var audienceClaim: String { algorithm == .jaas ? "jitsi" : audience }
    /// `sub` as the token carries it: the AppID for JaaS, else `JITSI_SUB` (default the domain), lowercased (Prosody
    /// compares it ASCII-lowercased with the MUC domain).
    public var subClaim: String { algorithm == .jaas ? appID : (sub.isEmpty ? domain : sub).lowercased() }

    /// Enough is configured to mint tokens (a domain and an issuer).
    public var isConfigured: Bool { !domain.isEmpty && !appID.isEmpty }

    /// The meeting URL for `room` with `token`: `https://DOMAIN/ROOM?jwt=…` (JaaS: `https://DOMAIN/APPID/ROOM?jwt=…`).
    public func meetingURL(room: String, token: String) -> String {
        "https://\(domain)/\(algorithm == .jaas ? appID + "/" : "")\(room)?jwt=\(token)"
    }

    /// Problems that stop `serve` (outside demo mode) or a settings change, keyed by field: a missing or weak secret,
    /// an unreadable key or one that does not fit the algorithm. Never quotes a secret.
    public func problems(demo: Bool) -> [String: String] {
        var problems: [String: String] = [:]
        if domain.isEmpty { problems["domain"] = "is required (the public host of the Jitsi server)." }
        else if !Self.isHostName(domain) { problems["domain"] = "must be a host name (and optional :port), without scheme or path." }
        if appID.isEmpty { problems["app_id"] = "is required." }
        if !(0...86400).contains(windowBefore) { problems["window_before"] = "must be 0...86400 seconds." }
        if !(0...86400).contains(windowAfter) { problems["window_after"] = "must be 0...86400 seconds." }
        if !(60...86400).contains(tokenTTL) { problems["token_ttl"] = "must be 60...86400 seconds." }
        if !(60...86400).contains(maxDuration) { problems["max_duration"] = "must be 60...86400 seconds." }
        if audience.isEmpty { problems["audience"] = "must not be empty." }
        let subject = subClaim
        if subject.isEmpty || subject.contains(where: { $0 == " " || $0 == "/" }) { problems["sub"] = "must be the XMPP domain or tenant." }
        switch algorithm {
        case .hs256:
            if !privateKeyPEM.isEmpty {
                problems["private_key"] = "is set, but the algorithm is HS256 (set JITSI_JWT_ALGORITHM=RS256 or JAAS to sign with it)."
            }
            if appSecret.isEmpty {
                problems["app_secret"] = "is required for HS256."
            } else if !demo {
                if Self.knownDefaultSecrets.contains(appSecret) { problems["app_secret"] = "is a well-known default; set a random secret." }
                else if appSecret.utf8.count < 32 { problems["app_secret"] = "is shorter than 32 bytes." }
            }
        case .rs256, .jaas:
            if keyID.isEmpty { problems["key_id"] = "is required for \(algorithm.rawValue)." }
            if algorithm == .jaas, !keyID.isEmpty, !keyID.hasPrefix(appID + "/") {
                problems["key_id"] = "must be the JaaS key id \"<AppID>/<key>\" (its part before / equals app_id)."
            }
            if privateKeyPEM.isEmpty {
                problems["private_key"] = "is required for \(algorithm.rawValue) (JITSI_PRIVATE_KEY_FILE)."
            } else {
                do { _ = try JitsiSigner(settings: self) } catch let error as JitsiKeyError { problems["private_key"] = error.message } catch {
                    problems["private_key"] = "is not usable."
                }
            }
        }
        return problems
    }

    /// `host` or `host:port`, letters, digits, dots and dashes.
    static func isHostName(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let host = parts.first, !host.isEmpty else { return false }
        if parts.count == 2, Int(parts[1]).map({ (1...65535).contains($0) }) != true { return false }
        return host.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 }
    }

    /// Reads the `JITSI_*` variables (see the README). `JITSI_PRIVATE_KEY_FILE` is read here; a file that cannot be
    /// read is a `ConfigurationError`. In demo mode, a missing secret becomes the demo secret.
    public static func fromEnvironment(_ environment: [String: String], demo: Bool) throws -> JitsiSettings {
        let reader = EnvironmentReader(environment)
        var settings = JitsiSettings()
        settings.domain = reader.string("JITSI_DOMAIN") ?? ""
        settings.appID = reader.string("JITSI_APP_ID") ?? ""
        settings.appSecret = reader.string("JITSI_APP_SECRET") ?? (demo && settings.isConfigured ? demoSecret : "")
        settings.audience = reader.string("JITSI_AUDIENCE") ?? "jitsi"
        settings.sub = reader.string("JITSI_SUB") ?? ""
        if let text = reader.string("JITSI_JWT_ALGORITHM") {
            guard let algorithm = JitsiAlgorithm(text: text) else {
                throw ConfigurationError(key: "JITSI_JWT_ALGORITHM", message: "must be HS256, RS256 or JAAS")
            }
            settings.algorithm = algorithm
        }
        if settings.algorithm == .jaas && settings.domain.isEmpty && !settings.appID.isEmpty { settings.domain = "8x8.vc" }
        settings.keyID = reader.string("JITSI_KEY_ID") ?? ""
        if let path = reader.string("JITSI_PRIVATE_KEY_FILE") {
            guard let data = FileManager.default.contents(atPath: path), let pem = String(data: data, encoding: .utf8) else {
                throw ConfigurationError(key: "JITSI_PRIVATE_KEY_FILE", message: "cannot be read")
            }
            settings.privateKeyPEM = pem
        }
        settings.recordingEnabled = try reader.bool("JITSI_RECORDING_ENABLED", default: false)
        settings.windowBefore = try reader.int("JITSI_WINDOW_BEFORE", default: 600, range: 0...86400)
        settings.windowAfter = try reader.int("JITSI_WINDOW_AFTER", default: 1800, range: 0...86400)
        settings.tokenTTL = try reader.int("JITSI_TOKEN_TTL", default: 3600, range: 60...86400)
        settings.maxDuration = try reader.int("JITSI_MAX_DURATION", default: 9000, range: 60...86400)
        settings.includeProviderEmail = try reader.bool("JITSI_INCLUDE_EMAIL", default: false)
        settings.startAudioMuted = try reader.bool("JITSI_START_AUDIO_MUTED", default: false)
        settings.startVideoMuted = try reader.bool("JITSI_START_VIDEO_MUTED", default: false)
        settings.prejoin = try reader.bool("JITSI_PREJOIN", default: false)
        settings.appointmentStatus = try reader.bool("JITSI_APPOINTMENT_STATUS", default: false)
        return settings
    }

    /// Whether any `JITSI_*` variable that turns video on is set (then every rule of `problems` applies at start).
    public static func isRequested(_ environment: [String: String]) -> Bool {
        ["JITSI_DOMAIN", "JITSI_APP_ID", "JITSI_APP_SECRET", "JITSI_PRIVATE_KEY_FILE"].contains { !(environment[$0] ?? "").isEmpty }
    }

    /// Stops `serve`: the first problem as a `ConfigurationError` naming the variable.
    public func validateForServe(demo: Bool) throws {
        guard let (field, message) = problems(demo: demo).sorted(by: { $0.key < $1.key }).first else { return }
        let key = field == "private_key" ? "JITSI_PRIVATE_KEY_FILE" : "JITSI_" + field.uppercased()
        throw ConfigurationError(key: key, message: message.hasSuffix(".") ? String(message.dropLast()) : message)
    }
}

/// A facility's overrides (`mmt_video_settings`); nil fields fall back to the environment.
public struct JitsiSettingsOverride: Sendable, Equatable {
    public var domain: String?
    public var appID: String?
    public var appSecret: String?
    public var audience: String?
    public var sub: String?
    public var algorithm: JitsiAlgorithm?
    public var keyID: String?
    public var privateKeyPEM: String?
    public var recordingEnabled: Bool?
    public var windowBefore: Int?
    public var windowAfter: Int?
    public var tokenTTL: Int?
    public var maxDuration: Int?

    public init() {}

    public var isEmpty: Bool { self == JitsiSettingsOverride() }

    /// `base` with these overrides applied.
    public func applied(to base: JitsiSettings) -> JitsiSettings {
        var settings = base
        if let domain { settings.domain = domain }
        if let appID { settings.appID = appID }
        if let appSecret { settings.appSecret = appSecret }
        if let audience { settings.audience = audience }
        if let sub { settings.sub = sub }
        if let algorithm { settings.algorithm = algorithm }
        if let keyID { settings.keyID = keyID }
        if let privateKeyPEM { settings.privateKeyPEM = privateKeyPEM }
        if let recordingEnabled { settings.recordingEnabled = recordingEnabled }
        if let windowBefore { settings.windowBefore = windowBefore }
        if let windowAfter { settings.windowAfter = windowAfter }
        if let tokenTTL { settings.tokenTTL = tokenTTL }
        if let maxDuration { settings.maxDuration = maxDuration }
        return settings
    }
}
