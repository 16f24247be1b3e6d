public import Foundation
public import Logging
import MariaDB
import PasswordCrypt

/// A facility's video settings as an admin sees them: the values in force, which of them are the facility's own,
/// and whether a secret / key is set. `app_secret` and `private_key` are never returned.
public struct VideoSettingsView: Sendable, Encodable, Equatable {
    public var facilityId: Int
    public var domain: String
    public var appId: String
    public var audience: String
    public var sub: String
    public var algorithm: String
    public var keyId: String
    public var recordingEnabled: Bool
    public var windowBefore: Int
    public var windowAfter: Int
    public var tokenTtl: Int
    public var maxDuration: Int
    public var appSecretSet: Bool
    public var privateKeySet: Bool
    /// The fields this facility overrides (the rest come from the environment).
    public var overrides: [String]
    public var configured: Bool

    enum CodingKeys: String, CodingKey {
        case facilityId = "facility_id", domain, appId = "app_id", audience, sub, algorithm, keyId = "key_id", recordingEnabled = "recording_enabled"
        case windowBefore = "window_before", windowAfter = "window_after", tokenTtl = "token_ttl", maxDuration = "max_duration"
        case appSecretSet = "app_secret_set", privateKeySet = "private_key_set", overrides, configured
    }
}

/// The body of `PUT /api/video/settings/{facility_id}/`: each field named like its `JITSI_*` variable in lower case.
/// A field left out keeps the facility's value; `null` removes the override (the environment applies again).
public struct VideoSettingsInput: Decodable, Sendable {
    public enum Change<Value: Sendable & Equatable>: Sendable, Equatable {
        case keep
        case clear
        case set(Value)
    }

    public var domain: Change<String> = .keep
    public var appID: Change<String> = .keep
    public var appSecret: Change<String> = .keep
    public var audience: Change<String> = .keep
    public var sub: Change<String> = .keep
    public var algorithm: Change<String> = .keep
    public var keyID: Change<String> = .keep
    public var privateKey: Change<String> = .keep
    public var recordingEnabled: Change<Bool> = .keep
    public var windowBefore: Change<Int> = .keep
    public var windowAfter: Change<Int> = .keep
    public var tokenTTL: Change<Int> = .keep
    public var maxDuration: Change<Int> = .keep

    /// The API's JSON decoder converts snake_case keys (`app_id` arrives as `appId`).
    enum CodingKeys: String, CodingKey, CaseIterable {
        case domain, appID = "appId", appSecret = "appSecret", audience, sub, algorithm, keyID = "keyId", privateKey = "privateKey"
        case recordingEnabled, windowBefore, windowAfter, tokenTTL = "tokenTtl", maxDuration

        /// The field's name in the API (`app_id`).
        var field: String {
            rawValue.reduce(into: "") { name, character in
                if character.isUppercase { name += "_" + character.lowercased() } else { name.append(character) }
            }
        }
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var details: [String: String] = [:]
        func field<T: Decodable & Sendable & Equatable>(_ key: CodingKeys, _ type: T.Type) -> Change<T> {
            guard c.contains(key) else { return .keep }
            if (try? c.decodeNil(forKey: key)) == true { return .clear }
            guard let value = try? c.decode(T.self, forKey: key) else {
                details[key.field] = T.self == Bool.self ? "Must be true or false." : T.self == Int.self ? "Must be a whole number." : "Must be a string."
                return .keep
            }
            return .set(value)
        }
        domain = field(.domain, String.self)
        appID = field(.appID, String.self)
        appSecret = field(.appSecret, String.self)
        audience = field(.audience, String.self)
        sub = field(.sub, String.self)
        algorithm = field(.algorithm, String.self)
        keyID = field(.keyID, String.self)
        privateKey = field(.privateKey, String.self)
        recordingEnabled = field(.recordingEnabled, Bool.self)
        windowBefore = field(.windowBefore, Int.self)
        windowAfter = field(.windowAfter, Int.self)
        tokenTTL = field(.tokenTTL, Int.self)
        maxDuration = field(.maxDuration, Int.self)
        if !details.isEmpty { throw OpenEMRError.validation(details) }
    }

