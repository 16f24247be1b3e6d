import Foundation
public import Logging
public import MariaDB
public import NIOPosix
import PHPSerialization
import PasswordCrypt

/// Turns a live OpenEMR PHP session (core `OpenEMR` or portal `PortalOpenEMR`) into a bridge token for the same
/// user or patient (REFERENCE.md §3).
///
/// The session file is read from `OPENEMR_SESSION_PATH` (read-only), parsed with a byte-exact `php`-format decoder
/// in either layout, and accepted only when it is fresh, and OpenEMR itself would still accept it: for core users
/// `authPass` equals the current `users_secure.password`, the user is active, and `session_tracker` shows activity
/// within OpenEMR's `timeout`; for patients the portal flags are set and the patient is still allowed on the portal.
public struct SessionBridge: Sendable {
    let directory: String?
    let siteID: String
    let maxAge: Int
    let database: MariaDBClient
    let globals: OpenEMRGlobalsCache
    let tokens: TokenStore
    let audit: AuditLogger
    let fileThreadPool: NIOThreadPool

    public init(
        directory: String?, siteID: String, maxAge: Int, database: MariaDBClient, globals: OpenEMRGlobalsCache, tokens: TokenStore, audit: AuditLogger,
        fileThreadPool: NIOThreadPool
    ) {
        self.directory = directory
        self.siteID = siteID
        self.maxAge = maxAge
        self.database = database
        self.globals = globals
        self.tokens = tokens
        self.audit = audit
        self.fileThreadPool = fileThreadPool
    }

    /// Which OpenEMR session.
    public enum Kind: String, Sendable {
        case core = "OpenEMR"
        case portal = "PortalOpenEMR"
    }

    public static let refused = OpenEMRError(.unauthenticated, code: "invalid_session", message: "The OpenEMR session is missing, expired or not valid.")

    /// Bridges the session with this id.
    public func bridge(sessionID: String, kind: Kind, clientIP: String, logger: Logger) async throws -> LoginService.Success {
        guard let directory else {
            throw OpenEMRError(
                .unavailable, code: "session_bridge_disabled", message: "The OpenEMR session bridge is not configured (OPENEMR_SESSION_PATH)."
            )
        }
        // The id becomes part of a path: only OpenEMR's own id alphabet is accepted (no '.', '/', NUL).
        guard PHPSession.isValidSessionID(sessionID) else {
            logger.debug("session bridge refused: malformed session id")
            throw Self.refused
        }
        let path = directory + "/sess_" + sessionID
        let maxAge = self.maxAge
        let file: (bytes: [UInt8], age: Int)? = try await fileThreadPool.runIfActive { Self.readFreshFile(path, maxAge: maxAge) }
        guard let (bytes, age) = file else {
            logger.debug("session bridge refused: no such session file, or stale")
            throw Self.refused
        }
        let session: PHPSession
        do {
            session = try PHPSession(decoding: bytes, sessionName: kind.rawValue)
        } catch {
            logger.notice("session bridge refused: session file does not parse", metadata: LogSafe.metadata(error))
            throw Self.refused
        }
        // OpenEMR refuses a request whose session has no `site_id`; a session of another site is not ours to bridge.
        guard session.string("site_id") == siteID else {
            logger.debug("session bridge refused: session belongs to no or another OpenEMR site")
            throw Self.refused
        }
        switch kind {
        case .core: return try await bridgeCore(session, sessionID: sessionID, clientIP: clientIP, logger: logger)
        case .portal: return try await bridgePortal(session, sessionID: sessionID, age: age, clientIP: clientIP, logger: logger)
        }
    }

