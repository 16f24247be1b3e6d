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

    /// What a token stands for.
    public struct Subject: Sendable {
        public var kind: String
        public var userID: Int?
        public var pid: Int?
        public var username: String
        public var role: Identity.Role
        public var source: String
    }

    /// Issues a token on the given connection (so it lands in the caller's transaction).
    public func issue(_ subject: Subject, clientIP: String, on connection: MariaDBConnection) async throws -> Issued {
        let token = Digest.hex(Digest.randomBytes(count: 32))
        let hash = Digest.sha256(Array(token.utf8))
        try await connection.query(
            """
            INSERT INTO mmt_api_tokens (token_hash, kind, user_id, pid, username, role, source, created_at, expires_at, client_ip)
            VALUES (\(hash), \(subject.kind), \(subject.userID), \(subject.pid), \(subject.username), \(subject.role.rawValue), \(subject.source),
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

    /// Resolves a token to the caller, re-checking OpenEMR's state: the user must still be active (patients: still
    /// allowed on the portal), the token unexpired and not revoked.
    public func identity(forToken token: String, logger: Logger) async throws -> Identity? {
        let hash = Digest.sha256(Array(token.utf8))
        guard
            let row = try await database.query(
                """
                SELECT t.kind, t.user_id, t.pid, t.username, t.role,
                       (t.last_used_at IS NULL OR t.last_used_at < UTC_TIMESTAMP() - INTERVAL 60 SECOND) AS touch,
                       u.active, u.authorized, u.fname AS u_fname, u.lname AS u_lname, u.facility_id,
                       (SELECT g.name FROM `groups` g WHERE g.user = u.username ORDER BY g.id LIMIT 1) AS groupname,
                       EXISTS (SELECT 1 FROM gacl_aro a JOIN gacl_groups_aro_map m ON m.aro_id = a.id
                               JOIN gacl_aro_groups ag ON ag.id = m.group_id
                               WHERE a.section_value = 'users' AND BINARY a.value = BINARY u.username AND ag.value = 'admin') AS is_admin,
                       p.fname AS p_fname, p.lname AS p_lname, p.allow_patient_portal
                FROM mmt_api_tokens t
                LEFT JOIN users u ON t.kind = 'user' AND u.id = t.user_id AND BINARY u.username = BINARY t.username
                LEFT JOIN patient_data p ON t.kind = 'patient' AND p.pid = t.pid
                WHERE t.token_hash = \(hash) AND t.revoked_at IS NULL AND t.expires_at > UTC_TIMESTAMP()
                """, logger: logger
            ).first
        else { return nil }

        let kind = try row.decode("kind", as: String.self)
        var identity: Identity
        switch kind {
        case "user":
            guard try row.decode("active", as: Int?.self) == 1, let userID = try row.decode("user_id", as: Int?.self) else { return nil }
            let role: Identity.Role =
                try row.decode("is_admin", as: Int.self) == 1 ? .admin : (try row.decode("authorized", as: Int?.self) == 1 ? .provider : .staff)
            identity = Identity(
                role: role, userID: userID, username: try row.decode("username", as: String.self),
                groupName: try row.decode("groupname", as: String?.self) ?? "Default", pid: nil,
                fname: try row.decode("u_fname", as: String?.self) ?? "", lname: try row.decode("u_lname", as: String?.self) ?? "",
                facilityID: try row.decode("facility_id", as: Int?.self), tokenHash: hash
            )
        case "patient":
            guard try row.decode("allow_patient_portal", as: String?.self) == "YES", let pid = try row.decode("pid", as: Int?.self) else {
                return nil
            }
            identity = Identity(
                role: .patient, userID: nil, username: try row.decode("username", as: String.self), groupName: "", pid: pid,
                fname: try row.decode("p_fname", as: String?.self) ?? "", lname: try row.decode("p_lname", as: String?.self) ?? "",
                facilityID: nil, tokenHash: hash
            )
        case "guest":
            identity = Identity(
                role: .guest, userID: nil, username: try row.decode("username", as: String.self), groupName: "Default", pid: nil,
                fname: "Demo", lname: "Guest", facilityID: nil, tokenHash: hash
            )
        default:
            return nil
        }
        if try row.decode("touch", as: Int.self) == 1 {
            try await database.query("UPDATE mmt_api_tokens SET last_used_at = UTC_TIMESTAMP() WHERE token_hash = \(hash)", logger: logger)
        }
        return identity
    }
}
