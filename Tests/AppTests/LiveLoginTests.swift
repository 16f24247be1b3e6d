import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MariaDB
import NIOCore
import Testing

@testable import App
@testable import OpenEMR

extension LiveAppTests {
    /// Issue 3: sign-in with OpenEMR credentials and OpenEMR's rules, opaque tokens, audit rows.
    ///
    /// The tests share one database and run one after the other; each restores the rows it changes.
    @Suite("Live: sign-in", .liveDatabase())
    struct SignIn {
        /// The users_secure hashes as loaded, to prove logins never rewrite them.
        static func passwordHashes(_ database: LiveDatabase) async throws -> [String: String] {
            var hashes: [String: String] = [:]
            for row in try await database.query("SELECT username, password FROM users_secure").rows {
                hashes[try row.decode("username", as: String.self)] = try row.decode("password", as: String.self)
            }
            return hashes
        }

        static func counters(_ database: LiveDatabase, _ username: String) async throws -> (fails: Int, total: Int, lastFail: String?) {
            let row = try #require(
                try await database.query(
                    "SELECT login_fail_counter AS f, total_login_fail_counter AS t, CAST(last_login_fail AS CHAR) AS l FROM users_secure WHERE username = \(username)"
                ).first
            )
            return (try row.decode("f", as: Int.self), try row.decode("t", as: Int.self), try row.decode("l", as: String?.self))
        }

        @Test func adminSignsInWithABearerToken() async throws {
            let database = try LiveDatabase.require()
            let before = try await Self.passwordHashes(database)
            try await database.withApp { client async throws in
                let response = try await client.login("admin", "pass")
                #expect(response.status == .ok, "\(response.text)")
                let json = response.json
                let token = json["token"].string
                #expect(isTokenShaped(token), "token: \(token ?? "nil")")
                #expect(json["token_type"].string == "Bearer")
                #expect(json["password_expiring"].bool == false)
                let expiresAt = try #require(json["expires_at"].string.flatMap { ISO8601DateFormatter().date(from: $0) }, "\(response.text)")
                #expect(abs(expiresAt.timeIntervalSinceNow - 8 * 3600) < 120)
                let user = json["user"]
                #expect(user["id"].int == 1)
                #expect(user["username"].string == "admin")
                #expect(user["fname"].string == "Administrator")
                #expect(user["lname"].string == "Administrator")
                #expect(user["role"].string == "admin")
                #expect(user["facility_id"].int == 1)

                // The token works and describes the same user.
                let me = try await client.currentUser(try #require(token))
                #expect(me.status == .ok)
                #expect(me.json == user)

                // Only its SHA-256 is stored, with the subject.
                let stored = try #require(
                    try await database.query(
                        "SELECT kind, user_id, username, role, source, revoked_at IS NULL AS live FROM mmt_api_tokens WHERE token_hash = UNHEX(SHA2(\(token ?? ""), 256))"
                    ).first
                )
                #expect(try stored.decode("kind", as: String.self) == "user")
                #expect(try stored.decode("user_id", as: Int.self) == 1)
                #expect(try stored.decode("role", as: String.self) == "admin")
                #expect(try stored.decode("source", as: String.self) == "password")
                let leaked = try await database.int(
                    "SELECT COUNT(*) AS v FROM mmt_api_tokens WHERE HEX(token_hash) = UPPER(\(token ?? "")) OR username = \(token ?? "") OR client_ip = \(token ?? "")"
                )
                #expect(leaked == 0)
            }
            // OpenEMR's hash is only verified, never rewritten (that would end the user's OpenEMR sessions).
            #expect(try await Self.passwordHashes(database) == before)
        }

