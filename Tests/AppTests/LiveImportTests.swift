import EMRTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import App
@testable import OpenEMR

extension LiveAppTests {
    /// Issue 17: the batch import of encounters, through the real `emr-bridge import-encounters` process, the domain
    /// importer and the endpoint, on the real MariaDB (demo data) and on OpenEMR 8.2's real schema.
    @Suite("Live: encounter import", .liveDatabase())
    struct Import {
        static let admin = Identity(
            role: .admin, userID: 1, username: "admin", groupName: "Default", pid: nil, fname: "Administrator", lname: "Administrator", facilityID: 1,
            tokenHash: []
        )

        // MARK: Helpers

        struct Run: Sendable {
            var status: Int32
            var stderr: String
        }

        static var binary: String { TestEnvironment.bridgeBinary }

        static func temporaryFile(_ contents: String, suffix: String = ".csv") throws -> String {
            let path = NSTemporaryDirectory() + "/import-\(UUID().uuidString)\(suffix)"
            try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }

        /// Runs `emr-bridge import-encounters …` against the suite's database; returns the exit status and stderr.
        static func cli(_ arguments: [String], stdin: Data? = nil) async throws -> Run {
            let environment = try LiveDatabase.require().environment(["LOG_LEVEL": "error"])
            let output = try await TestEnvironment.execute(binary, ["import-encounters"] + arguments, environment: environment, stdin: stdin)
            return Run(status: output.status, stderr: output.stderr)
        }

        static func reportLines(_ path: String) throws -> [[String: Any]] {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            return try text.split(separator: "\n").map { line in
                try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            }
        }

        static func count(_ sql: MariaDBQuery) async throws -> Int {
            try await LiveDatabase.require().int(sql) ?? -1
        }

        /// Rows in every table an import writes (or must not write).
        static func footprint() async throws -> [Int] {
            [
                try await count("SELECT COUNT(*) AS v FROM form_encounter"), try await count("SELECT COUNT(*) AS v FROM forms"),
                try await count("SELECT COUNT(*) AS v FROM uuid_registry"), try await count("SELECT COUNT(*) AS v FROM mmt_encounter_imports"),
                try await count("SELECT COUNT(*) AS v FROM log"), try await count("SELECT id AS v FROM sequences"),
            ]
        }

        /// The domain importer (no process, no HTTP).
        static func importer(
            _ text: String, format: ImportFormat = .csv, source: String, jobs: Int = 1, batchSize: Int = 100, dryRun: Bool = false, strict: Bool = false,
            as identity: Identity = admin
        ) async throws -> (EncounterImportSummary, [ImportRejection]) {
            let database = try LiveDatabase.require()
            let path = try temporaryFile(text)
            defer { try? FileManager.default.removeItem(atPath: path) }
            // A client of its own, with a connection per writer and some to spare (the suite's has two).
            var configuration = try TestEnvironment.adminConfiguration(database: database.name)
            configuration.options.maximumConnections = jobs + 2
            return try await TestEnvironment.withClient(configuration) { client in
                let logger = database.logger
                let globals = OpenEMRGlobalsCache(database: client)
                let audit = AuditLogger(database: client, globals: globals, logger: logger)
                let store = ImportRunStore(database: client)
                let runID =
                    dryRun
                    ? 0
                    : try await store.create(
                        source: source, format: format, origin: "cli", dryRun: false, strict: strict, createdBy: identity.username, bytesTotal: nil,
                        running: true, logger: logger
                    )
                let collected = RejectionBox()
                let summary = try await EncounterImporter(database: client, audit: audit, logger: logger).run(
                    open: { try ByteSource(path: path) },
                    options: EncounterImportOptions(source: source, format: format, batchSize: batchSize, jobs: jobs, dryRun: dryRun, strict: strict),
                    identity: identity, runID: runID, progress: ImportProgress(), report: { collected.append($0) }
                )
                return (summary, collected.all.sorted { $0.line < $1.line })
            }
        }

        final class RejectionBox: @unchecked Sendable {
            private let lock = NSLock()
            private var items: [ImportRejection] = []
            func append(_ more: [ImportRejection]) { lock.withLock { items += more } }
            var all: [ImportRejection] { lock.withLock { items } }
        }

