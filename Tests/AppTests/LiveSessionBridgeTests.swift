import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import Testing

@testable import App
@testable import OpenEMR

/// Writes OpenEMR session files with PHP's own session code (`session_start()` / `session_write_close()`, files
/// handler, `php` serializer), in OpenEMR 8.2's namespaced layout or the flat 6.0–8.0 layout.
struct PHPSessionWriter: Sendable {
    enum Layout: String, Sendable {
        case namespaced
        case flat
    }

    let directory: URL

    /// PHP reads a JSON spec on stdin; binary values arrive hex-encoded under `binary`.
    static let script = #"""
        $spec = json_decode(stream_get_contents(STDIN), true);
        $values = $spec['values'];
        foreach ($spec['binary'] as $key => $hex) { $values[$key] = hex2bin($hex); }
        session_name($spec['name']);
        session_id($spec['id']);
        if (!session_start()) { fwrite(STDERR, "session_start failed\n"); exit(1); }
        if ($spec['layout'] === 'namespaced') {
            $_SESSION[$spec['name']] = $values;
            $now = time();
            $_SESSION['_sf2_meta'] = ['u' => $now, 'c' => $now - 10, 'l' => 0];
        } else {
            foreach ($values as $key => $value) { $_SESSION[$key] = $value; }
        }
        if (!session_write_close()) { fwrite(STDERR, "session_write_close failed\n"); exit(1); }
        """#

    /// A session id as PHP < 8.4 makes them for OpenEMR (48 chars of `[0-9a-zA-Z,-]`).
    static func newID() -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,-")
        return String((0..<48).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }

    /// Writes `sess_<id>` and returns its path.
    ///
    /// PHP's session garbage collector is off (`session.gc_probability=0`, as Debian's php.ini has it; `-n` would
    /// leave PHP's built-in 1 in 100): otherwise one write in a hundred deleted the other files of the folder older
    /// than `gc_maxlifetime` (1,440 s), such as a test's deliberately stale session (a rare failure of
    /// `sessionsOpenEMRWouldRejectAreRefused`, reproduced with a probability of 1).
    @discardableResult
    func write(
        id: String, name: String = "OpenEMR", layout: Layout, values: [String: JSONValue], binary: [String: [UInt8]] = [:]
    ) async throws -> URL {
        let spec = JSONValue.object([
            "id": .string(id), "name": .string(name), "layout": .string(layout.rawValue), "values": .object(values),
            "binary": .object(binary.mapValues { .string(hex($0)) }),
        ])
        _ = try await TestEnvironment.run(
            "php",
            [
                "-n", "-d", "session.save_handler=files", "-d", "session.save_path=\(directory.path)", "-d", "session.serialize_handler=php",
                "-d", "session.use_strict_mode=0", "-d", "session.use_cookies=0", "-d", "session.use_only_cookies=0", "-d",
                "session.cache_limiter=", "-d", "session.gc_probability=0", "-r", Self.script,
            ],
            stdin: Data(spec.text.utf8)
        )
        let path = directory.appendingPathComponent("sess_" + id)
        try #require(FileManager.default.fileExists(atPath: path.path), "PHP wrote no \(path.path)")
        return path
    }
}

extension LiveAppTests {
    /// Issue 3: `POST /api/auth/openemr-session/` turns a live OpenEMR PHP session into a bridge token.
    @Suite("Live: OpenEMR session bridge", .liveDatabase())
    struct SessionBridgeSuite {
        /// A temporary session folder, removed afterwards.
        static func withSessionDirectory<Result: Sendable>(_ body: (URL) async throws -> Result) async throws -> Result {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emr-sessions-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            return try await body(directory)
        }

        /// A `session_tracker` row touched `idleSeconds` ago; returns its 16-byte uuid.
        static func trackerRow(_ database: LiveDatabase, idleSeconds: Int = 0) async throws -> [UInt8] {
            let uuid = TestEnvironment.randomBytes(16)
            try await database.query(
                """
                INSERT INTO session_tracker (uuid, created, last_updated)
                VALUES (\(uuid), NOW() - INTERVAL \(idleSeconds + 60) SECOND, NOW() - INTERVAL \(idleSeconds) SECOND)
                """
            )
            return uuid
        }

        /// The keys OpenEMR 8.2 writes after a core login (REFERENCE.md §3.4).
        static func coreValues(_ database: LiveDatabase, user: String = "admin", id: Int = 1, authPass: String? = nil) async throws -> [String: JSONValue] {
            let hash = try #require(try await database.string("SELECT password AS v FROM users_secure WHERE id = \(id)"))
            return [
                "site_id": .string("default"), "language_choice": .string("1"), "language_direction": .string("ltr"), "authUser": .string(user),
                "authPass": .string(authPass ?? hash), "authUserID": .string(String(id)), "authProvider": .string("Default"),
                "userauthorized": .string("1"), "enable_database_connection_pooling": .bool(false), "encounter": .string(""),
                "default_open_tabs": .array([
                    .object(["option_id": .string("cal"), "title": .string("Calendar"), "notes": .string("interface/main/main_info.php")])
                ]),
                "token_main_php": .string(TestEnvironment.randomHex(bytes: 20)),
            ]
        }

        static func coreBinary(tracker: [UInt8]?) -> [String: [UInt8]] {
            var binary = ["csrf_private_key": TestEnvironment.randomBytes(32)]
            if let tracker { binary["session_database_uuid"] = tracker }
            return binary
        }

        static let portalValues: [String: JSONValue] = [
            "site_id": .string("default"), "language_choice": .number(1), "portal_username": .string("patient1"),
            "portal_login_username": .string("patient1"), "pid": .number(1), "patient_portal_onsite_two": .number(1),
            "providerName": .string("Emily Smith"), "providerUName": .string("drsmith"), "sessionUser": .string("-patient-"),
            "providerId": .number(2), "ptName": .string("Patient One"), "authUser": .string("portal-user"),
        ]

        @Test func namespacedAndFlatCoreSessionsBridgeToTheUser() async throws {
            let database = try LiveDatabase.require()
            try await Self.withSessionDirectory { directory in
                let writer = PHPSessionWriter(directory: directory)
                let namespaced = PHPSessionWriter.newID(), flat = PHPSessionWriter.newID()
                let values = try await Self.coreValues(database)
                try await writer.write(id: namespaced, layout: .namespaced, values: values, binary: Self.coreBinary(tracker: try await Self.trackerRow(database)))
                try await writer.write(id: flat, layout: .flat, values: values, binary: Self.coreBinary(tracker: try await Self.trackerRow(database)))
                // The file really is PHP's 8.2 layout.
                let text = String(decoding: try Data(contentsOf: directory.appendingPathComponent("sess_" + namespaced)), as: UTF8.self)
                #expect(text.hasPrefix("OpenEMR|a:"), "\(text.prefix(40))")
                #expect(text.contains("_sf2_meta|a:3:{"))
                let flatText = String(decoding: try Data(contentsOf: directory.appendingPathComponent("sess_" + flat)), as: UTF8.self)
                #expect(!flatText.hasPrefix("OpenEMR|"))
                #expect(flatText.contains("site_id|s:7:\"default\";") && flatText.contains("authUser|s:5:\"admin\";"))
                #expect(!flatText.contains("_sf2_meta"))

                try await database.withApp(["OPENEMR_SESSION_PATH": directory.path]) { client async throws in
                    let byCookie = try await client.send(
                        .post, "/api/auth/openemr-session/", headers: [.cookie: "App=OpenEMR; OpenEMR=\(namespaced); theme=dark"]
                    )
                    #expect(byCookie.status == .ok, "\(byCookie.text)")
                    #expect(byCookie.json["user"]["role"].string == "admin")
                    #expect(byCookie.json["user"]["id"].int == 1)
                    #expect(byCookie.json["user"]["username"].string == "admin")
                    #expect(byCookie.json["token_type"].string == "Bearer")
                    let token = try #require(byCookie.json["token"].string)
                    #expect(isTokenShaped(token))
                    let me = try await client.currentUser(token)
                    #expect(me.status == .ok)
                    #expect(me.json["role"].string == "admin")
                    #expect(
                        try await database.string("SELECT source AS v FROM mmt_api_tokens WHERE token_hash = UNHEX(SHA2(\(token), 256))")
                            == "openemr-session"
                    )

                    let byBody = try await client.send(.post, "/api/auth/openemr-session/", json: #"{"session_id": "\#(flat)"}"#)
                    #expect(byBody.status == .ok, "\(byBody.text)")
                    #expect(byBody.json["user"]["role"].string == "admin")

                    // Without a cookie or a body: a validation error, not a 500.
                    let nothing = try await client.send(.post, "/api/auth/openemr-session/")
                    #expect(nothing.status == .badRequest)
                    #expect(nothing.json["error"]["details"]["session_id"].string != nil)
                }
            }
            // The bridge logged the sign-in like OpenEMR does, with a valid checksum.
            let comments = try await database.query(
                "SELECT comments FROM log WHERE event = 'login' AND user = 'admin' AND success = 1 ORDER BY id"
            ).rows.map { String(decoding: Data(base64Encoded: try $0.decode("comments", as: String.self)) ?? Data(), as: UTF8.self) }
            #expect(comments.filter { $0 == "openemr-session bridge: unknown" }.count == 2, "\(comments)")
            try await SignIn.verifyChecksums(database)
        }

        @Test func nonAdminRolesComeFromOpenEMR() async throws {
            let database = try LiveDatabase.require()
            try await Self.withSessionDirectory { directory in
                let writer = PHPSessionWriter(directory: directory)
                let provider = PHPSessionWriter.newID(), staff = PHPSessionWriter.newID()
                try await writer.write(
                    id: provider, layout: .namespaced, values: try await Self.coreValues(database, user: "drsmith", id: 2),
                    binary: Self.coreBinary(tracker: try await Self.trackerRow(database))
                )
                try await writer.write(
                    id: staff, layout: .namespaced, values: try await Self.coreValues(database, user: "frontdesk", id: 5),
                    binary: Self.coreBinary(tracker: try await Self.trackerRow(database))
                )
                try await database.withApp(["OPENEMR_SESSION_PATH": directory.path]) { client async throws in
                    let first = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "OpenEMR=\(provider)"])
                    #expect(first.json["user"]["role"].string == "provider", "\(first.text)")
                    #expect(first.json["user"]["id"].int == 2)
                    let second = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "OpenEMR=\(staff)"])
                    #expect(second.json["user"]["role"].string == "staff", "\(second.text)")
                }
            }
        }

        @Test func sessionsOpenEMRWouldRejectAreRefused() async throws {
            let database = try LiveDatabase.require()
            try await Self.withSessionDirectory { directory in
                let writer = PHPSessionWriter(directory: directory)
                var cases: [(String, String)] = []  // (label, session id)
                let values = try await Self.coreValues(database)

                let idle = PHPSessionWriter.newID()  // session_tracker idle for 3 hours > timeout 7200
                try await writer.write(id: idle, layout: .namespaced, values: values, binary: Self.coreBinary(tracker: try await Self.trackerRow(database, idleSeconds: 3 * 3600)))
                cases.append(("idle tracker", idle))

                let forged = PHPSessionWriter.newID()  // authPass is not the current hash
                try await writer.write(
                    id: forged, layout: .namespaced,
                    values: try await Self.coreValues(database, authPass: "$2y$10$BQoHE2JbeUkHuedKvwP7wOs.g5YwuAKcmnwq.O2T7rrlHnlsnDmUX"),
                    binary: Self.coreBinary(tracker: try await Self.trackerRow(database))
                )
                cases.append(("forged authPass", forged))

                let noTracker = PHPSessionWriter.newID()  // no session_database_uuid (e.g. MFA not completed)
                try await writer.write(id: noTracker, layout: .namespaced, values: values, binary: Self.coreBinary(tracker: nil))
                cases.append(("no session_database_uuid", noTracker))

                let unknownTracker = PHPSessionWriter.newID()  // a uuid with no session_tracker row
                try await writer.write(id: unknownTracker, layout: .namespaced, values: values, binary: Self.coreBinary(tracker: TestEnvironment.randomBytes(16)))
                cases.append(("unknown tracker", unknownTracker))

                let wrongName = PHPSessionWriter.newID()  // authUser does not match authUserID
                var mismatched = values
                mismatched["authUser"] = .string("drsmith")
                try await writer.write(id: wrongName, layout: .namespaced, values: mismatched, binary: Self.coreBinary(tracker: try await Self.trackerRow(database)))
                cases.append(("authUser mismatch", wrongName))

                let stale = PHPSessionWriter.newID()  // file older than OPENEMR_SESSION_MAX_AGE
                let stalePath = try await writer.write(
                    id: stale, layout: .namespaced, values: values, binary: Self.coreBinary(tracker: try await Self.trackerRow(database))
                )
                try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: stalePath.path)
                cases.append(("stale file", stale))

                let loggedOut = PHPSessionWriter.newID()  // a session without a login
                try await writer.write(id: loggedOut, layout: .namespaced, values: ["site_id": .string("default")])
                cases.append(("not logged in", loggedOut))

                cases.append(("no such file", PHPSessionWriter.newID()))
                cases.append(("path traversal", "../../etc/passwd"))
                cases.append(("too short", "abc"))
                cases.append(("dots", "....................................."))

                // Not a PHP session at all.
                let garbage = PHPSessionWriter.newID()
                try Data("this is not a session".utf8).write(to: directory.appendingPathComponent("sess_" + garbage))
                cases.append(("garbage file", garbage))

                let refusals = cases
                try await database.withApp(["OPENEMR_SESSION_PATH": directory.path, "OPENEMR_SESSION_MAX_AGE": "600"]) { client async throws in
                    var bodies = Set<String>()
                    for (label, id) in refusals {
                        let body = JSONValue.object(["session_id": .string(id)]).text
                        let response = try await client.send(.post, "/api/auth/openemr-session/", json: body)
                        #expect(response.status == .unauthorized, "\(label): \(response.text)")
                        #expect(response.errorCode == "invalid_session", "\(label): \(response.text)")
                        bodies.insert(response.text)
                        if !id.contains("/") && !id.contains(";") {
                            let byCookie = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "OpenEMR=\(id)"])
                            #expect(byCookie.status == .unauthorized, "\(label) (cookie): \(byCookie.text)")
                        }
                    }
                    #expect(bodies.count == 1, "every refusal looks the same")
                }
                // The same stale file within the default max age (14400 s) is accepted: the age check was what refused it.
                try await database.withApp(["OPENEMR_SESSION_PATH": directory.path]) { client async throws in
                    let response = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "OpenEMR=\(stale)"])
                    #expect(response.status == .ok, "\(response.text)")
                }
            }
            // Refusals of logged-in sessions are audited as failed logins.
            let failures = try await database.query("SELECT comments FROM log WHERE event = 'login' AND success = 0").rows.map {
                String(decoding: Data(base64Encoded: try $0.decode("comments", as: String.self)) ?? Data(), as: UTF8.self)
            }
            #expect(failures.contains("openemr-session bridge refused: unknown"))
        }

        @Test func deactivatedUsersSessionIsRefused() async throws {
            let database = try LiveDatabase.require()
            try await Self.withSessionDirectory { directory in
                let writer = PHPSessionWriter(directory: directory)
                let id = PHPSessionWriter.newID()
                try await writer.write(
                    id: id, layout: .namespaced, values: try await Self.coreValues(database, user: "drjones", id: 3),
                    binary: Self.coreBinary(tracker: try await Self.trackerRow(database))
                )
                do {
                    try await database.withApp(["OPENEMR_SESSION_PATH": directory.path]) { client async throws in
                        let before = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "OpenEMR=\(id)"])
                        #expect(before.status == .ok, "\(before.text)")
                        let token = try #require(before.json["token"].string)
                        try await database.query("UPDATE users SET active = 0 WHERE id = 3")
                        let after = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "OpenEMR=\(id)"])
                        #expect(after.status == .unauthorized)
                        #expect(after.errorCode == "invalid_session")
                        #expect(try await client.currentUser(token).status == .unauthorized)
                    }
                } catch {
                    _ = try? await database.query("UPDATE users SET active = 1 WHERE id = 3")
                    throw error
                }
                try await database.query("UPDATE users SET active = 1 WHERE id = 3")
            }
        }

        @Test func portalSessionBridgesToThePatient() async throws {
            let database = try LiveDatabase.require()
            try await Self.withSessionDirectory { directory in
                let writer = PHPSessionWriter(directory: directory)
                let namespaced = PHPSessionWriter.newID(), flat = PHPSessionWriter.newID(), unflagged = PHPSessionWriter.newID()
                try await writer.write(id: namespaced, name: "PortalOpenEMR", layout: .namespaced, values: Self.portalValues, binary: ["csrf_private_key": TestEnvironment.randomBytes(32)])
                var flatValues = Self.portalValues
                flatValues["pid"] = .string("1")  // 6.x–7.x store the pid as a string
                flatValues["authUser"] = nil
                try await writer.write(id: flat, name: "PortalOpenEMR", layout: .flat, values: flatValues)
                var notLoggedIn = Self.portalValues
                notLoggedIn["patient_portal_onsite_two"] = nil
                try await writer.write(id: unflagged, name: "PortalOpenEMR", layout: .namespaced, values: notLoggedIn)
                let text = String(decoding: try Data(contentsOf: directory.appendingPathComponent("sess_" + namespaced)), as: UTF8.self)
                #expect(text.hasPrefix("PortalOpenEMR|a:"))

                do {
                    try await database.withApp(["OPENEMR_SESSION_PATH": directory.path]) { client async throws in
                        let response = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "PortalOpenEMR=\(namespaced)"])
                        #expect(response.status == .ok, "\(response.text)")
                        #expect(response.json["user"]["role"].string == "patient")
                        #expect(response.json["user"]["pid"].int == 1)
                        let token = try #require(response.json["token"].string)
                        let me = try await client.currentUser(token)
                        #expect(me.json["pid"].int == 1)
                        #expect(me.json["role"].string == "patient")

                        let byBody = try await client.send(.post, "/api/auth/openemr-session/", json: #"{"session_id": "\#(flat)", "type": "portal"}"#)
                        #expect(byBody.status == .ok, "\(byBody.text)")
                        #expect(byBody.json["user"]["pid"].int == 1)

                        // A portal session is not a core session.
                        let asCore = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "OpenEMR=\(namespaced)"])
                        #expect(asCore.status == .unauthorized)
                        let badType = try await client.send(.post, "/api/auth/openemr-session/", json: #"{"session_id": "\#(flat)", "type": "api"}"#)
                        #expect(badType.status == .badRequest)

                        let notIn = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "PortalOpenEMR=\(unflagged)"])
                        #expect(notIn.status == .unauthorized)
                        #expect(notIn.errorCode == "invalid_session")

                        // Portal access withdrawn in OpenEMR.
                        try await database.query("UPDATE patient_data SET allow_patient_portal = 'NO' WHERE pid = 1")
                        let refused = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "PortalOpenEMR=\(namespaced)"])
                        #expect(refused.status == .unauthorized)
                        #expect(try await client.currentUser(token).status == .unauthorized)
                    }
                } catch {
                    _ = try? await database.query("UPDATE patient_data SET allow_patient_portal = 'YES' WHERE pid = 1")
                    throw error
                }
                try await database.query("UPDATE patient_data SET allow_patient_portal = 'YES' WHERE pid = 1")
            }
            let portal = try await database.query(
                "SELECT comments, patient_id, log_from FROM log WHERE event = 'portal-login' AND success = 1 AND user = 'patient1'"
            ).rows
            let bridged = try portal.filter {
                String(decoding: Data(base64Encoded: try $0.decode("comments", as: String.self)) ?? Data(), as: UTF8.self)
                    == "portal session bridge: unknown"
            }
            #expect(bridged.count == 2)
            for row in bridged {
                #expect(try row.decode("patient_id", as: Int?.self) == 1)
                #expect(try row.decode("log_from", as: String.self) == "patient-portal")
            }
        }

        @Test func bridgeIsOffWithoutASessionPath() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                let response = try await client.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "OpenEMR=\(PHPSessionWriter.newID())"])
                #expect(response.status == .serviceUnavailable)
                #expect(response.errorCode == "session_bridge_disabled")
            }
        }
    }
}