    /// The names of the fields this body changes (for the audit row: names only, never values).
    var changedFields: [String] {
        let all: [(String, Bool)] = [
            ("domain", domain != .keep), ("app_id", appID != .keep), ("app_secret", appSecret != .keep), ("audience", audience != .keep),
            ("sub", sub != .keep), ("algorithm", algorithm != .keep), ("key_id", keyID != .keep), ("private_key", privateKey != .keep),
            ("recording_enabled", recordingEnabled != .keep), ("window_before", windowBefore != .keep), ("window_after", windowAfter != .keep),
            ("token_ttl", tokenTTL != .keep), ("max_duration", maxDuration != .keep),
        ]
        return all.filter(\.1).map(\.0)
    }
}

extension VideoVisitService {
    // MARK: Settings (admins only)

    static func requireAdmin(_ identity: Identity) throws {
        guard identity.isAdmin else { throw OpenEMRError.forbidden("Only an admin may read or change video settings.") }
    }

    static func requireFacility(_ facility: Int, on connection: MariaDBConnection) async throws {
        guard try await connection.query("SELECT id FROM facility WHERE id = \(facility)").first != nil else { throw OpenEMRError.notFound() }
    }

    func view(facility: Int, override: JitsiSettingsOverride) -> VideoSettingsView {
        let settings = override.applied(to: base)
        var overrides: [String] = []
        let fields: [(String, Bool)] = [
            ("domain", override.domain != nil), ("app_id", override.appID != nil), ("app_secret", override.appSecret != nil),
            ("audience", override.audience != nil), ("sub", override.sub != nil), ("algorithm", override.algorithm != nil),
            ("key_id", override.keyID != nil), ("private_key", override.privateKeyPEM != nil), ("recording_enabled", override.recordingEnabled != nil),
            ("window_before", override.windowBefore != nil), ("window_after", override.windowAfter != nil), ("token_ttl", override.tokenTTL != nil),
            ("max_duration", override.maxDuration != nil),
        ]
        for (name, set) in fields where set { overrides.append(name) }
        return VideoSettingsView(
            facilityId: facility, domain: settings.domain, appId: settings.appID, audience: settings.audience, sub: settings.subClaim,
            algorithm: settings.algorithm.rawValue, keyId: settings.keyID, recordingEnabled: settings.recordingEnabled, windowBefore: settings.windowBefore,
            windowAfter: settings.windowAfter, tokenTtl: settings.tokenTTL, maxDuration: settings.maxDuration, appSecretSet: !settings.appSecret.isEmpty,
            privateKeySet: !settings.privateKeyPEM.isEmpty, overrides: overrides, configured: settings.isConfigured && settings.problems(demo: demo).isEmpty
        )
    }

    /// `GET /api/video/settings/{facility_id}/`.
    public func settings(facility: Int, by identity: Identity, logger: Logger) async throws -> VideoSettingsView {
        try Self.requireAdmin(identity)
        return try await database.withConnection(logger: logger) { connection in
            try await Self.requireFacility(facility, on: connection)
            let row = try await connection.query(Self.settingsQuery(facility)).first
            return view(facility: facility, override: try row.map(Self.override) ?? JitsiSettingsOverride())
        }
    }

