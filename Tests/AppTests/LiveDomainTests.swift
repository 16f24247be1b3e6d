import Foundation
import Logging
import MariaDB
import NIOPosix
@testable import OpenEMR
import PasswordCrypt
import Testing

extension LiveAppTests {
    /// Issue 14: the OpenEMR domain works on its own, as the command line and the batch import use it: these tests
    /// import `OpenEMR` (not the HTTP target), build no router and no server, and call the domain operations on the
    /// real MariaDB.
    @Suite("Live: OpenEMR domain without HTTP", .liveDatabase())
    struct Domain {
        /// The domain's collaborators on the suite's database, as `AppServices` wires them.
        struct Services {
            let globals: OpenEMRGlobalsCache
            let audit: AuditLogger
            let tokens: TokenStore
            let login: LoginService
            let patients: PatientRepository
            let encounters: EncounterRepository
        }

        static func withServices(_ body: (Services) async throws -> Void) async throws {
            let database = try LiveDatabase.require()
            let pool = NIOThreadPool(numberOfThreads: 2)
            pool.start()
            let globals = OpenEMRGlobalsCache(database: database.client)
            let audit = AuditLogger(database: database.client, globals: globals, logger: database.logger)
            let tokens = TokenStore(database: database.client, ttlSeconds: 600)
            let services = Services(
                globals: globals, audit: audit, tokens: tokens,
                login: LoginService(database: database.client, verifier: PasswordVerifier(threadPool: pool), globals: globals, tokens: tokens, audit: audit),
                patients: PatientRepository(database: database.client, audit: audit),
                encounters: EncounterRepository(database: database.client, audit: audit)
            )
            do {
                try await body(services)
            } catch {
                try? await pool.shutdownGracefully()
                throw error
            }
            try await pool.shutdownGracefully()
        }

        static let provider = Identity(
            role: .provider, userID: 2, username: "drsmith", groupName: "Default", pid: nil, fname: "Emily", lname: "Smith", facilityID: 1, tokenHash: []
        )

        static func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(type, from: Data(json.utf8))
        }

