import Foundation
public import Logging
public import MariaDB
import PasswordCrypt

/// Checks that the OpenEMR tables the service needs exist, and applies the service's own versioned migrations
/// (`sql/migrations/NNNN_name.sql`, `mmt_` tables only), recorded in `mmt_schema_migrations`.
///
/// Several replicas may run `migrate` at once: a named lock (`GET_LOCK`) serialises them, and applied versions are
/// skipped, so running it again changes nothing.
public struct Migrator: Sendable {
    /// OpenEMR tables read or written by the service.
    public static let requiredOpenEMRTables = [
        "users", "users_secure", "groups", "ip_tracking", "login_mfa_registrations", "patient_data", "patient_access_onsite",
        "facility", "form_encounter", "forms", "sequences", "uuid_registry", "globals", "log", "log_comment_encrypt",
        "session_tracker", "gacl_aro", "gacl_aro_groups", "gacl_groups_aro_map",
    ]

    /// One migration file.
    public struct Migration: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var sql: String
        /// SHA-256 of the file, to detect an applied migration that was edited afterwards.
        public var checksum: String
    }

    public struct Report: Sendable {
        public var missingTables: [String]
        public var applied: [String]
        public var alreadyApplied: [String]
        public var pending: [String]

        public init(missingTables: [String], applied: [String], alreadyApplied: [String], pending: [String]) {
            self.missingTables = missingTables
            self.applied = applied
            self.alreadyApplied = alreadyApplied
            self.pending = pending
        }
    }

    let client: MariaDBClient
    let directory: String
    let logger: Logger

    public init(client: MariaDBClient, directory: String, logger: Logger) {
        self.client = client
        self.directory = directory
        self.logger = logger
    }

    /// Finds the `sql` folder: `BRIDGE_SQL_DIR`, else `./sql`, else the checkout the executable was built in.
    public static func locateSQLDirectory(configured: String?, executablePath: String = CommandLine.arguments.first ?? "") -> String {
        if let configured { return configured }
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: "sql/migrations") { return "sql" }
        var url = URL(fileURLWithPath: executablePath).deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = url.appendingPathComponent("sql")
            if fileManager.fileExists(atPath: candidate.appendingPathComponent("migrations").path) { return candidate.path }
            url = url.deletingLastPathComponent()
        }
        return "sql"
    }

    /// The migration files, ordered by version. Throws on a malformed name or a duplicate version.
    public func migrations() throws -> [Migration] {
        let folder = URL(fileURLWithPath: directory).appendingPathComponent("migrations")
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        } catch {
            throw MigrationError(message: "BRIDGE_SQL_DIR has no readable migrations folder at \(folder.path)")
        }
        var seen = Set<Int>()
        return try names.map { name in
            let prefix = name.prefix { $0.isNumber }
            guard let version = Int(prefix), !prefix.isEmpty else {
                throw MigrationError(message: "BRIDGE_SQL_DIR has a migration without a numeric prefix: \(name)")
            }
            guard seen.insert(version).inserted else {
                throw MigrationError(message: "BRIDGE_SQL_DIR has two migrations with version \(version)")
            }
            let data = try Data(contentsOf: folder.appendingPathComponent(name))
            let sql = String(decoding: data, as: UTF8.self)
            return Migration(version: version, name: name, sql: sql, checksum: Digest.hex(Digest.sha256(Array(data))))
        }
    }

    /// The required OpenEMR tables that do not exist in the configured database.
    public func missingOpenEMRTables() async throws -> [String] {
        let rows = try await client.query(
            "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()", logger: logger
        ).rows
        let present = Set(try rows.map { try $0.decode("name", as: String.self).lowercased() })
        return Self.requiredOpenEMRTables.filter { !present.contains($0) }
    }

    /// Checks, then (unless `checkOnly`) applies pending migrations.
    public func run(checkOnly: Bool) async throws -> Report {
        let missing = try await missingOpenEMRTables()
        let all = try migrations()
        guard missing.isEmpty else {
            return Report(missingTables: missing, applied: [], alreadyApplied: [], pending: all.map(\.name))
        }
        return try await client.withConnection(logger: logger) { connection in
            try await connection.withNamedLock(
                "mmt_schema_migrations", timeout: 60, busy: { MigrationError(message: "another migrate run holds the migration lock") }
            ) {
                try await apply(all, on: connection, checkOnly: checkOnly)
            }
        }
    }

    private func apply(_ all: [Migration], on connection: MariaDBConnection, checkOnly: Bool) async throws -> Report {
        var applied: [String] = []
        var already: [String] = []
        var pending: [String] = []
        let tableExists = try await connection.query(
            "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'mmt_schema_migrations'"
        ).first?.decode("n", as: Int.self) == 1
        var done: [Int: String] = [:]
        if tableExists {
            for row in try await connection.query("SELECT version, checksum FROM mmt_schema_migrations").rows {
                done[try row.decode("version", as: Int.self)] = try row.decode("checksum", as: String.self)
            }
        } else if !checkOnly {
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS mmt_schema_migrations (
                  version INT NOT NULL PRIMARY KEY,
                  name VARCHAR(255) NOT NULL,
                  checksum CHAR(64) NOT NULL,
                  applied_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
                """
            )
        }
        for migration in all {
            if let checksum = done[migration.version] {
                if checksum != migration.checksum {
                    logger.warning("applied migration was edited afterwards", metadata: ["migration": "\(migration.name)"])
                }
                already.append(migration.name)
                continue
            }
            if checkOnly {
                pending.append(migration.name)
                continue
            }
            logger.info("applying migration", metadata: ["migration": "\(migration.name)"])
            // DDL commits implicitly in MariaDB, so each statement is written to be re-runnable (IF NOT EXISTS).
            for statement in MariaDBScript.statements(in: migration.sql) {
                try await connection.query(MariaDBQuery(unsafeSQL: try await Self.substitutingCollations(in: statement, on: connection)))
            }
            try await connection.query(
                "INSERT INTO mmt_schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))"
            )
            applied.append(migration.name)
        }
        return Report(missingTables: [], applied: applied, alreadyApplied: already, pending: pending)
    }
}

extension Migrator {
    /// Replaces each `{{collation:table.column}}` with that column's collation in this database (a copy of an OpenEMR
    /// column must compare exactly as the column does, whatever collation the installation chose). Only names made of
    /// letters, digits and `_` are accepted, and the collation comes from information_schema, not from the file.
    static func substitutingCollations(in statement: String, on connection: MariaDBConnection) async throws -> String {
        var result = statement
        while let open = result.range(of: "{{collation:"), let close = result.range(of: "}}", range: open.upperBound..<result.endIndex) {
            let name = result[open.upperBound..<close.lowerBound]
            let parts = name.split(separator: ".")
            guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } }) else {
                throw MigrationError(message: "malformed placeholder {{collation:\(name)}}")
            }
            let collation = try await connection.query(
                """
                SELECT COLLATION_NAME AS c FROM information_schema.COLUMNS
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = \(String(parts[0])) AND COLUMN_NAME = \(String(parts[1]))
                """
            ).first?.decode("c", as: String?.self)
            guard let collation, collation.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw MigrationError(message: "no collation found for \(name)")
            }
            result.replaceSubrange(open.lowerBound..<close.upperBound, with: collation)
        }
        return result
    }
}

/// The migrations cannot run: a malformed `sql/migrations` folder, an edited applied migration, or the migration
/// lock held by another run.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