        /// `count` valid rows for demo patients 1…200, drsmith/drjones, both facilities.
        static func rows(_ count: Int, prefix: String, reason: String = "Imported visit") -> String {
            var text = "external_id,pid,date,reason,provider_username,facility_id,pc_catid,class_code\n"
            for index in 0..<count {
                let day = index % 28 + 1
                let hour = 8 + index % 9
                text += "\(prefix)\(index),\(index % 200 + 1),2025-02-\(day < 10 ? "0" : "")\(day) \(hour < 10 ? "0" : "")\(hour):15:00,\(reason) \(index),"
                text += "\(index % 2 == 0 ? "drsmith" : "drjones"),\(index % 3 == 0 ? 2 : 1),\(index % 5 == 0 ? 9 : 5),AMB\n"
            }
            return text
        }

        // MARK: Tests

        /// Every kind of bad row round-trips to the right report line and exit status 1; the valid rows import; a
        /// second run creates nothing.
        @Test func badRowsAreReportedAndTheRestImports() async throws {
            let database = try LiveDatabase.require()
            let csv = #"""
                external_id,pid,pubpid,date,reason,provider_username,facility,provider_id,mystery
                OK-1,1,,2025-01-10 09:00:00,"Fever, cough",drsmith,,,x
                OK-2,,2,2025-01-11,"Follow-up
                after ""surgery""",drjones,Lakeview Community Clinic,,y
                BAD-PATIENT,99999,,2025-01-12,Unknown patient,drsmith,,,
                BAD-PROVIDER,3,,2025-01-12,,nobody,,,
                BAD-INACTIVE,3,,2025-01-12,,drformer,,,
                BAD-FACILITY,4,,2025-01-12,,drsmith,No Such Clinic,,
                BAD-DATE,5,,2025-02-30,,drsmith,,,
                ,6,,2025-01-12,No external id,drsmith,,,
                OK-1,7,,2025-01-13,Duplicate id,drsmith,,,
                BROKEN,8,,2025-01-12,bad "quote,drsmith,,,
                OK-3,9,,2025-01-14T10:30:00,Third,,,3,

                """#
            let file = try Self.temporaryFile(csv)
            let report = file + ".report"
            defer {
                try? FileManager.default.removeItem(atPath: file)
                try? FileManager.default.removeItem(atPath: report)
            }
            let before = try await Self.count("SELECT COUNT(*) AS v FROM form_encounter")
            let first = try await Self.cli([file, "--source", "bad-rows", "--report", report, "--quiet", "--user", "admin"])
            #expect(first.status == 1, "\(first.stderr)")
            #expect(first.stderr.contains("imported: 3") && first.stderr.contains("rejected: 8"), "\(first.stderr)")
            #expect(first.stderr.contains("unknown columns ignored: mystery"))
            let lines = try Self.reportLines(report)
            var byLine: [Int: [String: Any]] = [:]
            for line in lines { byLine[line["line"] as? Int ?? 0] = line }
            func check(_ line: Int, _ field: String?, _ reason: String) {
                let entry = byLine[line]
                #expect(entry != nil, "no report line for line \(line)")
                #expect(entry?["field"] as? String == field, "line \(line): \(entry ?? [:])")
                #expect((entry?["reason"] as? String)?.contains(reason) == true, "line \(line): \(entry ?? [:])")
                #expect(entry?["status"] as? String == "rejected")
            }
            check(5, "pid", "Unknown patient")
            check(6, "provider_username", "Unknown or inactive provider")
            check(7, "provider_username", "Unknown or inactive provider")
            check(8, "facility", "Unknown facility")
            check(9, "date", "wrong format")
            check(10, "external_id", "Missing external_id")
            check(11, "external_id", "Duplicate external_id (first on line 2)")
            check(12, "reason", "double quote inside an unquoted field")
            #expect(lines.count == 8)
            #expect(try await Self.count("SELECT COUNT(*) AS v FROM form_encounter") == before + 3)
            // The multi-line quoted reason, the pubpid and the facility by name arrived intact.
            let ok2 = try #require(try await database.query("SELECT encounter FROM mmt_encounter_imports WHERE source = 'bad-rows' AND external_id = 'OK-2'").first)
            let encounter = try ok2.decode("encounter", as: Int.self)
            let row = try #require(try await database.query("SELECT * FROM form_encounter WHERE encounter = \(encounter)").first)
            #expect(try row.decode("reason", as: String.self) == "Follow-up\nafter \"surgery\"")
            #expect(try row.decode("pid", as: Int.self) == 2)
            #expect(try row.decode("facility_id", as: Int.self) == 2 && row.decode("facility", as: String.self) == "Lakeview Community Clinic")
            #expect(try row.decode("provider_id", as: Int.self) == 3)
            #expect(try row.decode("external_id", as: String?.self) == "OK-2")

            // Again: nothing new; the valid rows are already imported, the bad ones still reported.
            let second = try await Self.cli([file, "--source", "bad-rows", "--quiet", "--user", "admin"])
            #expect(second.status == 1)
            #expect(second.stderr.contains("imported: 0") && second.stderr.contains("already imported: 3"), "\(second.stderr)")
            #expect(try await Self.count("SELECT COUNT(*) AS v FROM form_encounter") == before + 3)

            // Exit status 2: nothing could run.
            #expect(try await Self.cli(["/no/such/file.csv", "--source", "x"]).status == 2)
            #expect(try await Self.cli([file]).status == 2)  // no --source
            let noHeader = try Self.temporaryFile("pid,reason\n1,x\n")
            defer { try? FileManager.default.removeItem(atPath: noHeader) }
            let header = try await Self.cli([noHeader, "--source", "x"])
            #expect(header.status == 2 && header.stderr.contains("external_id"), "\(header.stderr)")
            let help = try await TestEnvironment.run(Self.binary, ["import-encounters", "--help"])
            #expect(String(decoding: help, as: UTF8.self).contains("Exit status"))
        }