    /// `PUT /api/video/settings/{facility_id}/`: validates (a secret under 32 bytes or a known default, a key that
    /// does not fit the algorithm, out-of-range seconds: 400 naming the field), stores, audits the changed field names.
    public func updateSettings(facility: Int, _ input: VideoSettingsInput, by identity: Identity, logger: Logger) async throws -> VideoSettingsView {
        try Self.requireAdmin(identity)
        return try await database.withTransaction(logger: logger) { connection in
            try await Self.requireFacility(facility, on: connection)
            let row = try await connection.query(Self.settingsQuery(facility) + " FOR UPDATE").first
            var o = try row.map(Self.override) ?? JitsiSettingsOverride()
            var details: [String: String] = [:]
            func apply<T>(_ change: VideoSettingsInput.Change<T>, _ path: WritableKeyPath<JitsiSettingsOverride, T?>) {
                switch change {
                case .keep: break
                case .clear: o[keyPath: path] = nil
                case .set(let value): o[keyPath: path] = value
                }
            }
            apply(input.domain, \.domain)
            apply(input.appID, \.appID)
            apply(input.appSecret, \.appSecret)
            apply(input.audience, \.audience)
            apply(input.sub, \.sub)
            switch input.algorithm {
            case .keep: break
            case .clear: o.algorithm = nil
            case .set(let text):
                if let algorithm = JitsiAlgorithm(text: text) { o.algorithm = algorithm } else { details["algorithm"] = "Must be HS256, RS256 or JAAS." }
            }
            apply(input.keyID, \.keyID)
            apply(input.privateKey, \.privateKeyPEM)
            apply(input.recordingEnabled, \.recordingEnabled)
            apply(input.windowBefore, \.windowBefore)
            apply(input.windowAfter, \.windowAfter)
            apply(input.tokenTTL, \.tokenTTL)
            apply(input.maxDuration, \.maxDuration)
            if case .set(let secret) = input.appSecret {
                if JitsiSettings.knownDefaultSecrets.contains(secret) { details["app_secret"] = "Is a well-known default; use a random secret." }
                else if secret.utf8.count < 32 { details["app_secret"] = "Must be at least 32 bytes." }
            }
            let merged = o.applied(to: base)
            // Field rules always; the whole configuration's rules once it names a domain and an app id.
            let problems = merged.problems(demo: false)
            let changed = Set(input.changedFields)
            for (field, message) in problems where changed.contains(field) || merged.isConfigured {
                if field == "app_secret" && details["app_secret"] != nil { continue }
                details[field] = details[field] ?? message.prefix(1).uppercased() + message.dropFirst()
            }
            if !details.isEmpty { throw OpenEMRError.validation(details) }
            let who = identity.username
            try await connection.query(
                """
                INSERT INTO mmt_video_settings (facility_id, domain, app_id, app_secret, audience, sub, algorithm, key_id, private_key, recording_enabled,
                                                window_before, window_after, token_ttl, max_duration, updated_at, updated_by)
                VALUES (\(facility), \(o.domain), \(o.appID), \(o.appSecret), \(o.audience), \(o.sub), \(o.algorithm?.rawValue), \(o.keyID), \(o.privateKeyPEM),
                        \(o.recordingEnabled), \(o.windowBefore), \(o.windowAfter), \(o.tokenTTL), \(o.maxDuration), UTC_TIMESTAMP(), \(who))
                ON DUPLICATE KEY UPDATE domain = VALUES(domain), app_id = VALUES(app_id), app_secret = VALUES(app_secret), audience = VALUES(audience),
                  sub = VALUES(sub), algorithm = VALUES(algorithm), key_id = VALUES(key_id), private_key = VALUES(private_key),
                  recording_enabled = VALUES(recording_enabled), window_before = VALUES(window_before), window_after = VALUES(window_after),
                  token_ttl = VALUES(token_ttl), max_duration = VALUES(max_duration), updated_at = VALUES(updated_at), updated_by = VALUES(updated_by)
                """
            )
            try await audit.write(
                [
                    AuditEvent(
                        "video-settings-update", category: "Video Visit", by: identity, patientID: nil,
                        comments: "emr-bridge video settings facility \(facility): \(input.changedFields.joined(separator: ", "))"
                    )
                ],
                on: connection
            )
            return view(facility: facility, override: o)
        }
    }

    // MARK: Event-stream tickets

    /// `POST …/video/events/ticket/`: a single-use ticket (60 s) for this encounter's event stream, for a browser's
    /// EventSource that cannot send `Authorization`. Tied to the caller's bridge token: revoking it voids the ticket.
    public func issueTicket(encounter: Int, by identity: Identity, logger: Logger) async throws -> (ticket: String, expiresAt: String) {
        try await transaction(logger: logger) { connection in
            _ = try await load(encounter, by: identity, access: .read, lock: false, on: connection)
            let ticket = Digest.hex(Digest.randomBytes(count: 32))
            let expires = Date() + 60
            try await connection.query(
                """
                INSERT INTO mmt_video_event_tickets (ticket_hash, encounter, token_hash, expires_at)
                VALUES (\(Digest.sha256(Array(ticket.utf8))), \(encounter), \(identity.tokenHash), \(UTCTime.value(expires)))
                """
            )
            try await connection.query("DELETE FROM mmt_video_event_tickets WHERE expires_at < UTC_TIMESTAMP() - INTERVAL 1 HOUR LIMIT 100")
            return (ticket, UTCTime.iso(expires) ?? "")
        }
    }