        /// `EncounterRepository.readIDs` reads the ids of the rows of several inserts back in row order, also with an
        /// `auto_increment_increment` of 2 (as on Galera).
        @Test(arguments: [1, 2]) func insertedEncounterIDsAreReadBackInRowOrder(step: Int) async throws {
            let database = try LiveDatabase.require()
            try await database.client.withConnection(logger: database.logger) { connection in
                try await connection.query("SET SESSION auto_increment_increment = \(step)")
                do {
                    try await connection.withTransaction { connection in
                        let base = 900_000_000 + Int.random(in: 0..<1_000_000) * 10
                        var statements: [MariaDBQuery] = []
                        for (start, size) in [(0, 3), (3, 1), (4, 2)] {
                            var insert: MariaDBQuery = "INSERT INTO form_encounter (uuid, date, pid, encounter) VALUES "
                            for index in start..<(start + size) {
                                insert.append("\(unescaped: index == start ? "" : ", ")(\(OpenEMRUUID.make()), NOW(), 1, \(base + index))")
                            }
                            statements.append(insert)
                        }
                        let inserted = try await connection.queries(statements)
                        let read = try await EncounterRepository.readIDs(
                            count: 6, numbers: base...(base + 5), firstID: inserted.map { Int($0.lastInsertID) }.min() ?? 0, on: connection
                        )
                        let stored = try await connection.query(
                            "SELECT id FROM form_encounter WHERE encounter BETWEEN \(base) AND \(base + 5) ORDER BY encounter"
                        ).rows.map { try $0.decode("id", as: Int.self) }
                        #expect(read == stored)
                        #expect(read.count == 6 && Set(read).count == 6)
                        if step > 1 { #expect(zip(read, read.dropFirst()).allSatisfy { $1 - $0 == step }) }
                        try await connection.query("DELETE FROM form_encounter WHERE encounter BETWEEN \(base) AND \(base + 5)")
                    }
                } catch {
                    _ = try? await connection.query("SET SESSION auto_increment_increment = DEFAULT")
                    throw error
                }
                try await connection.query("SET SESSION auto_increment_increment = DEFAULT")
            }
        }

        @Test func createAPatientAndAnEncounter() async throws {
            let database = try LiveDatabase.require()
            try await Self.withServices { services in
                let input = try Self.decode(PatientInput.self, #"{"fname":"Ada","lname":"Domain","dob":"1970-01-02","sex":"Female"}"#)
                let patient = try await services.patients.create(input, by: Self.provider, logger: database.logger)
                #expect(patient.fname == "Ada" && patient.lname == "Domain" && patient.dob == "1970-01-02")
                #expect(patient.pubpid == String(patient.pid))
                #expect(try await database.int("SELECT created_by AS v FROM patient_data WHERE pid = \(patient.pid)") == 2)

                // The domain's own rules, without any HTTP layer: validation and permissions.
                let missing = try Self.decode(PatientInput.self, #"{"fname":"NoLastName"}"#)
                let invalid = await #expect(throws: OpenEMRError.self) { try await services.patients.create(missing, by: Self.provider, logger: database.logger) }
                #expect(invalid?.kind == .invalid && invalid?.details["lname"] != nil)
                var staff = Self.provider
                staff.role = .staff
                let forbidden = await #expect(throws: OpenEMRError.self) { try await services.patients.create(input, by: staff, logger: database.logger) }
                #expect(forbidden?.kind == .forbidden)

                let new = try Self.decode(EncounterInput.self, #"{"pid":\#(patient.pid),"reason":"Domain visit","date":"2026-12-01 09:30:00"}"#).validated()
                let encounter = try await services.encounters.create(new, by: Self.provider, logger: database.logger)
                #expect(encounter.pid == patient.pid)
                // As OpenEMR writes one: the form_encounter row and the `forms` row pointing at it, numbered from `sequences`.
                #expect(try await database.int("SELECT COUNT(*) AS v FROM form_encounter WHERE encounter = \(encounter.encounter) AND pid = \(patient.pid)") == 1)
                #expect(
                    try await database.int(
                        "SELECT COUNT(*) AS v FROM forms f JOIN form_encounter e ON e.id = f.form_id WHERE f.formdir = 'newpatient' AND f.encounter = \(encounter.encounter)"
                    ) == 1
                )
                #expect(try await database.int("SELECT id AS v FROM sequences") ?? 0 >= encounter.encounter)
                // Both writes were audited in OpenEMR's log.
                #expect(try await database.int("SELECT COUNT(*) AS v FROM log WHERE patient_id = \(patient.pid) AND success = 1") == 2)
            }
        }

        @Test func signInWithLockout() async throws {
            let database = try LiveDatabase.require()
            try await database.setGlobal("password_max_failed_logins", "2")
            try await Self.withServices { services in
                for _ in 0..<2 {
                    let wrong = await #expect(throws: OpenEMRError.self) {
                        try await services.login.loginCoreUser(username: "drjones", password: "wrong", clientIP: "192.0.2.10", logger: database.logger)
                    }
                    #expect(wrong == LoginService.invalidCredentials)
                }
                // Locked: the right password gets the same answer as a wrong one.
                let locked = await #expect(throws: OpenEMRError.self) {
                    try await services.login.loginCoreUser(username: "drjones", password: "doctor123", clientIP: "192.0.2.10", logger: database.logger)
                }
                #expect(locked == LoginService.invalidCredentials)
                #expect(try await database.int("SELECT login_fail_counter AS v FROM users_secure WHERE username = 'drjones'") == 3)

                // Once the window has passed, the right password signs in and the token resolves to the user.
                try await database.query("UPDATE users_secure SET last_login_fail = NOW() - INTERVAL 2 HOUR WHERE username = 'drjones'")
                let success = try await services.login.loginCoreUser(
                    username: "drjones", password: "doctor123", clientIP: "192.0.2.10", logger: database.logger
                )
                #expect(success.identity.role == .provider && success.identity.userID == 3)
                let resolved = try await services.tokens.identity(forToken: success.issued.token, logger: database.logger)
                #expect(resolved?.username == "drjones")
                #expect(try await database.int("SELECT login_fail_counter AS v FROM users_secure WHERE username = 'drjones'") == 0)
            }
            try await database.setGlobal("password_max_failed_logins", nil)
        }
    }
}