        /// The same rows again create nothing; changed content is a conflict, reported and not changed; `--strict`
        /// imports nothing when a row is bad; `--dry-run` writes nothing.
        @Test func idempotentConflictsStrictAndDryRun() async throws {
            let database = try LiveDatabase.require()
            let csv = Self.rows(250, prefix: "IDEM-")
            let before = try await Self.footprint()
            let (dry, dryRejections) = try await Self.importer(csv, source: "idem", dryRun: true)
            #expect(dry.counts.imported == 250 && dryRejections.isEmpty)
            #expect(try await Self.footprint() == before, "a dry run wrote something")

            let audited = try await Self.count("SELECT COUNT(*) AS v FROM log WHERE event = 'patient-record-insert' AND category = 'Encounter Form'")
            let (first, _) = try await Self.importer(csv, source: "idem", batchSize: 64)
            #expect(first.counts.imported == 250 && first.exitStatus == 0)
            let (again, _) = try await Self.importer(csv, source: "idem", batchSize: 64)
            #expect(again.counts.imported == 0 && again.counts.alreadyImported == 250 && again.exitStatus == 0)
            #expect(try await Self.count("SELECT COUNT(*) AS v FROM mmt_encounter_imports WHERE source = 'idem'") == 250)
            // One audit entry per batch: 250 rows in batches of 64 → 4 entries, checksummed like OpenEMR's.
            #expect(try await Self.count("SELECT COUNT(*) AS v FROM log WHERE event = 'patient-record-insert' AND category = 'Encounter Form'") == audited + 4)

            // Changed content for two ids: conflicts, not changed.
            var changed = csv.replacingOccurrences(of: "IDEM-7,8,", with: "IDEM-7,9,")
            changed = changed.replacingOccurrences(of: "Imported visit 11,", with: "Changed visit 11,")
            let encounterOf7 = try await Self.count("SELECT encounter AS v FROM mmt_encounter_imports WHERE source = 'idem' AND external_id = 'IDEM-7'")
            let (conflicts, reported) = try await Self.importer(changed, source: "idem")
            #expect(conflicts.counts.conflicts == 2 && conflicts.counts.alreadyImported == 248 && conflicts.exitStatus == 1)
            #expect(reported.map(\.status) == [.conflict, .conflict])
            #expect(reported.first?.reason.contains("encounter \(encounterOf7)") == true)
            #expect(try await Self.count("SELECT pid AS v FROM form_encounter WHERE encounter = \(encounterOf7)") == 8)

            // Strict: one bad row → nothing imported; the report still names it.
            let strictCSV = Self.rows(30, prefix: "STRICT-") + "STRICT-X,424242,2025-01-01,,drsmith,1,5,AMB\n"
            let footprint = try await Self.footprint()
            let (strict, strictRejections) = try await Self.importer(strictCSV, source: "strict", strict: true)
            #expect(strict.strictAborted && strict.exitStatus == 1 && strict.counts.rejected == 1)
            #expect(strictRejections.first?.line == 32 && strictRejections.first?.field == "pid")
            #expect(try await Self.footprint() == footprint, "strict imported something")
            let (strictOK, _) = try await Self.importer(Self.rows(30, prefix: "STRICT-"), source: "strict", strict: true)
            #expect(!strictOK.strictAborted && strictOK.counts.imported == 30)
            _ = database
        }