    /// Uses up a ticket for `encounter`'s stream: the hash of the bridge token it was issued to, or nil (unknown,
    /// used, expired, or for another stream).
    public func redeemTicket(_ ticket: String, encounter: Int, logger: Logger) async throws -> [UInt8]? {
        guard ticket.utf8.count == 64, ticket.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        let hash = Digest.sha256(Array(ticket.utf8))
        return try await database.withTransaction(logger: logger) { connection in
            guard
                let row = try await connection.query(
                    """
                    SELECT token_hash FROM mmt_video_event_tickets
                    WHERE ticket_hash = \(hash) AND encounter = \(encounter) AND used_at IS NULL AND expires_at > UTC_TIMESTAMP() FOR UPDATE
                    """
                ).first
            else { return nil }
            try await connection.query("UPDATE mmt_video_event_tickets SET used_at = UTC_TIMESTAMP() WHERE ticket_hash = \(hash)")
            return try row.decode("token_hash", as: [UInt8].self)
        }
    }

    // MARK: For the event poller

    /// The newest change number.
    public func latestVersion(logger: Logger) async throws -> Int64 {
        try await database.query("SELECT version AS v FROM mmt_video_version WHERE id = 1", logger: logger).first?.decode("v", as: Int64?.self) ?? 0
    }

    /// Every visit changed after `version`, oldest first: ONE query for all the waiters of a replica.
    public func changes(since version: Int64, limit: Int = 1000, logger: Logger) async throws -> [VideoVisitChange] {
        try await database.query(
            "SELECT encounter, state, enabled, version FROM mmt_video_visits WHERE version > \(version) ORDER BY version LIMIT \(limit)", logger: logger
        ).rows.map { row in
            VideoVisitChange(
                encounter: try row.decode("encounter", as: Int.self), state: try row.decode("state", as: String.self),
                enabled: try row.decode("enabled", as: Bool.self), version: try row.decode("version", as: Int64.self)
            )
        }
    }

    /// Ends live visits past their maximum duration (each in its own transaction, audited as the service).
    /// Returns how many ended.
    @discardableResult
    public func endOverdue(now: Date = Date(), logger: Logger) async throws -> Int {
        let due = try await database.query(
            "SELECT encounter FROM mmt_video_visits WHERE state = 'live' AND auto_end_at <= \(UTCTime.value(now)) ORDER BY auto_end_at LIMIT 100", logger: logger
        ).rows.map { try $0.decode("encounter", as: Int.self) }
        var ended = 0
        for encounter in due {
            let done = try await database.withTransaction(logger: logger) { connection -> Bool in
                guard
                    let row = try await connection.query(
                        """
                        SELECT v.appointment_eid, v.auto_end_at, (SELECT f.pid FROM form_encounter f WHERE f.encounter = v.encounter ORDER BY f.id LIMIT 1) AS pid
                        FROM mmt_video_visits v WHERE v.encounter = \(encounter) AND v.state = 'live' AND v.auto_end_at <= \(UTCTime.value(now)) FOR UPDATE
                        """
                    ).first
                else { return false }
                _ = try await Self.markEnded(
                    encounter: encounter, pid: try row.decode("pid", as: Int?.self) ?? 0,
                    appointmentEID: base.appointmentStatus ? try row.decode("appointment_eid", as: Int?.self) : nil, by: nil,
                    now: UTCTime.date(try row.decode("auto_end_at", as: MariaDBDateTime?.self)) ?? now, audit: audit, on: connection
                )
                return true
            }
            if done { ended += 1 }
        }
        return ended
    }
}