        @Test(arguments: [
            ("drsmith", "doctor123", "provider", 2, 1), ("drjones", "doctor123", "provider", 3, 1), ("drpatel", "doctor123", "provider", 4, 2),
            ("frontdesk", "front123", "staff", 5, 1),
        ])
        func rolesFollowOpenEMR(username: String, password: String, role: String, id: Int, facility: Int) async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                let response = try await client.login(username, password)
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.json["user"]["role"].string == role)
                #expect(response.json["user"]["id"].int == id)
                #expect(response.json["user"]["username"].string == username)
                #expect(response.json["user"]["facility_id"].int == facility)
                let me = try await client.currentUser(try #require(response.json["token"].string))
                #expect(me.json["role"].string == role)
            }
        }

        @Test func badCredentialsAllLookTheSame() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                let wrongPassword = try await client.login("admin", "not-the-password")
                let unknownUser = try await client.login("nobody-\(UUID().uuidString.prefix(6))", "pass")
                let inactive = try await client.login("drformer", "doctor123")
                let wrongCase = try await client.login("ADMIN", "pass")
                for response in [wrongPassword, unknownUser, inactive, wrongCase] {
                    #expect(response.status == .unauthorized)
                    #expect(response.errorCode == "invalid_credentials", "\(response.text)")
                }
                #expect(wrongPassword.text == unknownUser.text)
                #expect(wrongPassword.text == inactive.text)
                #expect(wrongPassword.text == wrongCase.text)
                // A core login is not a portal login, and the reverse.
                #expect(try await client.login("patient1", "patient123").status == .unauthorized)
                #expect(try await client.login("admin", "pass", path: "/api/auth/patient-login/").status == .unauthorized)
                // The right password afterwards clears admin's counter again.
                #expect(try await client.login("admin", "pass").status == .ok)
            }
            #expect(try await Self.counters(database, "admin").fails == 0)
        }

        @Test func emptyFieldsAreValidationErrors() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                let response = try await client.login("", "")
                #expect(response.status == .badRequest)
                #expect(response.errorCode == "validation_error")
                #expect(response.json["error"]["details"]["username"].string == "This field may not be blank.")
                #expect(response.json["error"]["details"]["password"].string == "This field may not be blank.")
                let onlyPassword = try await client.login("admin", "")
                #expect(onlyPassword.status == .badRequest)
                #expect(onlyPassword.json["error"]["details"].object?.keys.sorted() == ["password"])
                let patient = try await client.login("", "x", path: "/api/auth/patient-login/")
                #expect(patient.status == .badRequest)
                #expect(patient.json["error"]["details"].object?.keys.sorted() == ["username"])
            }
        }

        @Test func lockoutFollowsOpenEMRsCounters() async throws {
            let database = try LiveDatabase.require()
            let hashBefore = try #require(try await database.string("SELECT password AS v FROM users_secure WHERE username = 'frontdesk'"))
            try await database.setGlobal("password_max_failed_logins", "3")
            do {
                // Built after the global is set: its globals cache reads 3.
                try await database.withApp { client async throws in
                    for attempt in 1...3 {
                        let response = try await client.login("frontdesk", "wrong-\(attempt)")
                        #expect(response.status == .unauthorized, "attempt \(attempt)")
                        #expect(response.errorCode == "invalid_credentials")
                    }
                    var counters = try await Self.counters(database, "frontdesk")
                    #expect(counters.fails == 3)
                    #expect(counters.total == 3)
                    #expect(counters.lastFail != nil)

                    // Locked: even the right password is refused, and the attempt still counts. The answer is the one an
                    // unknown user gets (issue 13: no account enumeration), so a lock is not a 423.
                    let locked = try await client.login("frontdesk", "front123")
                    #expect(locked.status == .unauthorized, "\(locked.text)")
                    #expect(locked.errorCode == "invalid_credentials")
                    #expect(locked.text == (try await client.login("nobody-at-all", "front123")).text)
                    counters = try await Self.counters(database, "frontdesk")
                    #expect(counters.fails == 4)
                    #expect(counters.total == 4)

                    // time_reset_password_max_failed_logins (default 3600 s) has passed: the right password works.
                    try await database.query(
                        "UPDATE users_secure SET last_login_fail = NOW() - INTERVAL 2 HOUR WHERE username = 'frontdesk'"
                    )
                    let unlocked = try await client.login("frontdesk", "front123")
                    #expect(unlocked.status == .ok, "\(unlocked.text)")
                    counters = try await Self.counters(database, "frontdesk")
                    #expect(counters.fails == 0)
                    #expect(counters.lastFail == nil)
                    #expect(counters.total == 4)
                    #expect(try await database.int("SELECT auto_block_emailed AS v FROM users_secure WHERE username = 'frontdesk'") == 0)
                }
                // An old failure does not count towards a new lock: the counter restarts at 1.
                try await database.query(
                    "UPDATE users_secure SET login_fail_counter = 2, last_login_fail = NOW() - INTERVAL 2 HOUR WHERE username = 'frontdesk'"
                )
                try await database.withApp { client async throws in
                    #expect(try await client.login("frontdesk", "wrong").status == .unauthorized)
                }
                #expect(try await Self.counters(database, "frontdesk").fails == 1)
            } catch {
                try? await database.setGlobal("password_max_failed_logins", nil)
                throw error
            }
            try await database.setGlobal("password_max_failed_logins", nil)
            try await database.query("UPDATE users_secure SET login_fail_counter = 0, last_login_fail = NULL WHERE username = 'frontdesk'")
            #expect(try await database.string("SELECT password AS v FROM users_secure WHERE username = 'frontdesk'") == hashBefore)
        }

        @Test func ipLockoutUsesIPTracking() async throws {
            let database = try LiveDatabase.require()
            try await database.query("DELETE FROM ip_tracking")
            try await database.setGlobal("ip_max_failed_logins", "2")
            do {
                try await database.withApp(setup: .live) { client async throws in
                    #expect(try await client.login("nobody", "x").status == .unauthorized)
                    #expect(try await client.login("admin", "wrong").status == .unauthorized)
                    let blocked = try await client.login("admin", "pass")
                    #expect(blocked.status.code == 423, "\(blocked.text)")
                    #expect(blocked.json["error"]["details"]["scope"].string == "ip")
                }
                let row = try #require(
                    try await database.query("SELECT ip_string, ip_login_fail_counter AS c, total_ip_login_fail_counter AS t FROM ip_tracking").first
                )
                let ip = try row.decode("ip_string", as: String.self)
                #expect(ip == "127.0.0.1" || ip == "::1", "the peer address as OpenEMR records REMOTE_ADDR: \(ip)")
                #expect(try row.decode("c", as: Int.self) == 3)
                // The window has passed: allowed again, counters cleared on success.
                try await database.query("UPDATE ip_tracking SET ip_last_login_fail = NOW() - INTERVAL 2 HOUR")
                try await database.withApp(setup: .live) { client async throws in
                    #expect(try await client.login("admin", "pass").status == .ok)
                }
                #expect(try await database.int("SELECT ip_login_fail_counter AS v FROM ip_tracking WHERE ip_string = \(ip)") == 0)
                // A manual block (ip_force_block) always wins.
                try await database.query("UPDATE ip_tracking SET ip_force_block = 1")
                try await database.withApp(setup: .live) { client async throws in
                    #expect(try await client.login("admin", "pass").status.code == 423)
                }
            } catch {
                try? await database.setGlobal("ip_max_failed_logins", nil)
                _ = try? await database.query("DELETE FROM ip_tracking")
                throw error
            }
            try await database.setGlobal("ip_max_failed_logins", nil)
            try await database.query("DELETE FROM ip_tracking")
            try await database.query("UPDATE users_secure SET login_fail_counter = 0, last_login_fail = NULL")
        }

        @Test func deactivatedUserLosesLoginAndTokens() async throws {
            let database = try LiveDatabase.require()
            do {
                try await database.withApp { client async throws in
                    let token = try await client.token("drjones", "doctor123")
                    #expect(try await client.currentUser(token).status == .ok)
                    try await database.query("UPDATE users SET active = 0 WHERE username = 'drjones'")
                    let refused = try await client.currentUser(token)
                    #expect(refused.status == .unauthorized)
                    #expect(refused.errorCode == "not_authenticated")
                    let login = try await client.login("drjones", "doctor123")
                    #expect(login.status == .unauthorized)
                    #expect(login.errorCode == "invalid_credentials")
                    // Reactivated in OpenEMR: the same (unexpired, unrevoked) token works again.
                    try await database.query("UPDATE users SET active = 1 WHERE username = 'drjones'")
                    #expect(try await client.currentUser(token).status == .ok)
                }
            } catch {
                _ = try? await database.query("UPDATE users SET active = 1 WHERE username = 'drjones'")
                throw error
            }
        }

        @Test func passwordExpiryAndGraceWindow() async throws {
            let database = try LiveDatabase.require()
            let original = try #require(
                try await database.string("SELECT CAST(last_update_password AS CHAR) AS v FROM users_secure WHERE username = 'drsmith'")
            )
            @Sendable func setAge(_ days: Int) async throws {
                try await database.query("UPDATE users_secure SET last_update_password = NOW() - INTERVAL \(days) DAY WHERE username = 'drsmith'")
            }
            do {
                try await database.withApp { client async throws in
                    try await setAge(400)
                    let expired = try await client.login("drsmith", "doctor123")
                    #expect(expired.status == .forbidden, "\(expired.text)")
                    #expect(expired.errorCode == "password_expired")

                    try await setAge(200)  // 180 days + 30 days grace: still allowed, flagged
                    let grace = try await client.login("drsmith", "doctor123")
                    #expect(grace.status == .ok, "\(grace.text)")
                    #expect(grace.json["password_expiring"].bool == true)

                    try await setAge(100)
                    #expect(try await client.login("drsmith", "doctor123").json["password_expiring"].bool == false)

                    // NULL: OpenEMR logs an error and lets the user in.
                    try await database.query("UPDATE users_secure SET last_update_password = NULL WHERE username = 'drsmith'")
                    #expect(try await client.login("drsmith", "doctor123").status == .ok)
                }
                // password_expiration_days = 0 disables expiry.
                try await setAge(4000)
                try await database.setGlobal("password_expiration_days", "0")
                try await database.withApp { client async throws in
                    #expect(try await client.login("drsmith", "doctor123").status == .ok)
                }
            } catch {
                try? await database.setGlobal("password_expiration_days", nil)
                _ = try? await database.query("UPDATE users_secure SET last_update_password = \(original) WHERE username = 'drsmith'")
                throw error
            }
            try await database.setGlobal("password_expiration_days", nil)
            try await database.query("UPDATE users_secure SET last_update_password = \(original) WHERE username = 'drsmith'")
        }

        @Test func mfaUsersAreRefused() async throws {
            let database = try LiveDatabase.require()
            try await database.query(
                "INSERT INTO login_mfa_registrations (user_id, name, method, var1, var2) VALUES (4, 'phone', 'TOTP', 'secret', '')"
            )
            do {
                try await database.withApp { client async throws in
                    let refused = try await client.login("drpatel", "doctor123")
                    #expect(refused.status == .forbidden, "\(refused.text)")
                    #expect(refused.errorCode == "mfa_required")
                    // A wrong password is still just invalid credentials (no MFA oracle).
                    #expect(try await client.login("drpatel", "wrong").errorCode == "invalid_credentials")
                    // Q&A is not a second factor OpenEMR enforces at login.
                    try await database.query("UPDATE login_mfa_registrations SET method = 'Q&A' WHERE user_id = 4")
                    #expect(try await client.login("drpatel", "doctor123").status == .ok)
                    try await database.query("UPDATE login_mfa_registrations SET method = 'U2F' WHERE user_id = 4")
                    #expect(try await client.login("drpatel", "doctor123").errorCode == "mfa_required")
                }
            } catch {
                _ = try? await database.query("DELETE FROM login_mfa_registrations WHERE user_id = 4")
                throw error
            }
            try await database.query("DELETE FROM login_mfa_registrations WHERE user_id = 4")
            try await database.query("UPDATE users_secure SET login_fail_counter = 0, last_login_fail = NULL WHERE id = 4")
        }

        @Test func portalPatientsSignInBoundToTheirPid() async throws {
            let database = try LiveDatabase.require()
            @Sendable func restore() async throws {
                try await database.query("UPDATE patient_access_onsite SET portal_pwd_status = 1, portal_onetime = NULL WHERE pid = 1")
                try await database.query("UPDATE patient_data SET allow_patient_portal = 'YES' WHERE pid = 1")
            }
            do {
                try await database.withApp { client async throws in
                    let response = try await client.login("patient1", "patient123", path: "/api/auth/patient-login/")
                    #expect(response.status == .ok, "\(response.text)")
                    let user = response.json["user"]
                    #expect(user["role"].string == "patient")
                    #expect(user["pid"].int == 1)
                    #expect(user["username"].string == "patient1")
                    #expect(user["id"].int == nil)
                    let token = try #require(response.json["token"].string)
                    #expect(isTokenShaped(token))
                    let me = try await client.currentUser(token)
                    #expect(me.json["role"].string == "patient")
                    #expect(me.json["pid"].int == 1)
                    #expect(try await client.login("patient2", "patient123", path: "/api/auth/patient-login/").json["user"]["pid"].int == 2)

                    let wrong = try await client.login("patient1", "wrong", path: "/api/auth/patient-login/")
                    #expect(wrong.status == .unauthorized)
                    #expect(wrong.errorCode == "invalid_credentials")

                    // Staff-issued password not yet changed by the patient.
                    try await database.query("UPDATE patient_access_onsite SET portal_pwd_status = 0 WHERE pid = 1")
                    #expect(try await client.login("patient1", "patient123", path: "/api/auth/patient-login/").status == .unauthorized)
                    try await restore()
                    // A pending one-time reset.
                    try await database.query("UPDATE patient_access_onsite SET portal_onetime = 'abc' WHERE pid = 1")
                    #expect(try await client.login("patient1", "patient123", path: "/api/auth/patient-login/").status == .unauthorized)
                    try await restore()
                    // Portal access withdrawn: login refused and the existing token stops working.
                    try await database.query("UPDATE patient_data SET allow_patient_portal = 'NO' WHERE pid = 1")
                    let refused = try await client.login("patient1", "patient123", path: "/api/auth/patient-login/")
                    #expect(refused.status == .unauthorized)
                    #expect(refused.text == wrong.text)
                    #expect(try await client.currentUser(token).status == .unauthorized)
                    try await restore()
                    #expect(try await client.currentUser(token).status == .ok)
                }
            } catch {
                try? await restore()
                throw error
            }
        }

        @Test func tokensWorkWithBothSchemesUntilLogout() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                let token = try await client.token("drsmith", "doctor123")
                #expect(try await client.currentUser(token, scheme: "Bearer").status == .ok)
                #expect(try await client.currentUser(token, scheme: "Token").status == .ok)
                #expect(try await client.currentUser(token, scheme: "bearer").status == .ok)
                let other = try await client.token("drsmith", "doctor123")
                #expect(other != token)

                let logout = try await client.send(.post, "/api/auth/logout/", headers: [.authorization: "Token \(token)"])
                #expect(logout.status == .noContent)
                #expect(logout.body.readableBytes == 0)
                let after = try await client.currentUser(token)
                #expect(after.status == .unauthorized)
                #expect(after.errorCode == "not_authenticated")
                #expect(after.headers[.wwwAuthenticate] == "Bearer")
                #expect(try await client.send(.post, "/api/auth/logout/", headers: [.authorization: "Bearer \(token)"]).status == .unauthorized)
                // Only that token was revoked.
                #expect(try await client.currentUser(other).status == .ok)
                #expect(
                    try await database.int("SELECT COUNT(*) AS v FROM mmt_api_tokens WHERE token_hash = UNHEX(SHA2(\(token), 256)) AND revoked_at IS NOT NULL")
                        == 1
                )

                // Expired tokens are refused.
                try await database.query("UPDATE mmt_api_tokens SET expires_at = UTC_TIMESTAMP() - INTERVAL 1 SECOND WHERE token_hash = UNHEX(SHA2(\(other), 256))")
                #expect(try await client.currentUser(other).status == .unauthorized)
            }
        }

        @Test func garbageTokensAreRefused() async throws {
            let database = try LiveDatabase.require()
            let unknown = TestEnvironment.randomHex(bytes: 32)
            let headers: [String?] = [
                nil, "", "Bearer", "Bearer ", "Bearer abc", "Bearer \(unknown)", "Bearer \(unknown.uppercased())", "Bearer \(unknown)0",
                "Bearer " + String(repeating: "g", count: 64), "Basic YWRtaW46cGFzcw==", "Bearer \(unknown) extra", "\(unknown)",
                "Bearer ' OR 1=1 -- " + String(repeating: "a", count: 50),
            ]
            try await database.withApp { client async throws in
                for header in headers {
                    var fields: HTTPFields = [:]
                    if let header { fields[.authorization] = header }
                    let response = try await client.send(.get, "/api/auth/user/", headers: fields)
                    #expect(response.status == .unauthorized, "\(header ?? "no header")")
                    #expect(response.errorCode == "not_authenticated", "\(header ?? "no header")")
                }
                #expect(try await client.send(.post, "/api/auth/logout/").status == .unauthorized)
            }
        }

        @Test func demoGuestOnlyInDemoModeWithTheFlag() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                let response = try await client.send(.post, "/api/auth/guest/")
                #expect(response.status == .notFound)
                #expect(response.errorCode == "not_found")
            }
            try await database.withApp(["BRIDGE_DEMO": "1"]) { client async throws in
                #expect(try await client.send(.post, "/api/auth/guest/").status == .notFound)
            }
            try await database.withApp(["BRIDGE_DEMO": "1", "BRIDGE_DEMO_GUEST": "1"]) { client async throws in
                let response = try await client.send(.post, "/api/auth/guest/")
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.json["user"]["role"].string == "guest")
                let token = try #require(response.json["token"].string)
                #expect(isTokenShaped(token))
                let me = try await client.currentUser(token)
                #expect(me.status == .ok)
                #expect(me.json["role"].string == "guest")
                #expect(try await client.send(.post, "/api/auth/logout/", headers: [.authorization: "Bearer \(token)"]).status == .noContent)
                #expect(try await client.currentUser(token).status == .unauthorized)
            }
        }

        @Test func phpMadeHashesVerify() async throws {
            let database = try LiveDatabase.require()
            let original = try #require(try await database.string("SELECT password AS v FROM users_secure WHERE username = 'drpatel'"))
            let argon = String(
                decoding: try await TestEnvironment.run("php", ["-n", "-r", #"echo password_hash('Secret#1', PASSWORD_ARGON2ID);"#]), as: UTF8.self
            )
            let sha512 = String(
                decoding: try await TestEnvironment.run("php", ["-n", "-r", #"echo crypt('Secret#1', '$6$rounds=5000$abcdefghijklmnop$');"#]),
                as: UTF8.self
            )
            let bcrypt = String(
                decoding: try await TestEnvironment.run("php", ["-n", "-r", #"echo password_hash('Secret#1', PASSWORD_BCRYPT, ['cost' => 12]);"#]),
                as: UTF8.self
            )
            #expect(argon.hasPrefix("$argon2id$v=19$m=65536,t=4,p=1$"), "\(argon)")
            #expect(sha512.hasPrefix("$6$rounds=5000$abcdefghijklmnop$"), "\(sha512)")
            #expect(bcrypt.hasPrefix("$2y$12$"), "\(bcrypt)")
            do {
                for hash in [argon, sha512, bcrypt] {
                    try await database.query("UPDATE users_secure SET password = \(hash) WHERE username = 'drpatel'")
                    try await database.withApp { client async throws in
                        #expect(try await client.login("drpatel", "Secret#1").status == .ok, "\(hash.prefix(12))")
                        #expect(try await client.login("drpatel", "doctor123").status == .unauthorized, "\(hash.prefix(12))")
                        #expect(try await client.login("drpatel", "Secret#2").status == .unauthorized, "\(hash.prefix(12))")
                        #expect(try await client.login("drpatel", "Secret#1").status == .ok, "\(hash.prefix(12))")
                    }
                    #expect(try await database.string("SELECT password AS v FROM users_secure WHERE username = 'drpatel'") == hash)
                }
                // Legacy formats OpenEMR's AuthHash::hashValid no longer accepts still sign in (issue 3: old releases
                // and the old Django bridge wrote them), and only with the right password.
                for script in [
                    #"echo crypt('Secret#1', '$6$abcdefghijklmnop$');"#, #"echo crypt('Secret#1', '$1$abcdefgh$');"#, #"echo sha1('Secret#1');"#,
                    #"echo md5('Secret#1');"#, #"echo str_replace('$2y$', '$2b$', password_hash('Secret#1', PASSWORD_BCRYPT));"#,
                ] {
                    let legacy = String(decoding: try await TestEnvironment.run("php", ["-n", "-r", script]), as: UTF8.self)
                    try await database.query("UPDATE users_secure SET password = \(legacy) WHERE username = 'drpatel'")
                    try await database.withApp { client async throws in
                        let wrong = try await client.login("drpatel", "Secret#2")
                        #expect(wrong.status == .unauthorized, "\(script)")
                        #expect(wrong.errorCode == "invalid_credentials")
                        #expect(try await client.login("drpatel", "Secret#1").status == .ok, "\(script)")
                    }
                    #expect(try await database.string("SELECT password AS v FROM users_secure WHERE username = 'drpatel'") == legacy, "never rehashed")
                }
                try await database.query("UPDATE users_secure SET login_fail_counter = 0, last_login_fail = NULL WHERE username = 'drpatel'")
                // The portal verifies the same formats.
                let portalOriginal = try #require(try await database.string("SELECT portal_pwd AS v FROM patient_access_onsite WHERE pid = 3"))
                for (hash, accepted) in [(argon, true), (sha512, true), (String(decoding: try await TestEnvironment.run("php", ["-n", "-r", #"echo sha1('Secret#1');"#]), as: UTF8.self), true), ("*0", false)] {
                    try await database.query("UPDATE patient_access_onsite SET portal_pwd = \(hash) WHERE pid = 3")
                    try await database.withApp { client async throws in
                        let response = try await client.login("patient3", "Secret#1", path: "/api/auth/patient-login/")
                        #expect(response.status == (accepted ? .ok : .unauthorized), "\(hash.prefix(10)): \(response.text)")
                    }
                }
                try await database.query("UPDATE patient_access_onsite SET portal_pwd = \(portalOriginal) WHERE pid = 3")
            } catch {
                _ = try? await database.query("UPDATE users_secure SET password = \(original) WHERE username = 'drpatel'")
                throw error
            }
            try await database.query("UPDATE users_secure SET password = \(original), login_fail_counter = 0, last_login_fail = NULL WHERE username = 'drpatel'")
        }

        /// Runs last in this suite (source order): checks every audit row the suite wrote.
        @Test func zAuditRowsMatchOpenEMRsFormat() async throws {
            let database = try LiveDatabase.require()
            let wrongPassword = "Wr0ng-\(UUID().uuidString)"
            let firstID = try await database.int("SELECT COALESCE(MAX(id), 0) AS v FROM log") ?? 0
            let first: String = try await database.withApp { client async throws in
                let success = try await client.login("drsmith", "doctor123")
                #expect(success.status == .ok)
                #expect(try await client.login("drsmith", wrongPassword).status == .unauthorized)
                return try #require(success.json["token"].string)
            }
            let second: String = try await database.withApp(setup: .live) { client async throws in
                try await client.token("drsmith", "doctor123")
            }
            let tokens = [first, second]

            let rows = try await database.query(
                """
                SELECT l.id, CAST(l.date AS CHAR) AS date, l.event, l.category, l.user, l.groupname, l.comments, l.patient_id, l.success,
                       l.log_from, TIMESTAMPDIFF(SECOND, l.date, UTC_TIMESTAMP()) AS age, e.encrypt, e.checksum, e.checksum_api, e.version
                FROM log l JOIN log_comment_encrypt e ON e.log_id = l.id
                WHERE l.id > \(firstID) ORDER BY l.id
                """
            ).rows
            #expect(rows.count == 3)
            #expect(try rows.map { try $0.decode("event", as: String.self) } == ["login", "login", "login"])
            #expect(try rows.map { try $0.decode("success", as: Int.self) } == [1, 0, 1])
            for row in rows {
                #expect(try row.decode("category", as: String.self) == "login")
                #expect(try row.decode("user", as: String.self) == "drsmith")
                #expect(try row.decode("groupname", as: String.self) == "Default")
                #expect(try row.decode("log_from", as: String.self) == "open-emr")
                #expect(try row.decode("patient_id", as: Int?.self) == nil)
                #expect(try row.decode("encrypt", as: String.self) == "No")
                #expect(try row.decode("version", as: Int.self) == 4)
                #expect(try row.decode("checksum_api", as: String.self) == "")
                // gbl_time_zone is UTC in the demo data: local time = UTC.
                #expect(abs(try row.decode("age", as: Int.self)) < 120)
            }
            let comments = try rows.map { row in
                String(decoding: Data(base64Encoded: try row.decode("comments", as: String.self)) ?? Data(), as: UTF8.self)
            }
            #expect(comments[0] == "success: unknown")
            #expect(comments[1] == "failure: unknown")
            #expect(comments[2] == "success: 127.0.0.1" || comments[2] == "success: ::1", "\(comments[2])")

            // Every row of the log (this whole suite) verifies like OpenEMR's tamper report, checked with Python's SHA3.
            try await Self.verifyChecksums(database)

            // No password or token text anywhere in the log, raw or base64-decoded.
            let everything = try await database.query(
                """
                SELECT CONCAT_WS('|', l.date, l.event, l.category, l.user, l.groupname, l.comments, l.user_notes, l.crt_user, l.log_from,
                                 e.checksum, e.checksum_api) AS raw, l.comments
                FROM log l LEFT JOIN log_comment_encrypt e ON e.log_id = l.id
                """
            ).rows
            #expect(everything.count >= 3)
            let secrets = [wrongPassword, "doctor123", "front123", "patient123", "Secret#1", "not-the-password"] + tokens
            for row in everything {
                let raw = try row.decode("raw", as: String.self)
                let decoded = String(decoding: Data(base64Encoded: try row.decode("comments", as: String?.self) ?? "") ?? Data(), as: UTF8.self)
                for secret in secrets {
                    #expect(!raw.contains(secret) && !decoded.contains(secret), "a secret leaked into the audit log")
                }
                #expect(!raw.contains("$2y$") && !decoded.contains("$2y$"), "a hash leaked into the audit log")
            }
        }

        /// Recomputes every `log_comment_encrypt.checksum` as OpenEMR's tamper report does: lowercase hex SHA3-512 of
        /// the 13 stored values concatenated (NULL as empty), here with Python's hashlib.
        static func verifyChecksums(_ database: LiveDatabase, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let rows = try await database.query(
                """
                SELECT l.id, e.checksum,
                       HEX(CONCAT(IFNULL(l.date, ''), IFNULL(l.event, ''), IFNULL(l.category, ''), IFNULL(l.user, ''), IFNULL(l.groupname, ''),
                                  IFNULL(l.comments, ''), IFNULL(l.user_notes, ''), IFNULL(l.patient_id, ''), IFNULL(l.success, ''),
                                  IFNULL(l.crt_user, ''), IFNULL(l.log_from, ''), IFNULL(l.menu_item_id, ''), IFNULL(l.ccda_doc_id, ''))) AS h
                FROM log l LEFT JOIN log_comment_encrypt e ON e.log_id = l.id ORDER BY l.id
                """
            ).rows
            try #require(!rows.isEmpty, sourceLocation: sourceLocation)
            let input = try rows.map { try $0.decode("h", as: String.self) }.joined(separator: "\n") + "\n"
            let output = try await TestEnvironment.run(
                "python3",
                ["-c", "import hashlib, sys\nfor line in sys.stdin:\n    print(hashlib.sha3_512(bytes.fromhex(line.strip())).hexdigest())"],
                stdin: Data(input.utf8)
            )
            let expected = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
            try #require(expected.count == rows.count, sourceLocation: sourceLocation)
            for (row, checksum) in zip(rows, expected) {
                let id = try row.decode("id", as: Int.self)
                #expect(try row.decode("checksum", as: String?.self) == checksum, "log row \(id): checksum mismatch", sourceLocation: sourceLocation)
            }
        }
    }
}
