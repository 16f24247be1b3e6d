import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import NIOCore
import Testing

@testable import App
@testable import OpenEMR

extension LiveAppTests {
    /// Issue 13 (sign-in and audit hardening): audited writes with a small pool, batched audit rows under
    /// `auto_increment_increment > 1`, MariaDB error text kept out of logs and responses, and patient delete.
    @Suite("Live: audit hardening", .liveDatabase())
    struct Hardening {
        static let event = AuditEvent(
            event: "patient-record-select", category: "Patient Demographics", user: "drsmith", groupName: "Default", patientID: 8, success: true,
            comments: "emr-bridge read: hardening test"
        )

        /// Runs `body` with an app of this database built with `logger` (the app's and every request's logger).
        static func withApp<Value: Sendable>(
            _ database: LiveDatabase, _ extra: [String: String] = [:], logger: Logger, _ body: @Sendable (any TestClientProtocol) async throws -> Value
        ) async throws -> Value {
            let app = try await buildApplication(configuration: try database.configuration(extra), logger: logger)
            return try await app.test(.router, body)
        }

        // MARK: One connection per audited write

        /// With the pool full of audited writers and the globals cache stale, each writer used to lease a second
        /// connection for the globals (time zone) while holding its own: all of them waited out the lease timeout.
        @Test func auditedWritesNeverLeaseASecondConnection() async throws {
            let database = try LiveDatabase.require()
            let before = try await database.count("log", "comments = TO_BASE64('emr-bridge read: hardening test')")
            let configuration = try database.configuration(["DB_POOL_SIZE": "2", "DB_LEASE_TIMEOUT": "2"])
            // Directly: a cache that is always stale, so every write refreshes it.
            let failures = try await TestEnvironment.withClient(configuration.database) { client in
                let audit = AuditLogger(database: client, globals: OpenEMRGlobalsCache(database: client, refreshInterval: .zero), logger: database.logger)
                return await withTaskGroup(of: String?.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            do {
                                try await audit.record([Self.event], logger: database.logger)
                                return nil
                            } catch {
                                return "\(error)"
                            }
                        }
                    }
                    var failures: [String] = []
                    for await failure in group { if let failure { failures.append(failure) } }
                    return failures
                }
            }
            #expect(failures.isEmpty, "\(failures)")
            #expect(try await database.count("log", "comments = TO_BASE64('emr-bridge read: hardening test')") == before + 8)

            // Through the API: concurrent patient creates on a pool of 2 right after the cache was invalidated.
            let statuses = try await database.withClinicalApp(["DB_POOL_SIZE": "2", "DB_LEASE_TIMEOUT": "2"]) { client, services in
                let token = try await client.token("drsmith", "doctor123")
                services.globals.invalidate()
                return try await withThrowingTaskGroup(of: (UInt16, String).self) { group in
                    for index in 0..<6 {
                        group.addTask {
                            let response = try await client.call(
                                .post, "/api/patients/", token: token, json: #"{"fname":"Pool","lname":"Writer\#(index)","sex":"Female","dob":"1980-01-01"}"#
                            )
                            return (UInt16(response.status.code), response.text)
                        }
                    }
                    var statuses: [(UInt16, String)] = []
                    for try await status in group { statuses.append(status) }
                    return statuses
                }
            }
            for (status, text) in statuses { #expect(status == 201, "\(text.prefix(200))") }
        }

        // MARK: Batched audit rows with auto_increment_increment > 1

