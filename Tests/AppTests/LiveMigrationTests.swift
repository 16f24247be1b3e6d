import EMRTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import Testing

@testable import App
@testable import OpenEMR

extension LiveAppTests {
    /// `emr-bridge migrate`: the OpenEMR table check and the service's own versioned migrations.
    @Suite("Live: migrations", .databaseServer(.shared))
    struct Migrations {
        static let migrationNames: [String] = {
            let folder = TestEnvironment.repoRoot.appendingPathComponent("sql/migrations").path
            return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".sql") }.sorted()
        }()

        static func tables(_ client: MariaDBClient, like pattern: String) async throws -> [String] {
            try await client.query(
                "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE \(pattern) ORDER BY 1",
                logger: TestEnvironment.logger
            ).rows.map { try $0.decode("t", as: String.self) }
        }

        @Test func emptyDatabaseReportsEveryMissingTable() async throws {
            try #require(Self.migrationNames.contains("0001_api_tokens.sql"))
            try await LiveDatabase.withScratchDatabase(.empty) { client, _ in
                let report = try await LiveDatabase.migrator(client).run(checkOnly: false)
                #expect(report.missingTables == Migrator.requiredOpenEMRTables)
                #expect(report.applied.isEmpty)
                #expect(report.alreadyApplied.isEmpty)
                #expect(report.pending == Self.migrationNames)
                // Nothing was created in a database that is not OpenEMR's.
                #expect(try await Self.tables(client, like: "%").isEmpty)
            }
        }

        @Test func oneMissingTableIsNamed() async throws {
            try await LiveDatabase.withScratchDatabase(.fixture) { client, _ in
                try await client.query("DROP TABLE session_tracker", logger: TestEnvironment.logger)
                let report = try await LiveDatabase.migrator(client).run(checkOnly: false)
                #expect(report.missingTables == ["session_tracker"])
                #expect(report.applied.isEmpty)
                #expect(try await Self.tables(client, like: "mmt\\_%").isEmpty)
            }
        }

        @Test func fixtureGetsMigrationsOnceThenNothing() async throws {
            try await LiveDatabase.withScratchDatabase(.fixture) { client, _ in
                let migrator = LiveDatabase.migrator(client)
                // --check-only changes nothing and lists what is pending.
                let check = try await migrator.run(checkOnly: true)
                #expect(check.missingTables.isEmpty)
                #expect(check.pending == Self.migrationNames)
                #expect(check.applied.isEmpty)
                #expect(try await Self.tables(client, like: "mmt\\_%").isEmpty)

                let first = try await migrator.run(checkOnly: false)
                #expect(first.missingTables.isEmpty)
                #expect(first.applied == Self.migrationNames)
                #expect(first.applied.first == "0001_api_tokens.sql")
                #expect(first.alreadyApplied.isEmpty)
                let tables = try await Self.tables(client, like: "mmt\\_%")
                #expect(tables.contains("mmt_api_tokens"))
                #expect(tables.contains("mmt_schema_migrations"))

                let second = try await migrator.run(checkOnly: false)
                #expect(second.applied.isEmpty)
                #expect(second.alreadyApplied == Self.migrationNames)
                #expect(second.pending.isEmpty)
                let recorded = try await client.query(
                    "SELECT version, name, checksum FROM mmt_schema_migrations ORDER BY version", logger: TestEnvironment.logger
                ).rows
                #expect(try recorded.map { try $0.decode("name", as: String.self) } == Self.migrationNames)
                let checksum = try #require(recorded.first).decode("checksum", as: String.self)
                #expect(checksum.count == 64)

                let checkAgain = try await migrator.run(checkOnly: true)
                #expect(checkAgain.pending.isEmpty)
            }
        }

        @Test func concurrentRunsApplyEachMigrationOnce() async throws {
            try await LiveDatabase.withScratchDatabase(.fixture) { client, name in
                let configuration = try TestEnvironment.adminConfiguration(database: name)
                let reports = try await withThrowingTaskGroup(of: Migrator.Report.self) { group in
                    for _ in 0..<3 {
                        group.addTask {
                            try await TestEnvironment.withClient(configuration) { other in
                                try await LiveDatabase.migrator(other).run(checkOnly: false)
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(reports.flatMap(\.applied).sorted() == Self.migrationNames)
                #expect(
                    try await client.query("SELECT COUNT(*) AS n FROM mmt_schema_migrations", logger: TestEnvironment.logger).first?.decode(
                        "n", as: Int.self) == Self.migrationNames.count
                )
            }
        }

        /// OpenEMR 8.2's real install schema (scripts/test.sh loads ../shared/openemr/database.sql into
        /// `EMR_TEST_REAL_SCHEMA_DB`): every required table is there, the migrations apply, and the sign-in queries run
        /// against its real column types. Everything added is removed again.
        @Test func realOpenEMRSchemaPassesTheCheck() async throws {
            guard let realDatabase = TestEnvironment.realSchemaDatabase else {
                if TestEnvironment.isRequired && FileManager.default.fileExists(atPath: TestEnvironment.realSchemaSQLFile.path) {
                    Issue.record(
                        "\(TestEnvironment.realSchemaSQLFile.path) exists but EMR_TEST_REAL_SCHEMA_DB is not set (scripts/test.sh sets it)"
                    )
                }
                return
            }
            try await TestEnvironment.withClient(try TestEnvironment.adminConfiguration(database: realDatabase)) { client in
                let preexisting = try await Self.tables(client, like: "mmt\\_%")
                let maxLogID = try await client.query("SELECT COALESCE(MAX(id), 0) AS n FROM log", logger: TestEnvironment.logger).first?
                    .decode("n", as: Int.self) ?? 0
                let migrator = LiveDatabase.migrator(client)
                do {
                    let report = try await migrator.run(checkOnly: false)
                    #expect(report.missingTables.isEmpty, "OpenEMR 8.2 lacks \(report.missingTables)")
                    #expect(Set(report.applied + report.alreadyApplied) == Set(Self.migrationNames))
                    #expect(try await migrator.run(checkOnly: false).applied.isEmpty)
                    #expect(try await Self.tables(client, like: "mmt\\_%").contains("mmt_api_tokens"))

                    // The service runs against it: health, and a refused login writes ip_tracking and audit rows.
                    let settings = try TestEnvironment.requireConfigured()
                    let configuration = try AppConfiguration.fromEnvironment([
                        "DB_HOST": settings.host, "DB_PORT": String(settings.port), "DB_USER": settings.user, "DB_PASSWORD": settings.password,
                        "DB_NAME": realDatabase, "DB_SSL_MODE": "DISABLED", "BRIDGE_DEMO": "1", "LOG_LEVEL": "critical",
                    ])
                    let app = try await buildApplication(configuration: configuration, logger: TestEnvironment.logger)
                    try await app.test(.router) { http async throws in
                        #expect(try await http.send(.get, "/api/health/").status == .ok)
                        let response = try await http.login("no-such-user-\(UUID().uuidString.prefix(8))", "whatever")
                        #expect(response.status == .unauthorized, "\(response.text)")
                        #expect(response.errorCode == "invalid_credentials")
                        let bridge = try await http.send(.post, "/api/auth/openemr-session/", headers: [.cookie: "OpenEMR=abcdefghijklmnopqrstuvwxyz"])
                        #expect(bridge.status == .serviceUnavailable)
                    }
                    #expect(
                        try await client.query("SELECT COUNT(*) AS n FROM log WHERE id > \(maxLogID)", logger: TestEnvironment.logger).first?
                            .decode("n", as: Int.self) == 1
                    )
                } catch {
                    try? await Self.restoreRealSchema(client, preexisting: preexisting, maxLogID: maxLogID)
                    throw error
                }
                try await Self.restoreRealSchema(client, preexisting: preexisting, maxLogID: maxLogID)
            }
        }

        static func restoreRealSchema(_ client: MariaDBClient, preexisting: [String], maxLogID: Int) async throws {
            let logger = TestEnvironment.logger
            try await client.query("DELETE FROM log_comment_encrypt WHERE log_id > \(maxLogID)", logger: logger)
            try await client.query("DELETE FROM log WHERE id > \(maxLogID)", logger: logger)
            try await client.query("DELETE FROM ip_tracking WHERE ip_string = 'unknown'", logger: logger)
            // Tables that refer to each other (transcription segments) go together, whatever their order.
            let added = try await tables(client, like: "mmt\\_%").filter { !preexisting.contains($0) }
            if !added.isEmpty {
                try await client.withConnection(logger: logger) { connection in
                    try await connection.query("SET SESSION foreign_key_checks = 0")
                    try await connection.query("DROP TABLE IF EXISTS \(unescaped: added.map { "`\($0)`" }.joined(separator: ", "))")
                    try await connection.query("SET SESSION foreign_key_checks = 1")
                }
            }
        }
    }
}
