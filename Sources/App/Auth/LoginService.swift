import Foundation
import HTTPTypes
public import Logging
public import MariaDB
public import PasswordCrypt

/// Signs users in with OpenEMR's own credentials and rules (REFERENCE.md §2): `users.active`, a `groups` row, a
/// phpGACL group, the `users_secure` hash, per-user and per-IP lockout with OpenEMR's counters, password expiry and
/// MFA. It only verifies hashes and never rewrites `users_secure.password` (that would log the user out of OpenEMR).
public struct LoginService: Sendable {
    let database: MariaDBClient
    let verifier: PasswordVerifier
    let globals: OpenEMRGlobalsCache
    let tokens: TokenStore
    let audit: AuditLogger

    public init(database: MariaDBClient, verifier: PasswordVerifier, globals: OpenEMRGlobalsCache, tokens: TokenStore, audit: AuditLogger) {
        self.database = database
        self.verifier = verifier
        self.globals = globals
        self.tokens = tokens
        self.audit = audit
    }

    /// A successful sign-in.
    public struct Success: Sendable {
        public var issued: TokenStore.Issued
        public var identity: Identity
        /// The password is inside OpenEMR's grace window: it must be changed in OpenEMR soon.
        public var passwordExpiring: Bool
    }

    /// The same answer for an unknown user and a wrong password.
    static let invalidCredentials = AppError(.unauthorized, code: "invalid_credentials", message: "Unable to log in with the provided credentials.")

    static func locked(_ scope: String) -> AppError {
        AppError(
            HTTPResponse.Status(code: 423, reasonPhrase: "Locked"), code: "account_locked", message: "Too many failed logins; the account is temporarily locked.", details: ["scope": scope]
        )
    }

    // MARK: Core users

