public import Foundation
public import Logging
public import MariaDB
public import NIOPosix
import PasswordCrypt
import PHPSerialization

/// Opaque API tokens: 256 random bits handed to the client once, stored only as SHA-256 in `mmt_api_tokens`.
///
/// Every request looks the token up in MariaDB (no cache), so a logout or a user deactivated in OpenEMR takes effect
/// on the next request on every replica.
///
/// A token also follows what it was issued for: a changed password (the stored hash differs from the one the token
/// was issued with) ends it; a token bridged from an OpenEMR session ends with that session (its file is gone after
/// OpenEMR's logout, or it has been idle past OpenEMR's `timeout` / `portal_timeout`); a guest token works only while
/// the demo guest is enabled.
public struct TokenStore: Sendable {
    let database: MariaDBClient
    let ttl: Int
    let allowGuests: Bool
    let sessions: SessionCheck?

    /// Where bridged OpenEMR sessions are checked on every request.
    public struct SessionCheck: Sendable {
        public var directory: String
        public var maxAge: Int
        public var globals: OpenEMRGlobalsCache
        public var fileThreadPool: NIOThreadPool

        public init(directory: String, maxAge: Int, globals: OpenEMRGlobalsCache, fileThreadPool: NIOThreadPool) {
            self.directory = directory
            self.maxAge = maxAge
            self.globals = globals
            self.fileThreadPool = fileThreadPool
        }
    }

    public init(database: MariaDBClient, ttlSeconds: Int, allowGuests: Bool = false, sessions: SessionCheck? = nil) {
        self.database = database
        self.ttl = ttlSeconds
        self.allowGuests = allowGuests
        self.sessions = sessions
    }

    /// What a token is tied to besides its user.
    public struct Binding: Sendable {
        /// SHA-256 (hex) of the stored password hash the sign-in checked; nil: not tied to a password.
        public var credentialSHA: String?
        /// The OpenEMR session id the token was bridged from.
        public var sessionID: String?
        /// That core session's `session_tracker` uuid.
        public var trackerUUID: [UInt8]?

        public init(credentialHash: String? = nil, sessionID: String? = nil, trackerUUID: [UInt8]? = nil) {
            self.credentialSHA = credentialHash.map(Digest.sha256Hex)
            self.sessionID = sessionID
            self.trackerUUID = trackerUUID
        }
    }

    /// A newly issued token.
    public struct Issued: Sendable {
        public var token: String
        public var hash: [UInt8]
        public var expiresAt: Date
    }

    /// Issues a token for `identity` (its `tokenHash` is ignored) on the given connection, so it lands in the
    /// caller's transaction. The identity's names, group and facility are kept with the token.
    public func issue(
        for identity: Identity, source: String, clientIP: String, binding: Binding = Binding(), on connection: MariaDBConnection
    ) async throws -> Issued {
        let token = Digest.hex(Digest.randomBytes(count: 32))
        let hash = Self.hash(token)
        let kind = identity.role == .patient ? "patient" : (identity.role == .guest ? "guest" : "user")
        try await connection.query(
            """
            INSERT INTO mmt_api_tokens (token_hash, kind, user_id, pid, username, role, groupname, fname, lname, facility_id, source,
                                        credential_sha, session_id, session_tracker_uuid, created_at, expires_at, client_ip)
            VALUES (\(hash), \(kind), \(identity.userID), \(identity.pid), \(identity.username), \(identity.role.rawValue), \(identity.groupName),
                    \(identity.fname), \(identity.lname), \(identity.facilityID), \(source),
                    \(binding.credentialSHA), \(binding.sessionID), \(binding.trackerUUID),
                    UTC_TIMESTAMP(), UTC_TIMESTAMP() + INTERVAL \(ttl) SECOND, \(String(clientIP.prefix(255))))
            """
        )
        return Issued(token: token, hash: hash, expiresAt: Date().addingTimeInterval(TimeInterval(ttl)))
    }

    /// Signs `identity` in: in one transaction, runs `statements` (e.g. clearing failure counters), writes the audit
    /// `events` and issues the token, so none of them lands without the others. Every way in (password, portal,
    /// OpenEMR session, demo guest) ends here.
    public func signIn(
        _ identity: Identity, source: String, clientIP: String, binding: Binding = Binding(), events: [AuditEvent], statements: [MariaDBQuery] = [],
        audit: AuditLogger, passwordExpiring: Bool = false, logger: Logger
    ) async throws -> LoginService.Success {
        let issued = try await database.withTransaction(logger: logger) { connection in
            if !statements.isEmpty { try await connection.queries(statements) }
            try await audit.write(events, on: connection)
            return try await issue(for: identity, source: source, clientIP: clientIP, binding: binding, on: connection)
        }
        var signedIn = identity
        signedIn.tokenHash = issued.hash
        return LoginService.Success(issued: issued, identity: signedIn, passwordExpiring: passwordExpiring)
    }