        /// On Galera (`auto_increment_increment` = cluster size) the ids of a batch's `log` rows are spaced by the
        /// increment; every `log_comment_encrypt` row must still point at its own `log` row.
        @Test func batchedAuditRowsLinkCorrectlyWithAnAutoIncrementStep() async throws {
            let database = try LiveDatabase.require()
            var configuration = try database.configuration(["DB_POOL_SIZE": "2"])
            configuration.database.options.connectionInitStatements += ["SET SESSION auto_increment_increment = 2", "SET SESSION auto_increment_offset = 1"]
            let firstID = try await database.int("SELECT COALESCE(MAX(id), 0) AS v FROM log") ?? 0
            let steps = try await TestEnvironment.withClient(configuration.database) { client in
                let audit = AuditLogger(database: client, globals: OpenEMRGlobalsCache(database: client), logger: database.logger)
                let events = (0..<299).map { index in
                    var event = Self.event
                    event.patientID = 1 + index % 7
                    event.comments = "emr-bridge read: step batch \(index)"
                    return event
                }
                try await audit.record(events, logger: database.logger)
                return try await client.query("SELECT @@SESSION.auto_increment_increment AS v", logger: database.logger).first?.decode("v", as: Int.self)
            }
            #expect(steps == 2, "the session setting did not apply")
            let ids = try await database.query("SELECT id FROM log WHERE id > \(firstID) ORDER BY id").rows.map { try $0.decode("id", as: Int.self) }
            #expect(ids.count == 299)
            #expect(zip(ids, ids.dropFirst()).contains { $1 - $0 > 1 }, "ids were not spaced: the test did not exercise the step")
            #expect(try await database.count("log l LEFT JOIN log_comment_encrypt e ON e.log_id = l.id", "l.id > \(firstID) AND e.log_id IS NULL") == 0)
            #expect(try await database.count("log_comment_encrypt e LEFT JOIN log l ON l.id = e.log_id", "e.log_id > \(firstID) AND l.id IS NULL") == 0)
            try await LiveAppTests.SignIn.verifyChecksums(database)
        }