    /// `POST /api/auth/login/`.
    public func loginCoreUser(username: String, password: String, clientIP: String, logger: Logger) async throws -> Success {
        let settings = try await globals.current(logger: logger)

        // One database hop reads the IP's counters (creating its row) and the account.
        let reads = try await database.withConnection(logger: logger) { connection in
            try await connection.queries([
                "INSERT IGNORE INTO ip_tracking (ip_string) VALUES (\(clientIP))",
                """
                SELECT ip_login_fail_counter, ip_force_block, TIMESTAMPDIFF(SECOND, ip_last_login_fail, NOW()) AS since_fail
                FROM ip_tracking WHERE ip_string = \(clientIP)
                """,
                Self.accountQuery(username),
            ])
        }

        // 1. Per-IP lockout (ip_tracking), as OpenEMR checks it first.
        if try await ipIsBlocked(reads[1].first, clientIP, settings: settings, logger: logger) {
            try await recordIPFailure(clientIP, logger: logger)
            try await audit.record([failure(username, "ip blocked: \(clientIP)")], logger: logger)
            throw Self.locked("ip")
        }

        // 2. The account: exists, active, has a group, an ARO group and a password.
        let row = reads[2].first

        guard let row,
            try row.decode("active", as: Int?.self) == 1,
            let groupName = try row.decode("groupname", as: String?.self),
            let aroGroups = try row.decode("aro_groups", as: String?.self), !aroGroups.isEmpty,
            let storedHash = try row.decode("password", as: String?.self), !storedHash.isEmpty
        else {
            // Same work and same answer as a wrong password: no user enumeration.
            _ = try await verifier.verify(password: password, storedHash: PasswordCrypt.timingDummyHash)
            try await recordIPFailure(clientIP, logger: logger)
            try await audit.record([failure(username, "invalid user or not allowed to log in: \(clientIP)")], logger: logger)
            throw Self.invalidCredentials
        }
        let userID = try row.decode("id", as: Int.self)

        // 3. Per-user lockout.
        let failures = try row.decode("login_fail_counter", as: Int?.self) ?? 0
        let sinceFail = try row.decode("since_fail", as: Int?.self)
        let windowPassed = settings.timeResetPasswordMaxFailedLogins > 0 && (sinceFail ?? Int.max) > settings.timeResetPasswordMaxFailedLogins
        if settings.passwordMaxFailedLogins > 0 && failures >= settings.passwordMaxFailedLogins {
            if windowPassed {
                try await database.query("UPDATE users_secure SET login_fail_counter = 0 WHERE id = \(userID)", logger: logger)
            } else {
                try await recordUserFailure(userID, resetFirst: false, logger: logger)
                try await recordIPFailure(clientIP, logger: logger)
                try await audit.record([failure(username, "user blocked: \(clientIP)", group: groupName)], logger: logger)
                throw Self.locked("user")
            }
        }

        // 4. The password. Legacy formats that OpenEMR's own hashValid no longer accepts ($1$, $5$, $6$ without
        // rounds, unsalted MD5/SHA-1 hex written by old releases or the old Django bridge) still verify here, as the
        // bridge must keep those users signing in; each such login is logged so an admin can reset the password.
        let verification = try await verifier.verify(password: password, storedHash: storedHash)
        if verification == .match && !PasswordCrypt.isAcceptedByOpenEMR(storedHash: storedHash) {
            logger.notice("login with a legacy password hash format; reset the password in OpenEMR", metadata: ["user_id": "\(userID)"])
        }
        guard verification == .match else {
            if case .unsupported(let reason) = verification {
                logger.warning("stored password hash cannot be verified", metadata: ["user_id": "\(userID)", "reason": "\(reason)"])
            }
            try await recordUserFailure(userID, resetFirst: windowPassed || sinceFail == nil, logger: logger)
            try await recordIPFailure(clientIP, logger: logger)
            try await audit.record([failure(username, "failure: \(clientIP)", group: groupName)], logger: logger)
            throw Self.invalidCredentials
        }

        // 5. MFA: the bridge cannot ask for the second factor, so it refuses (as REFERENCE.md §2.5 requires).
        if try row.decode("mfa", as: Int.self) > 0 {
            try await audit.record([failure(username, "mfa required, refused by bridge: \(clientIP)", group: groupName)], logger: logger)
            throw AppError(
                .forbidden, code: "mfa_required", message: "This account uses multi-factor authentication; sign in through OpenEMR."
            )
        }

        // 6. Password expiry (NULL last_update_password: allowed, as OpenEMR does).
        var expiring = false
        if settings.passwordExpirationDays > 0, let age = try row.decode("password_age_days", as: Int?.self) {
            if age > settings.passwordExpirationDays + settings.passwordGraceTime {
                try await audit.record([failure(username, "password expired: \(clientIP)", group: groupName)], logger: logger)
                throw AppError(.forbidden, code: "password_expired", message: "The password has expired; change it in OpenEMR.")
            }
            expiring = age > settings.passwordExpirationDays
        }

        // 7. Success: clear the counters, issue the token, audit — in one transaction.
        let authorized = try row.decode("authorized", as: Int?.self) == 1 || (try row.decode("see_auth", as: Int?.self) ?? 0) > 2
        let role: Identity.Role = aroGroups.split(separator: ",").contains("admin") ? .admin : (authorized ? .provider : .staff)
        let canonicalName = try row.decode("username", as: String.self)
        var identity = Identity(
            role: role, userID: userID, username: canonicalName, groupName: groupName, pid: nil,
            fname: try row.decode("fname", as: String?.self) ?? "", lname: try row.decode("lname", as: String?.self) ?? "",
            facilityID: try row.decode("facility_id", as: Int?.self), tokenHash: []
        )
        let event = AuditEvent(
            event: "login", category: "login", user: canonicalName, groupName: groupName, success: true, comments: "success: \(clientIP)"
        )
        let issued = try await database.withTransaction(logger: logger) { connection in
            try await connection.queries([
                "UPDATE users_secure SET login_fail_counter = 0, last_login_fail = NULL, auto_block_emailed = 0 WHERE id = \(userID)",
                "UPDATE ip_tracking SET ip_login_fail_counter = 0, ip_last_login_fail = NULL, ip_auto_block_emailed = 0 WHERE ip_string = \(clientIP)",
            ])
            try await audit.write([event], on: connection)
            return try await tokens.issue(for: identity, source: "password", clientIP: clientIP, on: connection)
        }
        identity.tokenHash = issued.hash
        return Success(issued: issued, identity: identity, passwordExpiring: expiring)
    }

    /// The account and everything OpenEMR checks at login, by exact (binary) username.
    static func accountQuery(_ username: String) -> MariaDBQuery {
        """
            SELECT u.id, u.username, u.active, u.authorized, u.see_auth, u.fname, u.lname, u.facility_id,
                   s.password, s.login_fail_counter,
                   TIMESTAMPDIFF(SECOND, s.last_login_fail, NOW()) AS since_fail,
                   DATEDIFF(CURDATE(), s.last_update_password) AS password_age_days,
                   (SELECT g.name FROM `groups` g WHERE g.user = u.username ORDER BY g.id LIMIT 1) AS groupname,
                   (SELECT GROUP_CONCAT(ag.value) FROM gacl_aro a JOIN gacl_groups_aro_map m ON m.aro_id = a.id
                      JOIN gacl_aro_groups ag ON ag.id = m.group_id
                      WHERE a.section_value = 'users' AND BINARY a.value = BINARY u.username) AS aro_groups,
                   (SELECT COUNT(*) FROM login_mfa_registrations r WHERE r.user_id = u.id AND r.method IN ('TOTP', 'U2F')) AS mfa
            FROM users u JOIN users_secure s ON s.id = u.id AND BINARY s.username = BINARY u.username
            WHERE BINARY u.username = \(username)
            """
    }