        /// `--jobs 4` writes the same rows as `--jobs 1`: no duplicates, distinct encounter numbers, the same content.
        @Test func parallelWritersGiveTheSameRows() async throws {
            let database = try LiveDatabase.require()
            let csv = Self.rows(1200, prefix: "PAR-")
            let (one, _) = try await Self.importer(csv, source: "jobs-1", jobs: 1, batchSize: 100)
            let (four, _) = try await Self.importer(csv, source: "jobs-4", jobs: 4, batchSize: 100)
            #expect(one.counts.imported == 1200 && four.counts.imported == 1200)
            let content = """
                SELECT m.external_id, e.pid, e.date, e.reason, e.provider_id, e.facility_id, e.facility, e.pc_catid, e.class_code, e.pos_code,
                       e.sensitivity, e.billing_facility, f.user, f.form_name, f.formdir, f.deleted, f.authorized
                FROM mmt_encounter_imports m JOIN form_encounter e ON e.pid = m.pid AND e.encounter = m.encounter
                JOIN forms f ON f.form_id = e.id AND f.formdir = 'newpatient'
                WHERE m.source = 
                """
            func rows(_ source: String) async throws -> [String] {
                try await database.query(MariaDBQuery(unsafeSQL: content + "'\(source)' ORDER BY m.external_id")).rows.map { row in
                    row.values.map { "\($0)" }.joined(separator: "|")
                }
            }
            let a = try await rows("jobs-1"), b = try await rows("jobs-4")
            #expect(a.count == 1200 && a == b)
            #expect(try await Self.count("SELECT COUNT(DISTINCT encounter) AS v FROM mmt_encounter_imports WHERE source IN ('jobs-1','jobs-4')") == 2400)
            #expect(
                try await Self.count(
                    "SELECT COUNT(*) AS v FROM (SELECT encounter FROM form_encounter GROUP BY encounter HAVING COUNT(*) > 1) d"
                ) == 0
            )
            // Every imported encounter has exactly one uuid registration and one forms row.
            #expect(
                try await Self.count(
                    """
                    SELECT COUNT(*) AS v FROM mmt_encounter_imports m JOIN form_encounter e ON e.pid = m.pid AND e.encounter = m.encounter
                    JOIN uuid_registry u ON u.uuid = e.uuid AND u.table_name = 'form_encounter' WHERE m.source = 'jobs-4'
                    """
                ) == 1200
            )
        }

        /// OpenEMR's own single `sequences` use during an import never collides with the import's blocks, and
        /// OpenEMR's next encounter number after the import is above every imported one.
        @Test func sequencesStayConsistentWithOpenEMRsOwnUse() async throws {
            let database = try LiveDatabase.require()
            let csv = Self.rows(2000, prefix: "SEQ-")
            async let imported = Self.importer(csv, source: "seq", jobs: 2, batchSize: 100)
            // OpenEMR's GenID on its own connections, 100 times, each number used for an encounter row.
            var taken: [Int] = []
            for _ in 0..<100 {
                let number = try await database.client.withConnection(logger: database.logger) { connection in
                    try await connection.query("UPDATE sequences SET id = LAST_INSERT_ID(id + 1)")
                    return try await connection.query("SELECT LAST_INSERT_ID() AS v").first?.decode("v", as: Int.self) ?? -1
                }
                taken.append(number)
            }
            let (summary, _) = try await imported
            #expect(summary.counts.imported == 2000)
            let importedNumbers = Set(
                try await database.query("SELECT encounter FROM mmt_encounter_imports WHERE source = 'seq'").rows.map { try $0.decode("encounter", as: Int.self) }
            )
            #expect(importedNumbers.count == 2000)
            #expect(importedNumbers.isDisjoint(with: taken))
            #expect(Set(taken).count == 100)
            let next = try await database.client.withConnection(logger: database.logger) { connection in
                try await connection.query("UPDATE sequences SET id = LAST_INSERT_ID(id + 1)")
                return try await connection.query("SELECT LAST_INSERT_ID() AS v").first?.decode("v", as: Int.self) ?? -1
            }
            #expect(next > importedNumbers.max() ?? 0 && next > taken.max() ?? 0)
        }

        /// A run killed with SIGKILL mid-file, then run again, ends with exactly one encounter per row.
        @Test func killedRunResumesWithExactlyOneEncounterPerRow() async throws {
            let database = try LiveDatabase.require()
            let total = 30_000
            let file = try Self.temporaryFile(Self.rows(total, prefix: "KILL-"))
            defer { try? FileManager.default.removeItem(atPath: file) }
            var environment = try database.environment()
            environment["LOG_LEVEL"] = "error"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.binary)
            process.arguments = ["import-encounters", file, "--source", "kill", "--batch-size", "200", "--jobs", "2", "--quiet", "--user", "drsmith"]
            process.environment = environment
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // Wait until some batches are in, then SIGKILL.
            var partial = 0
            for _ in 0..<600 {
                partial = try await Self.count("SELECT COUNT(*) AS v FROM mmt_encounter_imports WHERE source = 'kill'")
                if partial >= 1000 || !process.isRunning { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "the import finished before it could be killed")
            // The killed run's row still says `running`; once its last progress report is older than the limit, every
            // reader sees it as failed (the clock is moved by ageing the row, not by waiting a minute).
            let store = ImportRunStore(database: database.client)
            let runID = try #require(try await database.int("SELECT MAX(id) AS v FROM mmt_import_runs WHERE source = 'kill'"))
            let fresh = try #require(try await store.find(runID, logger: database.logger))
            #expect(fresh.state == .running && fresh.error == nil)
            try await database.client.query(
                "UPDATE mmt_import_runs SET updated_at = UTC_TIMESTAMP() - INTERVAL \(ImportRun.staleAfterSeconds + 5) SECOND WHERE id = \(runID)",
                logger: database.logger
            )
            let dead = try #require(try await store.find(runID, logger: database.logger))
            #expect(dead.state == .failed && dead.error?.hasPrefix("stopped:") == true, "\(dead)")
            let listed = try await store.list(page: PageRequest(page: 1, size: 100), logger: database.logger).items.first { $0.id == runID }
            #expect(listed?.state == .failed)
            let atKill = try await Self.count("SELECT COUNT(*) AS v FROM mmt_encounter_imports WHERE source = 'kill'")
            #expect(atKill > 0 && atKill < total, "killed after \(atKill) rows")
            // Every mapped row has its encounter (the mapping row is in the encounter's transaction).
            #expect(
                try await Self.count(
                    "SELECT COUNT(*) AS v FROM mmt_encounter_imports m LEFT JOIN form_encounter e ON e.pid = m.pid AND e.encounter = m.encounter WHERE m.source = 'kill' AND e.id IS NULL"
                ) == 0
            )
            let rerun = try await Self.cli([file, "--source", "kill", "--batch-size", "500", "--quiet", "--user", "drsmith"])
            #expect(rerun.status == 0, "\(rerun.stderr)")
            #expect(rerun.stderr.contains("already imported: \(atKill)"), "\(rerun.stderr)")
            #expect(try await Self.count("SELECT COUNT(*) AS v FROM mmt_encounter_imports WHERE source = 'kill'") == total)
            #expect(
                try await Self.count(
                    "SELECT COUNT(*) AS v FROM form_encounter e JOIN mmt_encounter_imports m ON m.pid = e.pid AND m.encounter = e.encounter WHERE m.source = 'kill'"
                ) == total
            )
            #expect(
                try await Self.count(
                    """
                    SELECT COUNT(*) AS v FROM forms f JOIN mmt_encounter_imports m ON m.pid = f.pid AND m.encounter = f.encounter
                    WHERE m.source = 'kill' AND f.formdir = 'newpatient'
                    """
                ) == total
            )
            #expect(try await Self.count("SELECT COUNT(DISTINCT reason) AS v FROM form_encounter WHERE reason LIKE 'Imported visit %'") >= total)
        }

        /// On OpenEMR 8.2's real install schema: an imported encounter has the same shape as one made through the API
        /// (`form_encounter`, `forms`, `uuid_registry`, audit), column for column, apart from ids, uuids and numbers.
        @Test func importedEncountersLookLikeAPIOnesOnTheRealSchema() async throws {
            guard let real = TestEnvironment.realSchemaDatabase else { return }
            try await LiveDatabase.withScratchDatabase(.empty) { client, name in
                let logger = TestEnvironment.logger
                for table in Migrator.requiredOpenEMRTables {
                    try await client.query("CREATE TABLE `\(unescaped: table)` LIKE `\(unescaped: real)`.`\(unescaped: table)`", logger: logger)
                    try await client.query("INSERT INTO `\(unescaped: table)` SELECT * FROM `\(unescaped: real)`.`\(unescaped: table)`", logger: logger)
                }
                let report = try await LiveDatabase.migrator(client).run(checkOnly: false)
                #expect(report.missingTables.isEmpty)
                try await client.query("INSERT INTO users (id, uuid, username, fname, lname, authorized, active, facility_id) VALUES (7, UNHEX(REPLACE(UUID(),'-','')), 'drshape', 'Shape', 'Doc', 1, 1, 3)", logger: logger)
                try await client.query("INSERT INTO patient_data (pid, pubpid, uuid, fname, lname, DOB, sex) VALUES (41, 'MRN-41', UNHEX(REPLACE(UUID(),'-','')), 'Ada', 'Shape', '1970-01-01', 'Female')", logger: logger)
                let identity = Identity(role: .provider, userID: 7, username: "drshape", groupName: "Default", pid: nil, fname: "Shape", lname: "Doc", facilityID: 3, tokenHash: [])
                let globals = OpenEMRGlobalsCache(database: client)
                let audit = AuditLogger(database: client, globals: globals, logger: logger)
                // Through the API's domain call.
                let input = try JSONCoding.decoder.decode(EncounterInput.self, from: Data(#"{"pid":41,"date":"2025-05-06 07:08:09","reason":"Shape"}"#.utf8))
                let api = try await EncounterRepository(database: client, audit: audit).create(try input.validated(), by: identity, logger: logger)
                // Through the import (pubpid, defaults for facility, provider, category and class).
                let path = try Self.temporaryFile("external_id,pubpid,date,reason\nSHAPE-IMPORT-LONGER-THAN-TWENTY,MRN-41,2025-05-06 07:08:09,Shape\n")
                defer { try? FileManager.default.removeItem(atPath: path) }
                let runID = try await ImportRunStore(database: client).create(
                    source: "shape", format: .csv, origin: "cli", dryRun: false, strict: false, createdBy: "drshape", bytesTotal: nil, running: true, logger: logger
                )
                let summary = try await EncounterImporter(database: client, audit: audit, logger: logger).run(
                    open: { try ByteSource(path: path) }, options: EncounterImportOptions(source: "shape", format: .csv), identity: identity, runID: runID,
                    progress: ImportProgress(), report: { _ in }
                )
                #expect(summary.counts.imported == 1)
                let imported = try #require(try await client.query("SELECT encounter FROM mmt_encounter_imports WHERE source = 'shape'", logger: logger).first?.decode("encounter", as: Int.self))
                func row(_ sql: MariaDBQuery, skipping: Set<String>) async throws -> [String: String] {
                    let row = try #require(try await client.query(sql, logger: logger).first)
                    var values: [String: String] = [:]
                    for (index, column) in row.columns.names.enumerated() where !skipping.contains(column) { values[column] = "\(row.values[index])" }
                    return values
                }
                let skip: Set<String> = ["id", "uuid", "encounter", "last_update", "form_id", "created"]
                let apiEncounter = try await row("SELECT * FROM form_encounter WHERE encounter = \(api.encounter)", skipping: skip)
                let importEncounter = try await row("SELECT * FROM form_encounter WHERE encounter = \(imported)", skipping: skip)
                #expect(apiEncounter == importEncounter)
                #expect(importEncounter["facility_id"] == "\(MariaDBValue.int(3))" && importEncounter["provider_id"] == "\(MariaDBValue.int(7))")
                #expect(
                    try await row("SELECT * FROM forms WHERE encounter = \(api.encounter)", skipping: skip)
                        == (try await row("SELECT * FROM forms WHERE encounter = \(imported)", skipping: skip))
                )
                let registry = "SELECT r.* FROM uuid_registry r JOIN form_encounter e ON e.uuid = r.uuid WHERE e.encounter = "
                #expect(
                    try await row(MariaDBQuery(unsafeSQL: registry + "\(api.encounter)"), skipping: skip)
                        == (try await row(MariaDBQuery(unsafeSQL: registry + "\(imported)"), skipping: skip))
                )
                // forms.form_id points at form_encounter.id, and both writes are in OpenEMR's log with a checksum.
                #expect(
                    try await client.query(
                        "SELECT COUNT(*) AS n FROM forms f JOIN form_encounter e ON e.id = f.form_id AND e.encounter = f.encounter WHERE f.encounter IN (\(api.encounter), \(imported))",
                        logger: logger
                    ).first?.decode("n", as: Int.self) == 2
                )
                #expect(
                    try await client.query(
                        "SELECT COUNT(*) AS n FROM log l JOIN log_comment_encrypt c ON c.log_id = l.id WHERE l.event = 'patient-record-insert' AND l.category = 'Encounter Form' AND LENGTH(c.checksum) = 128",
                        logger: logger
                    ).first?.decode("n", as: Int.self) == 2
                )
                // OpenEMR's own next number comes after both.
                let next = try await client.withConnection(logger: logger) { connection in
                    try await connection.query("UPDATE sequences SET id = LAST_INSERT_ID(id + 1)")
                    return try await connection.query("SELECT LAST_INSERT_ID() AS n").first?.decode("n", as: Int.self) ?? 0
                }
                #expect(next == max(api.encounter, imported) + 1)
                _ = name
            }
        }

        /// FHIR R4 Encounter NDJSON, by uuids and identifiers, through stdin.
        @Test func fhirBulkExportImports() async throws {
            let database = try LiveDatabase.require()
            let patient = try #require(try await database.string("SELECT LOWER(INSERT(INSERT(INSERT(INSERT(HEX(uuid),9,0,'-'),14,0,'-'),19,0,'-'),24,0,'-')) AS v FROM patient_data WHERE pid = 12"))
            let practitioner = try #require(try await database.string("SELECT LOWER(INSERT(INSERT(INSERT(INSERT(HEX(uuid),9,0,'-'),14,0,'-'),19,0,'-'),24,0,'-')) AS v FROM users WHERE username = 'drpatel'"))
            let organization = try #require(try await database.string("SELECT LOWER(INSERT(INSERT(INSERT(INSERT(HEX(uuid),9,0,'-'),14,0,'-'),19,0,'-'),24,0,'-')) AS v FROM facility WHERE id = 2"))
            let lines = [
                #"{"resourceType":"Encounter","id":"a","identifier":[{"value":"FHIR-1"}],"class":{"code":"IMP"},"subject":{"reference":"Patient/\#(patient)"},"participant":[{"individual":{"reference":"Practitioner/\#(practitioner)"}}],"period":{"start":"2025-04-01T08:00:00Z"},"reasonCode":[{"text":"Admission"}],"serviceProvider":{"reference":"Organization/\#(organization)"}}"#,
                #"{"resourceType":"Encounter","identifier":[{"value":"FHIR-2"}],"subject":{"identifier":{"value":"13"}},"participant":[{"individual":{"identifier":{"value":"drsmith"}}}],"period":{"start":"2025-04-02"}}"#,
                #"{"resourceType":"Observation","identifier":[{"value":"OBS-1"}]}"#,
                #"{"resourceType":"Encounter","identifier":[{"value":"FHIR-4"}],"subject":{"reference":"Patient/00000000-0000-4000-8000-000000000000"},"participant":[{"individual":{"identifier":{"value":"drsmith"}}}]}"#,
                "{not json",
            ]
            let report = NSTemporaryDirectory() + "/fhir-\(UUID().uuidString).report"
            defer { try? FileManager.default.removeItem(atPath: report) }
            let run = try await Self.cli(["-", "--format", "fhir", "--source", "fhir", "--report", report, "--quiet"], stdin: Data(lines.joined(separator: "\n").utf8))
            #expect(run.status == 1, "\(run.stderr)")
            #expect(run.stderr.contains("imported: 2") && run.stderr.contains("rejected: 3"), "\(run.stderr)")
            let entries = try Self.reportLines(report).sorted { ($0["line"] as? Int ?? 0) < ($1["line"] as? Int ?? 0) }
            #expect(entries.map { $0["line"] as? Int ?? 0 } == [3, 4, 5])
            #expect(entries.map { $0["field"] as? String } == ["resourceType", "subject", nil])
            let row = try #require(
                try await database.query(
                    "SELECT e.* FROM form_encounter e JOIN mmt_encounter_imports m ON m.pid = e.pid AND m.encounter = e.encounter WHERE m.source = 'fhir' AND m.external_id = 'FHIR-1'"
                ).first
            )
            #expect(try row.decode("pid", as: Int.self) == 12)
            #expect(try row.decode("provider_id", as: Int.self) == 4)
            #expect(try row.decode("facility_id", as: Int.self) == 2)
            #expect(try row.decode("class_code", as: String.self) == "IMP")
            #expect(try row.decode("reason", as: String.self) == "Admission")
            #expect(try row.decode("date", as: MariaDBDateTime.self).description == "2025-04-01 08:00:00")  // demo gbl_time_zone is UTC
            #expect(try await Self.count("SELECT e.pid AS v FROM form_encounter e JOIN mmt_encounter_imports m ON m.pid = e.pid AND m.encounter = e.encounter WHERE m.external_id = 'FHIR-2'") == 13)
        }

        /// The endpoint: 202 with a run, progress from `mmt_import_runs`, admins only, 413/415/400 for client mistakes.
        @Test func importEndpoint() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp(["BRIDGE_IMPORT_MAX_BYTES": "4096"]) { client in
                let admin = try await client.token("admin", "pass")
                let doctor = try await client.token("drsmith", "doctor123")
                let body = Self.rows(40, prefix: "HTTP-") + "HTTP-BAD,1,2025-01-01,,nobody,1,5,AMB\n"
                func post(_ uri: String, token: String, type: String?, body: String) async throws -> TestResponse {
                    var headers: HTTPFields = [.authorization: "Bearer \(token)"]
                    if let type { headers[.contentType] = type }
                    return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
                }
                let accepted = try await post("/api/encounters/import/?source=http", token: admin, type: "text/csv", body: body)
                #expect(accepted.status == .accepted, "\(String(buffer: accepted.body))")
                let run = try JSONValue.parse(accepted.body)
                let id = try #require(run["id"].int)
                #expect(accepted.headers[.location] == "/api/imports/\(id)/")
                #expect(["queued", "running", "finished"].contains(run["state"].string ?? ""))
                var state = ""
                var final = run
                for _ in 0..<200 {
                    let response = try await client.execute(uri: "/api/imports/\(id)/", method: .get, headers: [.authorization: "Bearer \(admin)"])
                    final = try JSONValue.parse(response.body)
                    state = final["state"].string ?? ""
                    if state == "finished" || state == "failed" { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(state == "finished", "\(final)")
                #expect(final["imported"].int == 40 && final["rejected"].int == 1 && final["source"].string == "http")
                let rejectedRow = final["rejected_rows"].array?.first ?? .null
                #expect(rejectedRow["line"].int == 42 && rejectedRow["field"].string == "provider_username")
                let list = try await client.execute(uri: "/api/imports/", method: .get, headers: [.authorization: "Bearer \(admin)"])
                #expect(list.status == .ok)
                #expect(list.json["count"].int ?? 0 >= 1)

                // Client mistakes: never 500.
                #expect(try await post("/api/encounters/import/?source=http", token: doctor, type: "text/csv", body: body).status == .forbidden)
                #expect(try await post("/api/encounters/import/?source=http", token: admin, type: "application/json", body: "{}").status == .unsupportedMediaType)
                #expect(try await post("/api/encounters/import/", token: admin, type: "text/csv", body: body).status == .badRequest)
                #expect(try await post("/api/encounters/import/?source=x&dry_run=maybe", token: admin, type: "text/csv", body: body).status == .badRequest)
                #expect(try await post("/api/encounters/import/?source=x", token: admin, type: "text/csv", body: "pid\n1\n").status == .badRequest)
                #expect(try await post("/api/encounters/import/?source=x", token: admin, type: "text/csv", body: "").status == .badRequest)
                let big = try await post("/api/encounters/import/?source=x", token: admin, type: "text/csv", body: Self.rows(200, prefix: "BIG-"))
                #expect(big.status == .contentTooLarge)
                #expect(try await client.execute(uri: "/api/imports/999999/", method: .get, headers: [.authorization: "Bearer \(admin)"]).status == .notFound)
                #expect(try await client.execute(uri: "/api/imports/", method: .get, headers: [.authorization: "Bearer \(doctor)"]).status == .forbidden)
            }
        }
    }
}
