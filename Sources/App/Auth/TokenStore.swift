public import Foundation
import HTTPTypes
public import Logging
public import MariaDB
import PasswordCrypt

/// Opaque API tokens: 256 random bits handed to the client once, stored only as SHA-256 in `mmt_api_tokens`.
///
/// Every request looks the token up in MariaDB (no cache), so a logout or a user deactivated in OpenEMR takes effect
/// on the next request on every replica.
public struct TokenStore: Sendable {
    let database: MariaDBClient
    let ttl: Int

    public init(database: MariaDBClient, ttlSeconds: Int) {
        self.database = database
        self.ttl = ttlSeconds
    }

    /// A newly issued token.
    public struct Issued: Sendable {
        public var token: String
        public var hash: [UInt8]
        public var expiresAt: Date
    }

    /// Issues a token for `identity` (its `tokenHash` is ignored) on the given connection, so it lands in the
    /// caller's transaction. The identity's names, group and facility are kept with the token.
    public func issue(for identity: Identity, source: String, clientIP: String, on connection: MariaDBConnection) async throws -> Issued {
        let token = Digest.hex(Digest.randomBytes(count: 32))
        let hash = Self.hash(token)
        let kind = identity.role == .patient ? "patient" : (identity.role == .guest ? "guest" : "user")
        try await connection.query(
            """
            INSERT INTO mmt_api_tokens (token_hash, kind, user_id, pid, username, role, groupname, fname, lname, facility_id, source,
                                        created_at, expires_at, client_ip)
            VALUES (\(hash), \(kind), \(identity.userID), \(identity.pid), \(identity.username), \(identity.role.rawValue), \(identity.groupName),
                    \(identity.fname), \(identity.lname), \(identity.facilityID), \(source),
                    UTC_TIMESTAMP(), UTC_TIMESTAMP() + INTERVAL \(ttl) SECOND, \(String(clientIP.prefix(255))))
            """
        )
        return Issued(token: token, hash: hash, expiresAt: Date().addingTimeInterval(TimeInterval(ttl)))
    }

    /// Revokes a token (logout).
    public func revoke(hash: [UInt8], logger: Logger) async throws {
        try await database.query(
            "UPDATE mmt_api_tokens SET revoked_at = UTC_TIMESTAMP() WHERE token_hash = \(hash) AND revoked_at IS NULL", logger: logger
        )
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

    /// SHA-256 of the token text (what the table stores).
    public static func hash(_ token: String) -> [UInt8] { Digest.sha256(Array(token.utf8)) }

    /// The lookup statement for one or more token hashes (one row per live token, `token_hash` included), so a hot
    /// handler can run it in the same database hop as its own query, or for a batch of requests at once.
    public static func lookup(hashes: [[UInt8]]) -> MariaDBQuery {
        """
        SELECT t.token_hash, t.kind, t.user_id, t.pid, t.username, t.role, t.groupname, t.fname, t.lname, t.facility_id,
               (t.last_used_at IS NULL OR t.last_used_at < UTC_TIMESTAMP() - INTERVAL 60 SECOND) AS touch,
               u.active, (u.authorized = 1 OR u.see_auth > 2) AS provider, p.allow_patient_portal
        FROM mmt_api_tokens t
        LEFT JOIN users u ON t.kind = 'user' AND u.id = t.user_id AND BINARY u.username = BINARY t.username
        LEFT JOIN patient_data p ON t.kind = 'patient' AND p.pid = t.pid
        WHERE t.token_hash IN (\(paddedList: hashes)) AND t.revoked_at IS NULL AND t.expires_at > UTC_TIMESTAMP()
        """
    }

    /// The identity for a row of `lookup(hashes:)`, or nil when OpenEMR no longer allows it; records the use at most
    /// once a minute.
    public func identity(from row: MariaDBRow, hash: [UInt8], logger: Logger) async throws -> Identity? {
        guard var role = Identity.Role(rawValue: try row.decode("role", as: String.self)) else { return nil }
        switch try row.decode("kind", as: String.self) {
        case "user":
            guard try row.decode("active", as: Int?.self) == 1 else { return nil }
            if role != .admin { role = try row.decode("provider", as: Int?.self) == 1 ? .provider : .staff }
        case "patient":
            guard try row.decode("allow_patient_portal", as: String?.self) == "YES" else { return nil }
        case "guest":
            break
        default:
            return nil
        }
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
}