    private func failure(_ username: String, _ comments: String, group: String = "") -> AuditEvent {
        AuditEvent(event: "login", category: "login", user: username, groupName: group, success: false, comments: comments)
    }

    private func ipIsBlocked(_ row: MariaDBRow?, _ ip: String, settings: OpenEMRGlobals, logger: Logger) async throws -> Bool {
        guard let row else { return false }
        if try row.decode("ip_force_block", as: Int?.self) == 1 { return true }
        let failures = try row.decode("ip_login_fail_counter", as: Int?.self) ?? 0
        guard settings.ipMaxFailedLogins > 0, failures >= settings.ipMaxFailedLogins else { return false }
        let since = try row.decode("since_fail", as: Int?.self) ?? Int.max
        if settings.ipTimeResetPasswordMaxFailedLogins > 0 && since > settings.ipTimeResetPasswordMaxFailedLogins {
            try await database.query("UPDATE ip_tracking SET ip_login_fail_counter = 0 WHERE ip_string = \(ip)", logger: logger)
            return false
        }
        return true
    }

    private func recordIPFailure(_ ip: String, logger: Logger) async throws {
        try await database.query(
            """
            UPDATE ip_tracking SET total_ip_login_fail_counter = total_ip_login_fail_counter + 1,
                   ip_login_fail_counter = ip_login_fail_counter + 1, ip_last_login_fail = NOW()
            WHERE ip_string = \(ip)
            """, logger: logger
        )
    }

    private func recordUserFailure(_ userID: Int, resetFirst: Bool, logger: Logger) async throws {
        if resetFirst {
            try await database.query(
                """
                UPDATE users_secure SET total_login_fail_counter = total_login_fail_counter + 1, login_fail_counter = 1,
                       auto_block_emailed = 0, last_login_fail = NOW() WHERE id = \(userID)
                """, logger: logger
            )
        } else {
            try await database.query(
                """
                UPDATE users_secure SET total_login_fail_counter = total_login_fail_counter + 1,
                       login_fail_counter = login_fail_counter + 1, last_login_fail = NOW() WHERE id = \(userID)
                """, logger: logger
            )
        }
    }

    // MARK: Portal patients

    /// `POST /api/auth/patient-login/`: portal credentials from `patient_access_onsite` (REFERENCE.md §2.5).
    public func loginPatient(username: String, password: String, clientIP: String, logger: Logger) async throws -> Success {
        let row = try await database.query(
            """
            SELECT o.pid, o.portal_username, o.portal_login_username, o.portal_pwd, o.portal_pwd_status, o.portal_onetime,
                   p.allow_patient_portal, p.fname, p.lname
            FROM patient_access_onsite o JOIN patient_data p ON p.pid = o.pid
            WHERE BINARY o.portal_login_username = \(username)
            """, logger: logger
        ).first
        guard let row,
            let pid = try row.decode("pid", as: Int?.self),
            !(try row.decode("portal_username", as: String?.self) ?? "").isEmpty,
            let storedHash = try row.decode("portal_pwd", as: String?.self), !storedHash.isEmpty,
            try row.decode("portal_pwd_status", as: Int?.self) == 1,
            (try row.decode("portal_onetime", as: String?.self) ?? "").isEmpty,
            try row.decode("allow_patient_portal", as: String?.self) == "YES"
        else {
            _ = try await verifier.verify(password: password, storedHash: PasswordCrypt.timingDummyHash)
            try await audit.record([portalEvent(username, pid: nil, success: false, "invalid portal login: \(clientIP)")], logger: logger)
            throw Self.invalidCredentials
        }
        guard try await verifier.verify(password: password, storedHash: storedHash) == .match else {
            try await audit.record([portalEvent(username, pid: pid, success: false, "failure: \(clientIP)")], logger: logger)
            throw Self.invalidCredentials
        }
        var identity = Identity(
            role: .patient, userID: nil, username: username, groupName: "", pid: pid, fname: try row.decode("fname", as: String?.self) ?? "",
            lname: try row.decode("lname", as: String?.self) ?? "", facilityID: nil, tokenHash: []
        )
        let issued = try await database.withTransaction(logger: logger) { connection in
            try await audit.write([portalEvent(username, pid: pid, success: true, "success: \(clientIP)")], on: connection)
            return try await tokens.issue(for: identity, source: "portal-password", clientIP: clientIP, on: connection)
        }
        identity.tokenHash = issued.hash
        return Success(issued: issued, identity: identity, passwordExpiring: false)
    }

    private func portalEvent(_ username: String, pid: Int?, success: Bool, _ comments: String) -> AuditEvent {
        AuditEvent(
            event: "portal-login", category: "portal-login", user: username, groupName: "", patientID: pid, success: success,
            comments: comments, logFrom: "patient-portal"
        )
    }
}