    /// The file's bytes and age in seconds when it exists, is a regular file of sane size, and was written within
    /// `maxAge` seconds.
    static func readFreshFile(_ path: String, maxAge: Int) -> (bytes: [UInt8], age: Int)? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular,
            let modified = attributes[.modificationDate] as? Date,
            let size = attributes[.size] as? Int, size > 0, size <= 1 << 20,
            Date().timeIntervalSince(modified) <= TimeInterval(maxAge),
            let data = FileManager.default.contents(atPath: path)
        else { return nil }
        return (Array(data), max(0, Int(Date().timeIntervalSince(modified))))
    }

    /// Seconds since the regular file at `path` was last written (PHP's file handler writes or touches a session file
    /// on every request); nil when there is no such file (OpenEMR's logout deletes it).
    static func fileAge(_ path: String) -> Int? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular,
            let modified = attributes[.modificationDate] as? Date
        else { return nil }
        return max(0, Int(Date().timeIntervalSince(modified)))
    }

    private func bridgeCore(_ session: PHPSession, sessionID: String, clientIP: String, logger: Logger) async throws -> LoginService.Success {
        guard let userName = session.string("authUser"), !userName.isEmpty,
            let authPass = session.string("authPass"), !authPass.isEmpty,
            let userID = session.int("authUserID"),
            let trackerUUID = session.bytes("session_database_uuid"), trackerUUID.count == 16
        else {
            logger.debug("session bridge refused: session is not logged in (or MFA not completed)")
            throw Self.refused
        }
        let settings = try await globals.current(logger: logger)
        let reads = try await database.withConnection(logger: logger) { connection in
            try await connection.queries([
                LoginService.accountQuery(where: "u.id = \(userID)"),
                "SELECT TIMESTAMPDIFF(SECOND, last_updated, NOW()) AS idle FROM session_tracker WHERE uuid = \(trackerUUID)",
            ])
        }
        guard let row = reads[0].first,
            try row.decode("active", as: Int?.self) == 1,
            try row.decode("username", as: String.self) == userName,
            Digest.constantTimeEquals(authPass, try row.decode("password", as: String?.self) ?? ""),
            let idle = try reads[1].first?.decode("idle", as: Int?.self), idle <= settings.sessionTimeout
        else {
            try await audit.record(
                [AuditEvent(event: "login", category: "login", user: userName, groupName: "", success: false, comments: "openemr-session bridge refused: \(clientIP)")],
                logger: logger
            )
            throw Self.refused
        }
        let groupName = try row.decode("groupname", as: String?.self) ?? "Default"
        let identity = Identity(
            role: try LoginService.role(row), userID: userID, username: userName, groupName: groupName, pid: nil, fname: try row.decode("fname", as: String?.self) ?? "",
            lname: try row.decode("lname", as: String?.self) ?? "", facilityID: try row.decode("facility_id", as: Int?.self), tokenHash: []
        )
        let event = AuditEvent(
            event: "login", category: "login", user: userName, groupName: groupName, success: true, comments: "openemr-session bridge: \(clientIP)"
        )
        // The token ends with this session: its file, its tracker row, and the password it was signed in with.
        let binding = TokenStore.Binding(credentialHash: authPass, sessionID: sessionID, trackerUUID: trackerUUID)
        return try await tokens.signIn(identity, source: "openemr-session", clientIP: clientIP, binding: binding, events: [event], audit: audit, logger: logger)
    }

    private func bridgePortal(_ session: PHPSession, sessionID: String, age: Int, clientIP: String, logger: Logger) async throws
        -> LoginService.Success
    {
        guard let pid = session.int("pid"), pid > 0,
            let flag = session["patient_portal_onsite_two"], !(flag.isNull || flag.intValue == 0 || flag.stringValue == ""),
            let loginName = session.string("portal_login_username") ?? session.string("portal_username")
        else {
            logger.debug("session bridge refused: portal session is not logged in")
            throw Self.refused
        }
        // OpenEMR's portal ends a session idle for longer than `portal_timeout`.
        let settings = try await globals.current(logger: logger)
        guard age <= settings.portalTimeout else {
            logger.debug("session bridge refused: portal session idle past portal_timeout")
            throw Self.refused
        }
        guard
            let row = try await database.query(
                """
                SELECT p.fname, p.lname, o.portal_pwd, o.portal_login_username FROM patient_data p JOIN patient_access_onsite o ON o.pid = p.pid
                WHERE p.pid = \(pid) AND p.allow_patient_portal = 'YES'
                  AND (BINARY o.portal_login_username = BINARY \(loginName) OR BINARY o.portal_username = BINARY \(loginName))
                """, logger: logger
            ).first
        else { throw Self.refused }
        let identity = Identity(
            role: .patient, userID: nil, username: try row.decode("portal_login_username", as: String?.self) ?? loginName, groupName: "", pid: pid, fname: try row.decode("fname", as: String?.self) ?? "",
            lname: try row.decode("lname", as: String?.self) ?? "", facilityID: nil, tokenHash: []
        )
        let event = AuditEvent(
            event: "portal-login", category: "portal-login", user: loginName, groupName: "", patientID: pid, success: true,
            comments: "portal session bridge: \(clientIP)", logFrom: "patient-portal"
        )
        let binding = TokenStore.Binding(credentialHash: try row.decode("portal_pwd", as: String?.self) ?? "", sessionID: sessionID)
        return try await tokens.signIn(identity, source: "openemr-session", clientIP: clientIP, binding: binding, events: [event], audit: audit, logger: logger)
    }
}
