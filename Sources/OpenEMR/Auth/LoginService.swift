import Foundation
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
    let gate: SignInGate
    let portalLimits: PortalLimits

    /// Failure limits of the patient portal, which OpenEMR does not lock out (counters in `mmt_login_throttle`).
    public struct PortalLimits: Sendable {
        /// Failures per portal account before it is locked (0: no account limit).
        public var maxFailedLogins: Int
        /// Failures per client address before it is blocked (0: no address limit).
        public var ipMaxFailedLogins: Int
        /// Failures older than this many seconds no longer count; a lock ends this long after the last failure.
        public var windowSeconds: Int

        public init(maxFailedLogins: Int = 10, ipMaxFailedLogins: Int = 100, windowSeconds: Int = 3600) {
            self.maxFailedLogins = maxFailedLogins
            self.ipMaxFailedLogins = ipMaxFailedLogins
            self.windowSeconds = windowSeconds
        }
    }

    public init(
        database: MariaDBClient, verifier: PasswordVerifier, globals: OpenEMRGlobalsCache, tokens: TokenStore, audit: AuditLogger,
        gate: SignInGate = SignInGate(limit: 32), portalLimits: PortalLimits = PortalLimits()
    ) {
        self.database = database
        self.verifier = verifier
        self.globals = globals
        self.tokens = tokens
        self.audit = audit
        self.gate = gate
        self.portalLimits = portalLimits
    }

    /// A successful sign-in.
    public struct Success: Sendable {
        public var issued: TokenStore.Issued
        public var identity: Identity
        /// The password is inside OpenEMR's grace window: it must be changed in OpenEMR soon.
        public var passwordExpiring: Bool

        public init(issued: TokenStore.Issued, identity: Identity, passwordExpiring: Bool) {
            self.issued = issued
            self.identity = identity
            self.passwordExpiring = passwordExpiring
        }
    }

    /// The same answer for an unknown user, a wrong password, an inactive user and a locked account.
    public static let invalidCredentials = OpenEMRError(.unauthenticated, code: "invalid_credentials", message: "Unable to log in with the provided credentials.")

    /// The client address is blocked (too many failures from it, or OpenEMR's manual `ip_force_block`). This says
    /// nothing about any account, so it keeps its own status.
    public static let addressLocked = OpenEMRError(
        .locked, code: "account_locked",
        message: "Too many failed logins from this address; try again later.", details: ["scope": "ip"]
    )

    public static let busy = OpenEMRError(
        .unavailable, code: "signin_busy", message: "Too many sign-ins are in progress; try again shortly.", retryAfter: 1
    )

    /// What the first, short transaction of a sign-in decided, with the failure counters already updated.
    ///
    /// Counting happens before the password is checked, under row locks (`SELECT … FOR UPDATE` on the `ip_tracking`
    /// row, then on the `users_secure` row), so concurrent attempts, on one replica or several, each see the count of
    /// the ones before: once the limit is reached no further guess reaches the hash check. A correct password then
    /// takes its count back (success clears the counters, as OpenEMR does).
    public enum Decision: Sendable {
        /// The client address is blocked: answered at once, without a hash check (it reveals nothing about accounts).
        case addressBlocked
        /// A failure decided before the hash check (unknown or inactive user, locked account), counted and audited in
        /// the same transaction. The password is still checked against `timingHash`, a hash of the same algorithm and
        /// cost as a real one, and the result thrown away: this answer takes as long as a wrong password.
        case refused(timingHash: String)
        /// Counted as a failure; the password decides.
        case check(Account)
    }

    /// The account whose password decides, or the refusal the first transaction decided on (after the same hash
    /// work as a real check, for a refused account).
    private func accountToCheck(_ decision: Decision, password: String) async throws -> Account {
        switch decision {
        case .addressBlocked:
            throw Self.addressLocked
        case .refused(let timingHash):
            _ = try await verifier.verify(password: password, storedHash: timingHash)
            throw Self.invalidCredentials
        case .check(let account):
            return account
        }
    }

    public struct Account: Sendable {
        var row: MariaDBRow
        var id: Int
        var groupName: String
        var storedHash: String
    }

    /// The stored hash that unknown accounts are checked against: the most recently set core password, i.e. the
    /// algorithm and cost this installation writes today.
    static let coreTimingHashQuery: MariaDBQuery =
        "SELECT password AS v FROM users_secure WHERE password LIKE '$%' ORDER BY last_update_password DESC, id DESC LIMIT 1"
    static let portalTimingHashQuery: MariaDBQuery =
        "SELECT portal_pwd AS v FROM patient_access_onsite WHERE portal_pwd LIKE '$%' ORDER BY id DESC LIMIT 1"

    // MARK: Core users

    /// `POST /api/auth/login/`.
    public func loginCoreUser(username: String, password: String, clientIP: String, logger: Logger) async throws -> Success {
        do {
            return try await gate.admit { try await signInCore(username: username, password: password, clientIP: clientIP, logger: logger) }
        } catch is SignInGate.Busy {
            throw Self.busy
        }
    }

    private func signInCore(username: String, password: String, clientIP: String, logger: Logger) async throws -> Success {
        let settings = try await globals.current(logger: logger)
        let decision = try await database.withConnection(logger: logger) { connection in
            // The address's row exists before the transaction locks it. (An INSERT IGNORE inside it would take a shared
            // lock on the existing row, and two attempts upgrading theirs to FOR UPDATE deadlock.)
            try await connection.query("INSERT IGNORE INTO ip_tracking (ip_string) VALUES (\(clientIP))")
            return try await connection.withTransaction { connection in
                try await decideCore(username: username, clientIP: clientIP, settings: settings, on: connection)
            }
        }
        let account = try await accountToCheck(decision, password: password)
        let row = account.row
        let userID = account.id
        let groupName = account.groupName

        // The password. Legacy formats that OpenEMR's own hashValid no longer accepts ($1$, $5$, $6$ without rounds,
        // unsalted MD5/SHA-1 hex written by old releases or the old Django bridge) still verify here, as the bridge must
        // keep those users signing in; each such login is logged so an admin can reset the password.
        let verification = try await verifier.verify(password: password, storedHash: account.storedHash)
        guard verification == .match else {
            if case .unsupported(let reason) = verification {
                logger.warning("stored password hash cannot be verified", metadata: ["user_id": "\(userID)", "reason": "\(reason)"])
            }
            // The attempt was counted before the check; its audit row follows the verdict.
            try await audit.record([failure(username, "failure: \(clientIP)", group: groupName)], logger: logger)
            throw Self.invalidCredentials
        }
        if !PasswordCrypt.isAcceptedByOpenEMR(storedHash: account.storedHash) {
            logger.notice("login with a legacy password hash format; reset the password in OpenEMR", metadata: ["user_id": "\(userID)"])
        }
        // The password was right: the attempt is not a failure. Cleared in the same transaction as the outcome's audit row.
        let clear = Self.clearCoreCounters(userID: userID, clientIP: clientIP)

        // MFA: the bridge cannot ask for the second factor, so it refuses (as REFERENCE.md §2.5 requires).
        if try row.decode("mfa", as: Int.self) > 0 {
            try await database.withTransaction(logger: logger) { connection in
                try await connection.queries(clear)
                try await audit.write([failure(username, "mfa required, refused by bridge: \(clientIP)", group: groupName)], on: connection)
            }
            throw OpenEMRError(.forbidden, code: "mfa_required", message: "This account uses multi-factor authentication; sign in through OpenEMR.")
        }

        // Password expiry (NULL last_update_password: allowed, as OpenEMR does).
        var expiring = false
        if settings.passwordExpirationDays > 0, let age = try row.decode("password_age_days", as: Int?.self) {
            if age > settings.passwordExpirationDays + settings.passwordGraceTime {
                try await database.withTransaction(logger: logger) { connection in
                    try await connection.queries(clear)
                    try await audit.write([failure(username, "password expired: \(clientIP)", group: groupName)], on: connection)
                }
                throw OpenEMRError(.forbidden, code: "password_expired", message: "The password has expired; change it in OpenEMR.")
            }
            expiring = age > settings.passwordExpirationDays
        }

        // Success: clear the counters, issue the token, audit — in one transaction.
        let identity = Identity(
            role: try Self.role(row), userID: userID, username: try row.decode("username", as: String.self), groupName: groupName, pid: nil,
            fname: try row.decode("fname", as: String?.self) ?? "", lname: try row.decode("lname", as: String?.self) ?? "",
            facilityID: try row.decode("facility_id", as: Int?.self), tokenHash: []
        )
        let event = AuditEvent(
            event: "login", category: "login", user: identity.username, groupName: groupName, success: true, comments: "success: \(clientIP)"
        )
        return try await tokens.signIn(
            identity, source: "password", clientIP: clientIP, binding: TokenStore.Binding(credentialHash: account.storedHash), events: [event],
            statements: clear, audit: audit, passwordExpiring: expiring, logger: logger
        )
    }

    /// The first transaction of a core sign-in (see `Decision`). Row locks are always taken in the same order:
    /// `ip_tracking`, then `users_secure`.
    private func decideCore(username: String, clientIP: String, settings: OpenEMRGlobals, on connection: MariaDBConnection) async throws -> Decision {
        let reads = try await connection.queries([
            """
            SELECT ip_login_fail_counter, ip_force_block, TIMESTAMPDIFF(SECOND, ip_last_login_fail, NOW()) AS since_fail
            FROM ip_tracking WHERE ip_string = \(clientIP) FOR UPDATE
            """,
            Self.accountQuery(username),
        ])
        // 1. Per-IP lockout (ip_tracking), as OpenEMR checks it first. A blocked attempt still counts.
        let ip = try FailureCounter(
            row: reads[0].first, counter: "ip_login_fail_counter", limit: settings.ipMaxFailedLogins,
            window: settings.ipTimeResetPasswordMaxFailedLogins, forced: "ip_force_block"
        )
        let countIP = Self.countIPFailure(clientIP, restart: ip.restarts)
        if ip.blocked {
            try await connection.query(countIP)
            try await audit.write([failure(username, "ip blocked: \(clientIP)")], on: connection)
            return .addressBlocked
        }

        // 2. The account: exists, active, has a group, an ARO group and a password.
        guard let row = reads[1].first,
            try row.decode("active", as: Int?.self) == 1,
            let groupName = try row.decode("groupname", as: String?.self),
            let aroGroups = try row.decode("aro_groups", as: String?.self), !aroGroups.isEmpty,
            let storedHash = try row.decode("password", as: String?.self), !storedHash.isEmpty
        else {
            // Same work and same answer as a wrong password: no user enumeration.
            let timingHash = try await Self.timingHash(Self.coreTimingHashQuery, on: connection)
            try await connection.query(countIP)
            try await audit.write([failure(username, "invalid user or not allowed to log in: \(clientIP)")], on: connection)
            return .refused(timingHash: timingHash)
        }
        let userID = try row.decode("id", as: Int.self)

        // 3. Per-user lockout, on the locked row.
        let user = try FailureCounter(
            row: try await connection.query(
                """
                SELECT login_fail_counter, TIMESTAMPDIFF(SECOND, last_login_fail, NOW()) AS since_fail
                FROM users_secure WHERE id = \(userID) FOR UPDATE
                """
            ).first,
            counter: "login_fail_counter", limit: settings.passwordMaxFailedLogins, window: settings.timeResetPasswordMaxFailedLogins
        )
        try await connection.queries([countIP, Self.countUserFailure(userID, restart: user.restarts)])
        if user.blocked {
            try await audit.write([failure(username, "user blocked: \(clientIP)", group: groupName)], on: connection)
            return .refused(timingHash: storedHash)
        }
        return .check(Account(row: row, id: userID, groupName: groupName, storedHash: storedHash))
    }

    /// A failure counter row as read under its lock, and what it means for this attempt.
    public struct FailureCounter {
        /// The attempt is refused without a hash check.
        var blocked = false
        /// The last failure is older than the window (or there is none): the count starts again at 1.
        var restarts = true

        init(row: MariaDBRow?, counter: String, limit: Int, window: Int, forced: String? = nil) throws {
            guard let row else { return }
            let failures = try row.decode(counter, as: Int?.self) ?? 0
            let sinceFail = try row.decode("since_fail", as: Int?.self)
            // OpenEMR: a window of 0 means failures never expire.
            let windowPassed = sinceFail == nil || (window > 0 && (sinceFail ?? 0) > window)
            restarts = windowPassed
            if let forced, try row.decode(forced, as: Int?.self) == 1 { blocked = true }
            if limit > 0 && failures >= limit && !windowPassed { blocked = true }
        }
    }

    static func countIPFailure(_ ip: String, restart: Bool) -> MariaDBQuery {
        """
        UPDATE ip_tracking SET total_ip_login_fail_counter = total_ip_login_fail_counter + 1,
               ip_login_fail_counter = IF(\(restart ? 1 : 0) = 1, 1, ip_login_fail_counter + 1),
               ip_auto_block_emailed = IF(\(restart ? 1 : 0) = 1, 0, ip_auto_block_emailed), ip_last_login_fail = NOW()
        WHERE ip_string = \(ip)
        """
    }

    static func countUserFailure(_ userID: Int, restart: Bool) -> MariaDBQuery {
        """
        UPDATE users_secure SET total_login_fail_counter = total_login_fail_counter + 1,
               login_fail_counter = IF(\(restart ? 1 : 0) = 1, 1, login_fail_counter + 1),
               auto_block_emailed = IF(\(restart ? 1 : 0) = 1, 0, auto_block_emailed), last_login_fail = NOW()
        WHERE id = \(userID)
        """
    }

    /// A right password: the attempt counted before the check is taken back and the counters cleared, as OpenEMR
    /// clears them on success (same lock order as the count: `ip_tracking`, then `users_secure`).
    static func clearCoreCounters(userID: Int, clientIP: String) -> [MariaDBQuery] {
        [
            """
            UPDATE ip_tracking SET ip_login_fail_counter = 0, ip_last_login_fail = NULL, ip_auto_block_emailed = 0,
                   total_ip_login_fail_counter = GREATEST(total_ip_login_fail_counter, 1) - 1
            WHERE ip_string = \(clientIP)
            """,
            """
            UPDATE users_secure SET login_fail_counter = 0, last_login_fail = NULL, auto_block_emailed = 0,
                   total_login_fail_counter = GREATEST(total_login_fail_counter, 1) - 1
            WHERE id = \(userID)
            """,
        ]
    }

    /// The installation's current hash (algorithm and cost) to check unknown accounts against, else a bcrypt one.
    static func timingHash(_ query: MariaDBQuery, on connection: MariaDBConnection) async throws -> String {
        let stored = try await connection.query(query).first?.decode("v", as: String?.self) ?? ""
        switch PasswordCrypt.format(of: stored) {
        case .bcrypt, .legacyBcrypt21, .sha512Crypt, .sha256Crypt, .md5Crypt, .argon2id, .argon2i: return stored
        default: return PasswordCrypt.timingDummyHash
        }
    }

    /// The role of an `accountQuery` row (`Identity.Role.coreUser`).
    static func role(_ row: MariaDBRow) throws -> Identity.Role {
        .coreUser(
            admin: (try row.decode("aro_groups", as: String?.self) ?? "").split(separator: ",").contains("admin"),
            authorized: try row.decode("authorized", as: Int?.self), seeAuth: try row.decode("see_auth", as: Int?.self)
        )
    }

    /// The account and everything OpenEMR checks at login, by exact (binary) username.
    static func accountQuery(_ username: String) -> MariaDBQuery { accountQuery(where: "BINARY u.username = \(username)") }

    /// The one read of a core account with what OpenEMR checks for it (sign-in and the session bridge): the user, the
    /// stored hash, password age, `groups` name, phpGACL groups and second factors.
    static func accountQuery(where condition: MariaDBQuery) -> MariaDBQuery {
        var query: MariaDBQuery = """
            SELECT u.id, u.username, u.active, u.authorized, u.see_auth, u.fname, u.lname, u.facility_id,
                   s.password,
                   DATEDIFF(CURDATE(), s.last_update_password) AS password_age_days,
                   (SELECT g.name FROM `groups` g WHERE g.user = u.username ORDER BY g.id LIMIT 1) AS groupname,
                   (SELECT GROUP_CONCAT(ag.value) FROM gacl_aro a JOIN gacl_groups_aro_map m ON m.aro_id = a.id
                      JOIN gacl_aro_groups ag ON ag.id = m.group_id
                      WHERE a.section_value = 'users' AND BINARY a.value = BINARY u.username) AS aro_groups,
                   (SELECT COUNT(*) FROM login_mfa_registrations r WHERE r.user_id = u.id AND r.method IN ('TOTP', 'U2F')) AS mfa
            FROM users u JOIN users_secure s ON s.id = u.id AND BINARY s.username = BINARY u.username
            WHERE
            """
        query.append(" ")
        query.append(condition)
        return query
    }

    private func failure(_ username: String, _ comments: String, group: String = "") -> AuditEvent {
        AuditEvent(event: "login", category: "login", user: username, groupName: group, success: false, comments: comments)
    }

    // MARK: Portal patients

    /// `POST /api/auth/patient-login/`: portal credentials from `patient_access_onsite` (REFERENCE.md §2.5), with the
    /// bridge's own per-account and per-address failure limits (`PortalLimits`), counted like the core ones.
    public func loginPatient(username: String, password: String, clientIP: String, logger: Logger) async throws -> Success {
        do {
            return try await gate.admit { try await signInPatient(username: username, password: password, clientIP: clientIP, logger: logger) }
        } catch is SignInGate.Busy {
            throw Self.busy
        }
    }

    private func signInPatient(username: String, password: String, clientIP: String, logger: Logger) async throws -> Success {
        let decision = try await database.withConnection(logger: logger) { connection in
            // Rows exist before the transaction locks them (see `signInCore`). Unknown names get no account row.
            try await connection.queries([
                "INSERT IGNORE INTO mmt_login_throttle (scope, subject) VALUES ('portal_ip', \(clientIP))",
                """
                INSERT IGNORE INTO mmt_login_throttle (scope, subject)
                SELECT 'portal_account', CAST(pid AS CHAR) FROM patient_access_onsite WHERE BINARY portal_login_username = \(username)
                """,
            ])
            return try await connection.withTransaction { connection in
                try await decidePortal(username: username, clientIP: clientIP, on: connection)
            }
        }
        let account = try await accountToCheck(decision, password: password)
        let pid = account.id
        guard try await verifier.verify(password: password, storedHash: account.storedHash) == .match else {
            try await audit.record([portalEvent(username, pid: pid, success: false, "failure: \(clientIP)")], logger: logger)
            throw Self.invalidCredentials
        }
        let identity = Identity(
            role: .patient, userID: nil, username: username, groupName: "", pid: pid, fname: try account.row.decode("fname", as: String?.self) ?? "",
            lname: try account.row.decode("lname", as: String?.self) ?? "", facilityID: nil, tokenHash: []
        )
        return try await tokens.signIn(
            identity, source: "portal-password", clientIP: clientIP, binding: TokenStore.Binding(credentialHash: account.storedHash),
            events: [portalEvent(username, pid: pid, success: true, "success: \(clientIP)")], statements: Self.clearPortalCounters(pid: pid, clientIP: clientIP),
            audit: audit, logger: logger
        )
    }

    // MARK: Demo guest and sign-out

    /// The demo guest (read-only; the caller checks that demo mode and the guest are enabled; `TokenStore` refuses
    /// guest tokens otherwise). Not audited: no OpenEMR user is involved.
    public func signInGuest(clientIP: String, logger: Logger) async throws -> Success {
        let guest = Identity(
            role: .guest, userID: nil, username: "guest", groupName: "Default", pid: nil, fname: "Demo", lname: "Guest", facilityID: nil, tokenHash: []
        )
        return try await tokens.signIn(guest, source: "demo-guest", clientIP: clientIP, events: [], audit: audit, logger: logger)
    }

    /// Logout: the token is revoked for every replica at once, with its audit row (`logout`, or `portal-logout`).
    public func signOut(_ identity: Identity, clientIP: String, logger: Logger) async throws {
        let events =
            identity.role == .guest
            ? []
            : [AuditEvent(identity.role == .patient ? "portal-logout" : "logout", category: "logout", by: identity, patientID: identity.pid, comments: "success: \(clientIP)")]
        try await tokens.signOut(hash: identity.tokenHash, events: events, audit: audit, logger: logger)
    }

    /// The first transaction of a portal sign-in: the same rules as `decideCore`, on `mmt_login_throttle` rows
    /// (locked in the same order: the address, then the account).
    private func decidePortal(username: String, clientIP: String, on connection: MariaDBConnection) async throws -> Decision {
        let limits = portalLimits
        let reads = try await connection.queries([
            """
            SELECT fail_counter, TIMESTAMPDIFF(SECOND, last_fail, NOW()) AS since_fail
            FROM mmt_login_throttle WHERE scope = 'portal_ip' AND subject = \(clientIP) FOR UPDATE
            """,
            """
            SELECT o.pid, o.portal_username, o.portal_login_username, o.portal_pwd, o.portal_pwd_status, o.portal_onetime,
                   p.allow_patient_portal, p.fname, p.lname
            FROM patient_access_onsite o JOIN patient_data p ON p.pid = o.pid
            WHERE BINARY o.portal_login_username = \(username)
            """,
        ])
        let address = try FailureCounter(row: reads[0].first, counter: "fail_counter", limit: limits.ipMaxFailedLogins, window: limits.windowSeconds)
        let countAddress = Self.countPortalFailure("portal_ip", clientIP, restart: address.restarts)
        if address.blocked {
            try await connection.query(countAddress)
            try await audit.write([portalEvent(username, pid: nil, success: false, "portal ip blocked: \(clientIP)")], on: connection)
            return .addressBlocked
        }
        guard let row = reads[1].first,
            let pid = try row.decode("pid", as: Int?.self),
            !(try row.decode("portal_username", as: String?.self) ?? "").isEmpty,
            let storedHash = try row.decode("portal_pwd", as: String?.self), !storedHash.isEmpty,
            try row.decode("portal_pwd_status", as: Int?.self) == 1,
            (try row.decode("portal_onetime", as: String?.self) ?? "").isEmpty,
            try row.decode("allow_patient_portal", as: String?.self) == "YES"
        else {
            let timingHash = try await Self.timingHash(Self.portalTimingHashQuery, on: connection)
            try await connection.query(countAddress)
            try await audit.write([portalEvent(username, pid: nil, success: false, "invalid portal login: \(clientIP)")], on: connection)
            return .refused(timingHash: timingHash)
        }
        let subject = String(pid)
        let accountRow = try await connection.query(
            """
            SELECT fail_counter, TIMESTAMPDIFF(SECOND, last_fail, NOW()) AS since_fail
            FROM mmt_login_throttle WHERE scope = 'portal_account' AND subject = \(subject) FOR UPDATE
            """
        ).first
        let account = try FailureCounter(row: accountRow, counter: "fail_counter", limit: limits.maxFailedLogins, window: limits.windowSeconds)
        try await connection.queries([countAddress, Self.countPortalFailure("portal_account", subject, restart: account.restarts)])
        if account.blocked {
            try await audit.write([portalEvent(username, pid: pid, success: false, "portal account blocked: \(clientIP)")], on: connection)
            return .refused(timingHash: storedHash)
        }
        return .check(Account(row: row, id: pid, groupName: "", storedHash: storedHash))
    }

    static func countPortalFailure(_ scope: String, _ subject: String, restart: Bool) -> MariaDBQuery {
        """
        UPDATE mmt_login_throttle SET total_fail_counter = total_fail_counter + 1,
               fail_counter = IF(\(restart ? 1 : 0) = 1, 1, fail_counter + 1), last_fail = NOW()
        WHERE scope = \(scope) AND subject = \(subject)
        """
    }

    /// Success takes this attempt's count back from the address (an attacker's own portal account must not clear the
    /// count of its guesses at others) and clears the account's; the address first, the lock order of `decidePortal`.
    static func clearPortalCounters(pid: Int, clientIP: String) -> [MariaDBQuery] {
        [
            """
            UPDATE mmt_login_throttle SET fail_counter = GREATEST(fail_counter, 1) - 1, total_fail_counter = GREATEST(total_fail_counter, 1) - 1
            WHERE scope = 'portal_ip' AND subject = \(clientIP)
            """,
            """
            UPDATE mmt_login_throttle SET fail_counter = 0, last_fail = NULL, total_fail_counter = GREATEST(total_fail_counter, 1) - 1
            WHERE scope = 'portal_account' AND subject = \(String(pid))
            """,
        ]
    }

    private func portalEvent(_ username: String, pid: Int?, success: Bool, _ comments: String) -> AuditEvent {
        AuditEvent(
            event: "portal-login", category: "portal-login", user: username, groupName: "", patientID: pid, success: success,
            comments: comments, logFrom: "patient-portal"
        )
    }
}