    /// Signs out: revokes the token and writes the audit `events` in one transaction.
    public func signOut(hash: [UInt8], events: [AuditEvent], audit: AuditLogger, logger: Logger) async throws {
        try await database.withTransaction(logger: logger) { connection in
            try await revoke(hash: hash, on: connection)
            try await audit.write(events, on: connection)
        }
    }

    /// Revokes a token (logout) on the caller's connection, so it lands with its audit row.
    public func revoke(hash: [UInt8], on connection: MariaDBConnection) async throws {
        try await connection.query("UPDATE mmt_api_tokens SET revoked_at = UTC_TIMESTAMP() WHERE token_hash = \(hash) AND revoked_at IS NULL")
    }

    /// Deletes up to `limit` tokens that have expired or were revoked; returns how many. Ended tokens are of no use
    /// and hold a patient's or user's name, so they are not kept.
    public func purgeEnded(limit: Int = 1000, logger: Logger) async throws -> Int {
        let result = try await database.query(
            "DELETE FROM mmt_api_tokens WHERE expires_at <= UTC_TIMESTAMP() OR revoked_at IS NOT NULL LIMIT \(limit)", logger: logger
        )
        return Int(result.affectedRows)
    }

    /// Extracts the token from `Authorization: Bearer <t>` or DRF's `Token <t>`.
    public static func token(fromAuthorization header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else { return nil }
        let scheme = parts[0].lowercased()
        guard scheme == "bearer" || scheme == "token" else { return nil }
        let token = parts[1].trimmingCharacters(in: " ")
        guard token.count == 64, token.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        return token
    }

    /// Resolves a token to the caller in one indexed lookup, re-checking OpenEMR's state on every request: a core
    /// user must still be active (`users.authorized` decides provider vs staff; admin membership is read at
    /// sign-in), a patient must still be allowed on the portal, and the token unexpired and not revoked.
    public func identity(forToken token: String, logger: Logger) async throws -> Identity? {
        try await identity(forHash: Self.hash(token), logger: logger)
    }

    /// `identity(forToken:)` for a token already hashed.
    public func identity(forHash hash: [UInt8], logger: Logger) async throws -> Identity? {
        guard let row = try await database.query(Self.lookup(hashes: [hash]), logger: logger).first else { return nil }
        return try await identity(from: row, hash: hash, logger: logger)
    }

    /// `identity(forHash:)`, and when the token expires (its expiry never changes after sign-in; measured on the
    /// database's clock, as an instant of this process's): for what outlives one request, the event streams.
    public func identityAndExpiry(forHash hash: [UInt8], logger: Logger) async throws -> (identity: Identity, expires: ContinuousClock.Instant)? {
        guard let row = try await database.query(Self.lookup(hashes: [hash]), logger: logger).first else { return nil }
        let expires = ContinuousClock.now + .microseconds(try row.decode("expires_in", as: Int64?.self) ?? 0)
        guard let identity = try await identity(from: row, hash: hash, logger: logger) else { return nil }
        return (identity, expires)
    }

    /// SHA-256 of the token text (what the table stores).
    public static func hash(_ token: String) -> [UInt8] { Digest.sha256(Array(token.utf8)) }

    /// The lookup statement for one or more token hashes (one row per live token, `token_hash` included), so a hot
    /// handler can run it in the same database hop as its own query, or for a batch of requests at once.
    public static func lookup(hashes: [[UInt8]]) -> MariaDBQuery {
        """
        SELECT \(fragment: identityColumns)
        \(fragment: identityFrom(hashes: hashes)) AND t.revoked_at IS NULL AND t.expires_at > UTC_TIMESTAMP()
        """
    }

    /// What `identity(from:hash:)` reads of a token row: the token and OpenEMR's state of its account.
    static let identityColumns: MariaDBQuery = """
        t.token_hash, t.kind, t.user_id, t.pid, t.username, t.role, t.groupname, t.fname, t.lname, t.facility_id, t.source,
               t.session_id, (t.last_used_at IS NULL OR t.last_used_at < UTC_TIMESTAMP() - INTERVAL 60 SECOND) AS touch,
               u.active, u.authorized, u.see_auth, p.allow_patient_portal,
               (t.credential_sha IS NULL OR t.credential_sha = SHA2(CASE t.kind
                   WHEN 'user' THEN (SELECT s.password FROM users_secure s WHERE s.id = t.user_id)
                   WHEN 'patient' THEN (SELECT o.portal_pwd FROM patient_access_onsite o WHERE o.pid = t.pid
                                          AND BINARY o.portal_login_username = BINARY t.username)
                   END, 256)) AS credential_ok,
               (SELECT TIMESTAMPDIFF(SECOND, st.last_updated, NOW()) FROM session_tracker st WHERE st.uuid = t.session_tracker_uuid) AS session_idle,
               TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), t.expires_at) AS expires_in
        """

