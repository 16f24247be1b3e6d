import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import NIOPosix
import Testing

@testable import App
@testable import OpenEMR

extension LiveAppTests {
    /// Issue 13: sign-in holds against an attacker: parallel guessing, spoofed addresses, floods, tokens that outlive
    /// what they were issued for.
    @Suite("Live: sign-in hardening", .liveDatabase())
    struct SignInHardening {
        /// Audit rows of core sign-in failures by their comment prefix: a `failure:` row is written only after the
        /// password was checked against the account's real hash; `user blocked:` rows are refused without that check.
        static func failureRows(_ database: LiveDatabase, event: String = "login", prefix: String) async throws -> Int {
            try await database.query("SELECT comments FROM log WHERE event = \(event) AND success = 0").rows
                .map { String(decoding: Data(base64Encoded: try $0.decode("comments", as: String.self)) ?? Data(), as: UTF8.self) }
                .filter { $0.hasPrefix(prefix) }.count
        }

        static func counters(_ database: LiveDatabase, _ username: String) async throws -> (fails: Int, total: Int) {
            let row = try #require(
                try await database.query("SELECT login_fail_counter AS f, total_login_fail_counter AS t FROM users_secure WHERE username = \(username)")
                    .first
            )
            return (try row.decode("f", as: Int.self), try row.decode("t", as: Int.self))
        }