        /// Batches written while other sessions write `log` rows of their own (single events in their transactions, and
        /// other batches): a bulk insert's ids interleave with theirs, yet every `log_comment_encrypt` row points at the
        /// `log` row it was computed for (OpenEMR's tamper check recomputes each checksum from the row it points at).
        @Test func concurrentAuditBatchesLinkEachRowToItsOwnChecksum() async throws {
            let database = try LiveDatabase.require()
            let firstID = try await database.int("SELECT COALESCE(MAX(id), 0) AS v FROM log") ?? 0
            let configuration = try database.configuration(["DB_POOL_SIZE": "12"])
            try await TestEnvironment.withClient(configuration.database) { client in
                let audit = AuditLogger(database: client, globals: OpenEMRGlobalsCache(database: client), logger: database.logger)
                func events(_ writer: Int, _ count: Int) -> [AuditEvent] {
                    (0..<count).map { index in
                        var event = Self.event
                        event.patientID = writer * 1000 + index
                        event.comments = "emr-bridge read: writer \(writer) row \(index)"
                        return event
                    }
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<6 {
                        group.addTask { for round in 0..<5 { try await audit.record(events(writer * 10 + round, 40), logger: database.logger) } }
                    }
                    for writer in 6..<10 {
                        group.addTask {
                            for round in 0..<40 {
                                try await client.withTransaction(logger: database.logger) { connection in
                                    try await audit.write(events(writer * 100 + round, 1), on: connection)
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(try await database.count("log", "id > \(firstID)") == 6 * 5 * 40 + 4 * 40)
            #expect(try await database.count("log l LEFT JOIN log_comment_encrypt e ON e.log_id = l.id", "l.id > \(firstID) AND e.log_id IS NULL") == 0)
            #expect(try await database.count("log_comment_encrypt e LEFT JOIN log l ON l.id = e.log_id", "e.log_id > \(firstID) AND l.id IS NULL") == 0)
            #expect(try await database.count("(SELECT log_id FROM log_comment_encrypt WHERE log_id > \(firstID) GROUP BY log_id HAVING COUNT(*) > 1) d", "1 = 1") == 0)
            try await LiveAppTests.SignIn.verifyChecksums(database)
        }

        // MARK: MariaDB error text never in a log line or a response

        static let secret = "Nguyen Secretson"

        @Test func mariaDBMessagesNeverReachLogsOrResponses() async throws {
            let database = try LiveDatabase.require()
            let logs = CapturedLogs()
            // A server error that quotes the value, as "Duplicate entry '…' for key …" does (errno 1644, not a
            // duplicate key, so it takes the generic 500 path that logs the error).
            try await database.query(
                """
                CREATE TRIGGER test_quotes_value BEFORE INSERT ON patient_data FOR EACH ROW
                IF NEW.lname = 'Secretson' THEN
                  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'Duplicate entry ''Nguyen Secretson'' for key ''name''';
                END IF
                """
            )
            // A real duplicate key quoting the value.
            try await database.query("ALTER TABLE patient_data ADD UNIQUE KEY test_unique_pubpid (pubpid)")
            do {
                try await Self.withApp(database, logger: logs.logger()) { client in
                    let token = try await client.token("drsmith", "doctor123")
                    let signalled = try await client.call(
                        .post, "/api/patients/", token: token, json: #"{"fname":"Nguyen","lname":"Secretson","sex":"Male","dob":"1970-01-01"}"#
                    )
                    #expect(signalled.status == .internalServerError)
                    #expect(hasErrorShape(signalled))
                    #expect(!signalled.text.contains("Secretson") && !signalled.text.contains("Duplicate"), "\(signalled.text)")

                    let body = #"{"fname":"Ann","lname":"Unique","sex":"Female","dob":"1970-01-01","pubpid":"nguyen-secretson-mrn"}"#
                    #expect(try await client.call(.post, "/api/patients/", token: token, json: body).status == .created)
                    let duplicate = try await client.call(.post, "/api/patients/", token: token, json: body)
                    #expect(duplicate.status == .conflict)
                    #expect(!duplicate.text.contains("secretson"), "\(duplicate.text)")
                }
                // An audit flush that fails on a server message quoting a value.
                try await database.query(
                    """
                    CREATE TRIGGER test_log_quotes_value BEFORE INSERT ON log FOR EACH ROW
                    IF NEW.patient_id = 424242 THEN
                      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'Incorrect value ''Nguyen Secretson'' for column ''user''';
                    END IF
                    """
                )
                let configuration = try database.configuration()
                try await TestEnvironment.withClient(configuration.database) { client in
                    let audit = AuditLogger(database: client, globals: OpenEMRGlobalsCache(database: client), logger: logs.logger())
                    let queue = AuditQueue(audit: audit, logger: logs.logger())
                    var event = Self.event
                    event.patientID = 424242
                    queue.enqueue([event])
                    await queue.flush()
                    #expect(queue.pending == 1)
                }
            } catch {
                try? await Self.dropErrorFixtures(database)
                throw error
            }
            try await Self.dropErrorFixtures(database)

            let text = logs.text
            #expect(text.contains("mariadb_error_number=1644"), "the 500 was not logged with its error number")
            #expect(text.contains("audit flush failed"))
            for leak in ["Secretson", "secretson", "Duplicate entry", "Incorrect value"] {
                #expect(!text.contains(leak), "\(leak) reached a log line")
            }
        }

        static func dropErrorFixtures(_ database: LiveDatabase) async throws {
            try await database.query("DROP TRIGGER IF EXISTS test_quotes_value")
            try await database.query("DROP TRIGGER IF EXISTS test_log_quotes_value")
            try await database.query("ALTER TABLE patient_data DROP KEY IF EXISTS test_unique_pubpid")
        }

        // MARK: Patient delete

        static let allowDelete = ["BRIDGE_ALLOW_PATIENT_DELETE": "1"]

        @Test func deletedHighestPidIsNeverHandedOutAgain() async throws {
            let database = try LiveDatabase.require()
            let (deleted, next) = try await database.withApp(Self.allowDelete) { client -> (Int, Int) in
                let doctor = try await client.token("drsmith", "doctor123")
                let created = try await client.call(.post, "/api/patients/", token: doctor, json: #"{"fname":"High","lname":"Est","sex":"Male","dob":"1960-06-06"}"#)
                let pid = try #require(created.json["pid"].int)
                #expect(try await database.int("SELECT MAX(pid) AS v FROM patient_data") == pid)
                let admin = try await client.token("admin", "pass")
                let response = try await client.call(.delete, "/api/patients/\(pid)/", token: admin)
                #expect(response.status == .noContent, "\(response.text)")
                let again = try await client.call(.post, "/api/patients/", token: doctor, json: #"{"fname":"Next","lname":"One","sex":"Female","dob":"1961-06-06"}"#)
                return (pid, try #require(again.json["pid"].int))
            }
            #expect(next > deleted)
            #expect(next == deleted + 1)
            #expect(try await database.string("SELECT deleted_by AS v FROM mmt_deleted_patients WHERE pid = \(deleted)") == "admin")
            #expect(try await database.count("mmt_deleted_patients", "pid = \(deleted) AND deleted_at > UTC_TIMESTAMP() - INTERVAL 10 MINUTE") == 1)
        }

        @Test func deleteRevokesThePatientsTokens() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp(Self.allowDelete) { client in
                let portal = try await client.portalToken("patient3", "patient123")
                #expect(try await client.call(.get, "/api/patients/3/", token: portal).status == .ok)
                let admin = try await client.token("admin", "pass")
                let deleted = try await client.call(.delete, "/api/patients/3/", token: admin)
                #expect(deleted.status == .noContent, "\(deleted.text)")
                #expect(try await database.count("mmt_api_tokens", "kind = 'patient' AND pid = 3 AND revoked_at IS NULL") == 0)
                #expect(try await database.count("mmt_api_tokens", "kind = 'patient' AND pid = 3 AND revoked_at IS NOT NULL") >= 1)
                // Even if a patient with this pid appears again (OpenEMR's own MAX+1, a restore), the token stays dead.
                try await database.query("INSERT INTO patient_data (pid, fname, lname, pubpid, allow_patient_portal) VALUES (3, 'Re', 'Used', '3', 'YES')")
                #expect(try await client.call(.get, "/api/patients/3/", token: portal).status == .unauthorized)
                #expect(try await client.currentUser(portal).status == .unauthorized)
                try await database.query("DELETE FROM patient_data WHERE pid = 3 AND lname = 'Used'")
            }
        }

        /// The revocation, the deletes and the `mmt_deleted_patients` row land together or not at all.
        @Test func aFailedDeleteChangesNothing() async throws {
            let database = try LiveDatabase.require()
            try await database.query(
                """
                CREATE TRIGGER test_refuse_deleted BEFORE INSERT ON mmt_deleted_patients FOR EACH ROW
                IF NEW.pid = 2 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by test'; END IF
                """
            )
            do {
                try await database.withApp(Self.allowDelete) { client in
                    let portal = try await client.portalToken("patient2", "patient123")
                    let admin = try await client.token("admin", "pass")
                    let failed = try await client.call(.delete, "/api/patients/2/", token: admin)
                    #expect(failed.status == .internalServerError)
                    #expect(try await database.count("patient_data", "pid = 2") == 1)
                    #expect(try await database.count("patient_access_onsite", "pid = 2") == 1)
                    #expect(try await database.count("mmt_api_tokens", "kind = 'patient' AND pid = 2 AND revoked_at IS NOT NULL") == 0)
                    #expect(try await client.call(.get, "/api/patients/2/", token: portal).status == .ok)
                }
            } catch {
                _ = try? await database.query("DROP TRIGGER IF EXISTS test_refuse_deleted")
                throw error
            }
            try await database.query("DROP TRIGGER IF EXISTS test_refuse_deleted")
        }

        @Test func deleteIsRefusedWhileOtherOpenEMRTablesHoldRows() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp(Self.allowDelete) { client in
                let doctor = try await client.token("drsmith", "doctor123")
                let admin = try await client.token("admin", "pass")
                func create(_ name: String) async throws -> Int {
                    let created = try await client.call(.post, "/api/patients/", token: doctor, json: #"{"fname":"Has","lname":"\#(name)","sex":"Male","dob":"1955-05-05"}"#)
                    return try #require(created.json["pid"].int)
                }
                let withProblem = try await create("Problem")
                try await database.query("INSERT INTO lists (date, type, title, pid) VALUES (NOW(), 'medical_problem', 'Asthma', \(withProblem))")
                let refused = try await client.call(.delete, "/api/patients/\(withProblem)/", token: admin)
                #expect(refused.status == .conflict)
                #expect(refused.errorCode == "patient_has_records")
                #expect(hasErrorShape(refused))
                #expect(refused.json["error"]["details"]["tables"].string == "lists")
                #expect(try await database.count("patient_data", "pid = \(withProblem)") == 1)
                #expect(try await database.count("mmt_deleted_patients", "pid = \(withProblem)") == 0)

                // The calendar keys patients by text (pc_pid varchar).
                let withAppointment = try await create("Appointment")
                try await database.query("INSERT INTO openemr_postcalendar_events (pc_catid, pc_pid, pc_title) VALUES (5, \(String(withAppointment)), 'Visit')")
                try await database.query("INSERT INTO history_data (pid, date) VALUES (\(withAppointment), NOW())")
                let refusedToo = try await client.call(.delete, "/api/patients/\(withAppointment)/", token: admin)
                #expect(refusedToo.status == .conflict)
                #expect(refusedToo.json["error"]["details"]["tables"].string?.split(separator: ",").sorted() == ["history_data", "openemr_postcalendar_events"])

                // Without such rows it goes through.
                let plain = try await create("Plain")
                #expect(try await client.call(.delete, "/api/patients/\(plain)/", token: admin).status == .noContent)
            }
        }
    }
}