    static func identityFrom(hashes: [[UInt8]]) -> MariaDBQuery {
        """
        FROM mmt_api_tokens t
        LEFT JOIN users u ON t.kind = 'user' AND u.id = t.user_id AND BINARY u.username = BINARY t.username
        LEFT JOIN patient_data p ON t.kind = 'patient' AND p.pid = t.pid
        WHERE t.token_hash IN (\(paddedList: hashes))
        """
    }

    /// A token's SHA-256 as a dictionary key: hashed as one block of bytes (an `[UInt8]` key feeds the hasher byte by
    /// byte, which the streams' token check would do for every open stream's token every interval).
    public struct Key: Hashable, Sendable {
        public let hash: [UInt8]
        public init(_ hash: [UInt8]) { self.hash = hash }
        public func hash(into hasher: inout Hasher) { hash.withUnsafeBytes { hasher.combine(bytes: $0) } }
    }

    /// Why a token no longer opens anything.
    public enum Ended: String, Sendable {
        /// Signed out or revoked (or already purged, which only happens to ended tokens).
        case revoked = "token_revoked"
        case expired = "token_expired"
        /// OpenEMR no longer allows its account: user deactivated, password changed, portal access withdrawn, the
        /// bridged OpenEMR session over, or the demo guest off.
        case refused = "token_refused"
    }

    /// The state of one token for the streams' checks.
    public enum State: Sendable, Equatable {
        /// Still accepted; it expires after this long (measured on the database's clock).
        case live(expiresIn: Duration)
        case ended(Ended)
    }

    /// The state of many tokens in ONE statement, by the rule every request applies (`acceptedRole`), without
    /// recording a use: revoked, expired or gone (the purge deletes only ended tokens), or refused by OpenEMR (user
    /// deactivated, password changed, portal access withdrawn, bridged session over). It joins OpenEMR's tables and
    /// hashes the stored password per token, so the streams' poller runs it every few seconds, not every interval.
    public func states(of keys: [Key], logger: Logger) async throws -> [Key: State] {
        guard !keys.isEmpty else { return [:] }
        let rows = try await database.query(
            """
            SELECT \(fragment: Self.identityColumns), (t.revoked_at IS NOT NULL) AS revoked
            \(fragment: Self.identityFrom(hashes: keys.map(\.hash)))
            """,
            logger: logger
        ).rows
        var states: [Key: State] = Dictionary(minimumCapacity: keys.count)
        for key in keys { states[key] = .ended(.revoked) }
        for row in rows {
            let key = Key(try row.decode("token_hash", as: [UInt8].self))
            let own = Self.state(revoked: try row.decode("revoked", as: Int.self) == 1, expiresIn: try row.decode("expires_in", as: Int64?.self))
            if case .live = own, try await acceptedRole(row, logger: logger) == nil {
                states[key] = .ended(.refused)
            } else {
                states[key] = own
            }
        }
        return states
    }

    /// A token's state by its own row: revoked, expired (`expiresIn` microseconds, nil or ≤ 0), or live.
    static func state(revoked: Bool, expiresIn: Int64?) -> State {
        if revoked { return .ended(.revoked) }
        guard let expiresIn, expiresIn > 0 else { return .ended(.expired) }
        return .live(expiresIn: .microseconds(expiresIn))
    }