        /// Sends `count` sign-ins at once and returns their statuses.
        static func parallelLogins(
            _ client: any TestClientProtocol, count: Int, path: String = "/api/auth/login/", headers: HTTPFields = [:],
            credentials: @escaping @Sendable (Int) -> (String, String)
        ) async throws -> [TestResponse] {
            try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for index in 0..<count {
                    group.addTask {
                        let (username, password) = credentials(index)
                        return try await client.send(
                            .post, path, json: JSONValue.object(["username": .string(username), "password": .string(password)]).text, headers: headers
                        )
                    }
                }
                var responses: [TestResponse] = []
                for try await response in group { responses.append(response) }
                return responses
            }
        }

        static func reset(_ database: LiveDatabase) async throws {
            try await database.query("UPDATE users_secure SET login_fail_counter = 0, total_login_fail_counter = 0, last_login_fail = NULL")
            try await database.query("DELETE FROM ip_tracking")
            try await database.query("DELETE FROM mmt_login_throttle")
            try await database.query("DELETE FROM log")
            try await database.query("DELETE FROM log_comment_encrypt")
            for name in ["password_max_failed_logins", "ip_max_failed_logins", "portal_timeout", "timeout"] {
                try await database.setGlobal(name, nil)
            }
        }

        @Test func parallelWrongGuessesStopAtTheLimit() async throws {
            let database = try LiveDatabase.require()
            try await Self.reset(database)
            try await database.setGlobal("password_max_failed_logins", "3")
            try await database.withApp(["BRIDGE_LOGIN_QUEUE_DEPTH": "1000", "DB_POOL_SIZE": "8"]) { client async throws in
                let responses = try await Self.parallelLogins(client, count: 40) { ("frontdesk", "wrong-\($0)") }
                // All refused alike: locked and wrong look the same from outside.
                #expect(responses.allSatisfy { $0.status == .unauthorized && $0.errorCode == "invalid_credentials" }, "\(responses.map(\.status))")
                #expect(Set(responses.map(\.text)).count == 1, "\(Set(responses.map(\.text)))")
                // Then even the right password is refused.
                let right = try await client.login("frontdesk", "front123")
                #expect(right.status == .unauthorized, "\(right.text)")
            }
            // Exactly the limit reached the hash check; every attempt counted.
            #expect(try await Self.failureRows(database, prefix: "failure:") == 3)
            #expect(try await Self.failureRows(database, prefix: "user blocked:") == 38)
            let counters = try await Self.counters(database, "frontdesk")
            #expect(counters.fails == 41)
            #expect(counters.total == 41)
            try await Self.reset(database)
        }

        @Test func twoBridgesOnOneDatabaseShareTheLimit() async throws {
            let database = try LiveDatabase.require()
            try await Self.reset(database)
            try await database.setGlobal("password_max_failed_logins", "3")
            // Two applications with their own connection pools: two MariaDB sessions, as two processes would be.
            try await database.withApp(["BRIDGE_LOGIN_QUEUE_DEPTH": "1000"]) { first async throws in
                try await database.withApp(["BRIDGE_LOGIN_QUEUE_DEPTH": "1000"]) { second async throws in
                    async let a = Self.parallelLogins(first, count: 20) { ("drjones", "guess-a\($0)") }
                    async let b = Self.parallelLogins(second, count: 20) { ("drjones", "guess-b\($0)") }
                    let all = try await a + b
                    #expect(all.allSatisfy { $0.status == .unauthorized })
                }
            }
            #expect(try await Self.failureRows(database, prefix: "failure:") == 3)
            #expect(try await Self.counters(database, "drjones").fails == 40)
            try await Self.reset(database)
        }

        @Test func perAddressLimitHoldsUnderParallelGuessing() async throws {
            let database = try LiveDatabase.require()
            try await Self.reset(database)
            try await database.setGlobal("password_max_failed_logins", "0")
            try await database.setGlobal("ip_max_failed_logins", "4")
            try await database.withApp(["BRIDGE_LOGIN_QUEUE_DEPTH": "1000"]) { client async throws in
                // Spread over several accounts so the per-user limit (off here anyway) plays no part.
                let users = ["admin", "drsmith", "drjones", "drpatel"]
                let responses = try await Self.parallelLogins(client, count: 30) { (users[$0 % users.count], "wrong-\($0)") }
                #expect(responses.allSatisfy { $0.status == .unauthorized || $0.status.code == 423 })
                #expect(responses.filter { $0.status.code == 423 }.count == 26, "\(responses.map(\.status.code))")
            }
            #expect(try await Self.failureRows(database, prefix: "failure:") == 4)
            #expect(try await database.int("SELECT ip_login_fail_counter AS v FROM ip_tracking") == 30)
            try await Self.reset(database)
        }

        @Test func lockedAndUnknownAccountsAnswerAlike() async throws {
            let database = try LiveDatabase.require()
            try await Self.reset(database)
            try await database.setGlobal("password_max_failed_logins", "2")
            try await database.withApp { client async throws in
                for _ in 0..<2 { _ = try await client.login("drpatel", "wrong") }
                let locked = try await client.login("drpatel", "doctor123")
                let unknown = try await client.login("nobody-here", "doctor123")
                let inactive = try await client.login("drformer", "doctor123")
                for response in [locked, unknown, inactive] {
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.retryAfter] == nil)
                }
                #expect(locked.text == unknown.text)
                #expect(locked.text == inactive.text)
            }
            // The lock is still recorded for OpenEMR's screens.
            #expect(try await Self.failureRows(database, prefix: "user blocked:") == 1)
            try await Self.reset(database)
        }

        @Test func portalBruteForceIsStopped() async throws {
            let database = try LiveDatabase.require()
            try await Self.reset(database)
            try await database.withApp(["BRIDGE_LOGIN_QUEUE_DEPTH": "1000", "BRIDGE_PORTAL_MAX_FAILED_LOGINS": "5"]) { client async throws in
                let responses = try await Self.parallelLogins(client, count: 30, path: "/api/auth/patient-login/") { ("patient2", "guess-\($0)") }
                #expect(responses.allSatisfy { $0.status == .unauthorized }, "\(Set(responses.map(\.text)))")
                // The right password no longer helps while the account is locked.
                let right = try await client.login("patient2", "patient123", path: "/api/auth/patient-login/")
                #expect(right.status == .unauthorized, "\(right.text)")
            }
            #expect(try await Self.failureRows(database, event: "portal-login", prefix: "failure:") == 5)
            #expect(try await Self.failureRows(database, event: "portal-login", prefix: "portal account blocked:") == 26)
            #expect(try await database.int("SELECT fail_counter AS v FROM mmt_login_throttle WHERE scope = 'portal_account' AND subject = '2'") == 31)
            // After the window the right password works and clears the account's count.
            try await database.query("UPDATE mmt_login_throttle SET last_fail = NOW() - INTERVAL 2 HOUR")
            try await database.withApp(["BRIDGE_PORTAL_MAX_FAILED_LOGINS": "5"]) { client async throws in
                #expect(try await client.login("patient2", "patient123", path: "/api/auth/patient-login/").status == .ok)
            }
            #expect(try await database.int("SELECT fail_counter AS v FROM mmt_login_throttle WHERE scope = 'portal_account' AND subject = '2'") == 0)

            // The per-address limit stops spraying over many portal names.
            try await Self.reset(database)
            try await database.withApp(["BRIDGE_LOGIN_QUEUE_DEPTH": "1000", "BRIDGE_PORTAL_IP_MAX_FAILED_LOGINS": "6"]) { client async throws in
                let responses = try await Self.parallelLogins(client, count: 20, path: "/api/auth/patient-login/") { ("someone\($0)", "x") }
                #expect(responses.filter { $0.status.code == 423 }.count == 14, "\(Set(responses.map(\.text)))")
                #expect(responses.filter { $0.status == .unauthorized }.count == 6)
            }
            try await Self.reset(database)
        }

        @Test func forwardedForCannotChooseTheCountedAddress() async throws {
            let database = try LiveDatabase.require()
            try await Self.reset(database)
            try await database.setGlobal("ip_max_failed_logins", "3")
            let forwarded = HTTPField.Name("X-Forwarded-For")!
            // Behind one trusted proxy: the proxy appends what it saw (203.0.113.7); whatever the client wrote before
            // that is ignored, so varying it neither resets the limit nor adds ip_tracking rows.
            try await database.withApp(["BRIDGE_TRUST_PROXY": "1"], setup: .live) { client async throws in
                for attempt in 0..<5 {
                    let response = try await client.send(
                        .post, "/api/auth/login/", json: #"{"username":"admin","password":"wrong"}"#,
                        headers: [forwarded: "10.0.\(attempt).1, spoofed-\(attempt), 203.0.113.7"]
                    )
                    #expect(response.status.code == (attempt < 3 ? 401 : 423), "attempt \(attempt): \(response.text)")
                }
            }
            let rows = try await database.query("SELECT ip_string, ip_login_fail_counter AS c FROM ip_tracking").rows
            #expect(rows.count == 1)
            #expect(try rows.first?.decode("ip_string", as: String.self) == "203.0.113.7")
            #expect(try rows.first?.decode("c", as: Int.self) == 5)

            // A list of trusted proxies: the right-most address that is not one of them is the client.
            try await database.query("DELETE FROM ip_tracking")
            try await database.withApp(["BRIDGE_TRUST_PROXY": "1", "BRIDGE_TRUSTED_PROXIES": "127.0.0.1, ::1, 10.0.0.0/8"], setup: .live) {
                client async throws in
                _ = try await client.send(
                    .post, "/api/auth/login/", json: #"{"username":"admin","password":"wrong"}"#,
                    headers: [forwarded: "198.51.100.1, 198.51.100.9, 10.1.2.3"]
                )
            }
            #expect(try await database.string("SELECT ip_string AS v FROM ip_tracking") == "198.51.100.9")

            // Without BRIDGE_TRUST_PROXY the header is ignored: the peer is counted.
            try await database.query("DELETE FROM ip_tracking")
            try await database.withApp(setup: .live) { client async throws in
                _ = try await client.send(
                    .post, "/api/auth/login/", json: #"{"username":"admin","password":"wrong"}"#, headers: [forwarded: "198.51.100.9"]
                )
            }
            let peer = try await database.string("SELECT ip_string AS v FROM ip_tracking")
            #expect(peer == "127.0.0.1" || peer == "::1", "\(peer ?? "nil")")
            try await Self.reset(database)
        }

        @Test func aFloodOfSignInsIsTurnedAwayFast() async throws {
            let database = try LiveDatabase.require()
            try await Self.reset(database)
            try await database.withApp(["BRIDGE_LOGIN_QUEUE_DEPTH": "2"]) { client async throws in
                let responses = try await Self.parallelLogins(client, count: 24) { _ in ("drsmith", "doctor123") }
                let busy = responses.filter { $0.status == .serviceUnavailable }
                #expect(!busy.isEmpty)
                #expect(busy.allSatisfy { $0.errorCode == "signin_busy" && $0.headers[.retryAfter] == "1" })
                #expect(responses.filter { $0.status == .ok }.count >= 2)
                #expect(busy.count + responses.filter { $0.status == .ok }.count == 24)
            }
            try await Self.reset(database)
        }

        @Test func signInAnswersAreNotCached() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                let login = try await client.login("drsmith", "doctor123")
                #expect(login.headers[.cacheControl] == "no-store")
                let token = try #require(login.json["token"].string)
                #expect(try await client.currentUser(token).headers[.cacheControl] == "no-store")
                #expect(try await client.login("drsmith", "nope").headers[.cacheControl] == "no-store")
                let logout = try await client.send(.post, "/api/auth/logout/", headers: [.authorization: "Bearer \(token)"])
                #expect(logout.status == .noContent)
                #expect(logout.headers[.cacheControl] == "no-store")
            }
            try await Self.reset(database)
        }

        @Test func aPasswordChangeEndsTokens() async throws {
            let database = try LiveDatabase.require()
            let before = try #require(try await database.string("SELECT password AS v FROM users_secure WHERE username = 'drsmith'"))
            let portalBefore = try #require(try await database.string("SELECT portal_pwd AS v FROM patient_access_onsite WHERE pid = 3"))
            try await database.withApp { client async throws in
                let token = try await client.token("drsmith", "doctor123")
                let portal = try await client.token("patient3", "patient123", path: "/api/auth/patient-login/")
                #expect(try await client.currentUser(token).status == .ok)
                #expect(try await client.currentUser(portal).status == .ok)
                // OpenEMR writes a new hash (same password, new salt, as a password change does).
                let rehashed = String(
                    decoding: try await TestEnvironment.run("php", ["-r", "echo password_hash('doctor123', PASSWORD_BCRYPT);"]), as: UTF8.self
                )
                try await database.query("UPDATE users_secure SET password = \(rehashed) WHERE username = 'drsmith'")
                try await database.query(
                    "UPDATE patient_access_onsite SET portal_pwd = \(String(decoding: try await TestEnvironment.run("php", ["-r", "echo password_hash('patient123', PASSWORD_BCRYPT);"]), as: UTF8.self)) WHERE pid = 3"
                )
                #expect(try await client.currentUser(token).status == .unauthorized)
                #expect(try await client.currentUser(portal).status == .unauthorized)
                // The hot patient read applies the same rule.
                #expect(try await client.send(.get, "/api/patients/3/", headers: [.authorization: "Bearer \(portal)"]).status == .unauthorized)
                // Signing in again with the (same) password works: the new token follows the new hash.
                let again = try await client.token("drsmith", "doctor123")
                #expect(try await client.currentUser(again).status == .ok)
            }
            try await database.query("UPDATE users_secure SET password = \(before) WHERE username = 'drsmith'")
            try await database.query("UPDATE patient_access_onsite SET portal_pwd = \(portalBefore) WHERE pid = 3")
        }

        @Test func bridgedTokensEndWithTheirOpenEMRSession() async throws {
            let database = try LiveDatabase.require()
            try await SessionBridgeSuite.withSessionDirectory { directory in
                let writer = PHPSessionWriter(directory: directory)
                let loggedOut = PHPSessionWriter.newID(), idle = PHPSessionWriter.newID(), portal = PHPSessionWriter.newID()
                let values = try await SessionBridgeSuite.coreValues(database)
                let tracker = try await SessionBridgeSuite.trackerRow(database)
                let idleTracker = try await SessionBridgeSuite.trackerRow(database)
                let loggedOutFile = try await writer.write(id: loggedOut, layout: .namespaced, values: values, binary: SessionBridgeSuite.coreBinary(tracker: tracker))
                try await writer.write(id: idle, layout: .namespaced, values: values, binary: SessionBridgeSuite.coreBinary(tracker: idleTracker))
                let portalFile = try await writer.write(id: portal, name: "PortalOpenEMR", layout: .namespaced, values: SessionBridgeSuite.portalValues)
                try await database.withApp(["OPENEMR_SESSION_PATH": directory.path]) { client async throws in
                    func bridge(_ id: String, _ type: String = "core") async throws -> String {
                        let response = try await client.send(.post, "/api/auth/openemr-session/", json: #"{"session_id":"\#(id)","type":"\#(type)"}"#)
                        try #require(response.status == .ok, "\(response.text)")
                        return try #require(response.json["token"].string)
                    }
                    let first = try await bridge(loggedOut), second = try await bridge(idle), third = try await bridge(portal, "portal")
                    for token in [first, second, third] { #expect(try await client.currentUser(token).status == .ok) }

                    // OpenEMR's logout deletes the session file: the token ends with it.
                    try FileManager.default.removeItem(at: loggedOutFile)
                    #expect(try await client.currentUser(first).status == .unauthorized)

                    // OpenEMR's idle timeout: the tracker row has not moved for longer than `timeout`.
                    try await database.query("UPDATE session_tracker SET last_updated = NOW() - INTERVAL 3 HOUR WHERE uuid = \(idleTracker)")
                    #expect(try await client.currentUser(second).status == .unauthorized)

                    // The portal's `portal_timeout` (default 1800 s): a session file untouched for longer has ended.
                    try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-1900)], ofItemAtPath: portalFile.path)
                    #expect(try await client.currentUser(third).status == .unauthorized)
                    #expect(try await client.send(.get, "/api/patients/1/", headers: [.authorization: "Bearer \(third)"]).status == .unauthorized)
                    // …and it cannot be bridged again either.
                    let again = try await client.send(.post, "/api/auth/openemr-session/", json: #"{"session_id":"\#(portal)","type":"portal"}"#)
                    #expect(again.status == .unauthorized)
                }
            }
        }

        @Test func aCorePasswordChangeEndsABridgedToken() async throws {
            let database = try LiveDatabase.require()
            let before = try #require(try await database.string("SELECT password AS v FROM users_secure WHERE username = 'drjones'"))
            try await SessionBridgeSuite.withSessionDirectory { directory in
                let writer = PHPSessionWriter(directory: directory)
                let id = PHPSessionWriter.newID()
                try await writer.write(
                    id: id, layout: .namespaced, values: try await SessionBridgeSuite.coreValues(database, user: "drjones", id: 3),
                    binary: SessionBridgeSuite.coreBinary(tracker: try await SessionBridgeSuite.trackerRow(database))
                )
                try await database.withApp(["OPENEMR_SESSION_PATH": directory.path]) { client async throws in
                    let response = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "OpenEMR=\(id)"])
                    let token = try #require(response.json["token"].string, "\(response.text)")
                    #expect(try await client.currentUser(token).status == .ok)
                    try await database.query("UPDATE users_secure SET password = CONCAT(password, 'x') WHERE username = 'drjones'")
                    #expect(try await client.currentUser(token).status == .unauthorized)
                }
            }
            try await database.query("UPDATE users_secure SET password = \(before) WHERE username = 'drjones'")
        }

        @Test func guestTokensNeedTheDemoGuest() async throws {
            let database = try LiveDatabase.require()
            let token: String = try await database.withApp(["BRIDGE_DEMO": "1", "BRIDGE_DEMO_GUEST": "1"]) { client async throws in
                let response = try await client.send(.post, "/api/auth/guest/")
                let token = try #require(response.json["token"].string)
                #expect(try await client.currentUser(token).status == .ok)
                return token
            }
            // The row is still in the table, live and unexpired; a server without the demo guest refuses it.
            #expect(try await database.int("SELECT COUNT(*) AS v FROM mmt_api_tokens WHERE kind = 'guest' AND revoked_at IS NULL") ?? 0 >= 1)
            try await database.withApp { client async throws in
                #expect(try await client.currentUser(token).status == .unauthorized)
                #expect(try await client.send(.get, "/api/patients/1/", headers: [.authorization: "Bearer \(token)"]).status == .unauthorized)
            }
            try await database.withApp(["BRIDGE_DEMO": "1"]) { client async throws in
                #expect(try await client.currentUser(token).status == .unauthorized)
            }
        }

        @Test func endedTokensArePurgedInBatches() async throws {
            let database = try LiveDatabase.require()
            try await database.query("DELETE FROM mmt_api_tokens")
            for index in 0..<7 {
                let hash = TestEnvironment.randomBytes(32)
                let state: MariaDBQuery =
                    switch index % 3 {
                    case 0: "UTC_TIMESTAMP() - INTERVAL 1 MINUTE, NULL"  // expired
                    case 1: "UTC_TIMESTAMP() + INTERVAL 1 HOUR, UTC_TIMESTAMP()"  // revoked
                    default: "UTC_TIMESTAMP() + INTERVAL 1 HOUR, NULL"  // live
                    }
                var insert: MariaDBQuery = """
                    INSERT INTO mmt_api_tokens (token_hash, kind, pid, username, role, fname, lname, source, created_at, expires_at, revoked_at)
                    VALUES (\(hash), 'patient', 1, 'patient1', 'patient', 'Pat', 'One', 'portal-password', UTC_TIMESTAMP(),
                    """
                insert.append(state)
                insert.append(")")
                try await database.query(insert)
            }
            let purger = TokenPurger(tokens: TokenStore(database: database.client, ttlSeconds: 60), interval: .seconds(60), batchSize: 2, logger: database.logger)
            #expect(await purger.purge() == 5)
            #expect(try await database.int("SELECT COUNT(*) AS v FROM mmt_api_tokens") == 2)
            #expect(try await database.int("SELECT COUNT(*) AS v FROM mmt_api_tokens WHERE revoked_at IS NOT NULL OR expires_at <= UTC_TIMESTAMP()") == 0)
            #expect(await purger.purge() == 0)
        }

        @Test func patientsDoNotGetProviderUsernames() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                let patient = try await client.token("patient1", "patient123", path: "/api/auth/patient-login/")
                let staff = try await client.token("frontdesk", "front123")
                let forPatient = try await client.send(.get, "/api/openemr/providers/", headers: [.authorization: "Bearer \(patient)"])
                let forStaff = try await client.send(.get, "/api/openemr/providers/", headers: [.authorization: "Bearer \(staff)"])
                #expect(forPatient.status == .ok && forStaff.status == .ok)
                let patientRows = try #require(forPatient.json["results"].array)
                let staffRows = try #require(forStaff.json["results"].array)
                #expect(!patientRows.isEmpty && patientRows.count == staffRows.count)
                #expect(patientRows.allSatisfy { $0.object?["username"] == nil && $0["lname"].string != nil })
                #expect(staffRows.allSatisfy { $0["username"].string?.isEmpty == false })
                #expect(!forPatient.text.contains("drsmith"))
            }
        }
    }
}