    /// What changed for the streams' poller since its last round, in ONE statement whose cost does not grow with
    /// the number of open streams: the tokens revoked since `since` (the `now` of the previous round, minus a minute
    /// for transactions that commit late; an index range on `revoked_at`, usually empty), and the state of the
    /// `new` tokens (their expiry, which never changes afterwards, so the poller then ends their streams by the
    /// clock). Returns the database's clock for the next round.
    public func changes(revokedSince since: MariaDBDateTime?, new keys: [Key], logger: Logger) async throws -> (
        now: MariaDBDateTime, revoked: [Key], states: [Key: State]
    ) {
        var query: MariaDBQuery = """
            SELECT NULL AS token_hash, 0 AS revoked, 0 AS expires_in, UTC_TIMESTAMP() AS now
            UNION ALL
            SELECT t.token_hash, 1, 0, NULL FROM mmt_api_tokens t
            WHERE t.revoked_at >= COALESCE(\(since), UTC_TIMESTAMP()) - INTERVAL 60 SECOND
            """
        if !keys.isEmpty {
            query.append(
                """

                UNION ALL
                SELECT t.token_hash, 2 + (t.revoked_at IS NOT NULL), TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), t.expires_at), NULL
                FROM mmt_api_tokens t WHERE t.token_hash IN (\(paddedList: keys.map(\.hash)))
                """
            )
        }
        let rows = try await database.query(query, logger: logger).rows
        var now: MariaDBDateTime?
        var revoked: [Key] = []
        var states: [Key: State] = [:]
        for key in keys { states[key] = .ended(.revoked) }
        for row in rows {
            guard let hash = try row.decode("token_hash", as: [UInt8]?.self) else {
                now = try row.decode("now", as: MariaDBDateTime?.self)
                continue
            }
            let kind = try row.decode("revoked", as: Int.self)
            if kind == 1 {
                revoked.append(Key(hash))
            } else {
                states[Key(hash)] = Self.state(revoked: kind == 3, expiresIn: try row.decode("expires_in", as: Int64?.self))
            }
        }
        guard let now else { throw OpenEMRError.inconsistent("the token check read no clock") }
        return (now, revoked, states)
    }

    /// The identity for a row of `lookup(hashes:)`, or nil when OpenEMR no longer allows it; records the use at most
    /// once a minute.
    public func identity(from row: MariaDBRow, hash: [UInt8], logger: Logger) async throws -> Identity? {
        guard let role = try await acceptedRole(row, logger: logger) else { return nil }
        if try row.decode("touch", as: Int.self) == 1 {
            try await database.query("UPDATE mmt_api_tokens SET last_used_at = UTC_TIMESTAMP() WHERE token_hash = \(hash)", logger: logger)
        }
        return Identity(
            role: role, userID: try row.decode("user_id", as: Int?.self), username: try row.decode("username", as: String.self),
            groupName: try row.decode("groupname", as: String.self), pid: try row.decode("pid", as: Int?.self),
            fname: try row.decode("fname", as: String.self), lname: try row.decode("lname", as: String.self),
            facilityID: try row.decode("facility_id", as: Int?.self), tokenHash: hash
        )
    }

    /// The rule every request applies to a token row (`identityColumns`): the caller's role when OpenEMR still
    /// allows the account, else nil.
    func acceptedRole(_ row: MariaDBRow, logger: Logger) async throws -> Identity.Role? {
        guard var role = Identity.Role(rawValue: try row.decode("role", as: String.self)) else { return nil }
        let kind = try row.decode("kind", as: String.self)
        switch kind {
        case "user":
            guard try row.decode("active", as: Int?.self) == 1, try row.decode("credential_ok", as: Int?.self) == 1 else { return nil }
            // Admin membership was read at sign-in; provider or staff follows `users` on every request.
            role = .coreUser(admin: role == .admin, authorized: try row.decode("authorized", as: Int?.self), seeAuth: try row.decode("see_auth", as: Int?.self))
        case "patient":
            guard try row.decode("allow_patient_portal", as: String?.self) == "YES", try row.decode("credential_ok", as: Int?.self) == 1 else {
                return nil
            }
        case "guest":
            guard allowGuests else { return nil }
        default:
            return nil
        }
        if try row.decode("source", as: String.self) == "openemr-session" {
            guard try await sessionIsLive(row, portal: kind == "patient", logger: logger) else { return nil }
        }
        return role
    }

    /// A bridged OpenEMR session is still live: its file exists and was written (PHP touches it on every request)
    /// within the bridge's `OPENEMR_SESSION_MAX_AGE` and, for the portal, OpenEMR's `portal_timeout`; a core session's
    /// `session_tracker` row was active within OpenEMR's `timeout`.
    func sessionIsLive(_ row: MariaDBRow, portal: Bool, logger: Logger) async throws -> Bool {
        guard let sessions, let sessionID = try row.decode("session_id", as: String?.self), PHPSession.isValidSessionID(sessionID) else {
            return false
        }
        let settings = try await sessions.globals.current(logger: logger)
        if !portal {
            guard let idle = try row.decode("session_idle", as: Int?.self), idle <= settings.sessionTimeout else { return false }
        }
        let maxAge = portal ? min(sessions.maxAge, settings.portalTimeout) : sessions.maxAge
        let path = sessions.directory + "/sess_" + sessionID
        return try await sessions.fileThreadPool.runIfActive { SessionBridge.fileAge(path).map { $0 <= maxAge } ?? false }
    }
}
