import Foundation
public import Logging
public import MariaDB

/// An import run as `GET /api/imports/` shows it.
public struct ImportRun: Sendable, Encodable, Equatable {
    public enum State: String, Sendable, Codable { case queued, running, finished, failed }

    public var id: Int
    public var source: String
    public var format: String
    public var origin: String
    public var state: State
    public var dryRun: Bool
    public var strict: Bool
    public var createdBy: String
    public var createdAt: String
    public var startedAt: String?
    public var updatedAt: String?
    public var finishedAt: String?
    public var bytesTotal: Int?
    public var bytesRead: Int
    public var rowsRead: Int
    public var imported: Int
    public var alreadyImported: Int
    public var conflicts: Int
    public var rejected: Int
    /// Rows read per second (so far, or over the whole run).
    public var rate: Double
    public var error: String?
    /// The first rejected rows (detail only).
    public var rejectedRows: [ImportRejection]?

    enum CodingKeys: String, CodingKey {
        case id, source, format, origin, state, dryRun = "dry_run", strict, createdBy = "created_by", createdAt = "created_at"
        case startedAt = "started_at", updatedAt = "updated_at", finishedAt = "finished_at", bytesTotal = "bytes_total", bytesRead = "bytes_read"
        case rowsRead = "rows_read", imported, alreadyImported = "already_imported", conflicts, rejected, rate, error
        case rejectedRows = "rejected_rows"
    }

    /// A process running an import saves its counts every second; a run not heard of for this long has lost its
    /// process (killed, crashed, its machine gone) and is shown as `failed`. Nothing else can resume it: the input
    /// is the caller's, and running it again imports only what is missing.
    public static let staleAfterSeconds = 60
    static let staleReason = "stopped: the process running this import ended without finishing it (no progress for over \(staleAfterSeconds) s); run the same input again: rows already imported are skipped"
    static let stale = "(state IN ('queued', 'running') AND COALESCE(updated_at, created_at) < UTC_TIMESTAMP() - INTERVAL \(staleAfterSeconds) SECOND)"

    static let columns = """
        id, source, format, origin, state, dry_run, strict, created_by, created_at, started_at, updated_at, finished_at, bytes_total, bytes_read,
        rows_read, imported, already_imported, conflicts, rejected, error, \(stale) AS stale,
        TIMESTAMPDIFF(MICROSECOND, started_at, COALESCE(finished_at, updated_at)) AS micros
        """

    init(row: MariaDBRow) throws {
        func time(_ name: String) throws -> String? { try row.decode(name, as: MariaDBDateTime?.self).map { $0.description + "Z" } }
        id = try row.decode("id", as: Int.self)
        source = try row.decode("source", as: String.self)
        format = try row.decode("format", as: String.self)
        origin = try row.decode("origin", as: String.self)
        state = State(rawValue: try row.decode("state", as: String.self)) ?? .failed
        dryRun = try row.decode("dry_run", as: Int.self) != 0
        strict = try row.decode("strict", as: Int.self) != 0
        createdBy = try row.decode("created_by", as: String.self)
        createdAt = try time("created_at") ?? ""
        startedAt = try time("started_at")
        updatedAt = try time("updated_at")
        finishedAt = try time("finished_at")
        bytesTotal = try row.decode("bytes_total", as: Int?.self)
        bytesRead = try row.decode("bytes_read", as: Int.self)
        rowsRead = try row.decode("rows_read", as: Int.self)
        imported = try row.decode("imported", as: Int.self)
        alreadyImported = try row.decode("already_imported", as: Int.self)
        conflicts = try row.decode("conflicts", as: Int.self)
        rejected = try row.decode("rejected", as: Int.self)
        error = try row.decode("error", as: String?.self)
        if try row.decode("stale", as: Int?.self) == 1 {
            state = .failed
            error = Self.staleReason
        }
        let micros = try row.decode("micros", as: Int?.self) ?? 0
        rate = micros > 0 ? (Double(rowsRead) / (Double(micros) / 1e6) * 10).rounded() / 10 : 0
    }
}

/// The runs table (`mmt_import_runs`) and their rejected rows (`mmt_import_rejections`): written by the importer's
/// process as it goes, read by any replica.
public struct ImportRunStore: Sendable {
    let database: MariaDBClient
    /// Rejected rows kept per run (the counts are complete).
    public static let keptRejections = 1000

    public init(database: MariaDBClient) { self.database = database }

    /// A new run, `queued` (API) or `running` (command line); returns its id.
    public func create(
        source: String, format: ImportFormat, origin: String, dryRun: Bool, strict: Bool, createdBy: String, bytesTotal: Int?, running: Bool,
        logger: Logger
    ) async throws -> Int {
        let result = try await database.query(
            """
            INSERT INTO mmt_import_runs (source, format, origin, state, dry_run, strict, created_by, created_at, started_at, updated_at, bytes_total)
            VALUES (\(source), \(format.rawValue), \(origin), \(running ? "running" : "queued"), \(dryRun), \(strict), \(createdBy), UTC_TIMESTAMP(),
                    IF(\(running), UTC_TIMESTAMP(), NULL), IF(\(running), UTC_TIMESTAMP(), NULL), \(bytesTotal))
            """,
            logger: logger
        )
        return Int(result.lastInsertID)
    }

    /// `queued` → `running`.
    public func start(_ id: Int, logger: Logger) async throws {
        try await database.query(
            "UPDATE mmt_import_runs SET state = 'running', started_at = UTC_TIMESTAMP(), updated_at = UTC_TIMESTAMP() WHERE id = \(id)", logger: logger
        )
    }

    /// The counts so far.
    public func update(_ id: Int, counts: ImportCounts, logger: Logger) async throws {
        try await database.query(
            """
            UPDATE mmt_import_runs SET updated_at = UTC_TIMESTAMP(), bytes_read = \(counts.bytesRead), rows_read = \(counts.read),
                   imported = \(counts.imported), already_imported = \(counts.alreadyImported), conflicts = \(counts.conflicts),
                   rejected = \(counts.rejected)
            WHERE id = \(id)
            """,
            logger: logger
        )
    }

    /// The end of a run: `finished` with its counts, or `failed` with a reason (never patient data).
    public func finish(_ id: Int, counts: ImportCounts, error: String?, logger: Logger) async throws {
        try await update(id, counts: counts, logger: logger)
        try await database.query(
            """
            UPDATE mmt_import_runs SET state = \(error == nil ? "finished" : "failed"), finished_at = UTC_TIMESTAMP(), updated_at = UTC_TIMESTAMP(),
                   error = \(error.map { String($0.prefix(255)) })
            WHERE id = \(id)
            """,
            logger: logger
        )
    }

    /// Keeps rejected rows of a run, up to `keptRejections`.
    public func record(_ id: Int, rejections: [ImportRejection], logger: Logger) async throws {
        guard !rejections.isEmpty else { return }
        try await database.withConnection(logger: logger) { connection in
            let kept = try await connection.query("SELECT COUNT(*) AS n FROM mmt_import_rejections WHERE run_id = \(id)").first?.decode("n", as: Int.self) ?? 0
            let room = Self.keptRejections - kept
            guard room > 0 else { return }
            var insert: MariaDBQuery = "INSERT IGNORE INTO mmt_import_rejections (run_id, seq, line, status, field, reason, external_id) VALUES "
            for (index, rejection) in rejections.prefix(room).enumerated() {
                insert.append(
                    """
                    \(unescaped: index == 0 ? "" : ", ")(\(id), \(kept + index + 1), \(rejection.line), \(rejection.status.rawValue), \
                    \(rejection.field.map { String($0.prefix(64)) }), \(String(rejection.reason.prefix(255))), \(rejection.externalID.map { String($0.prefix(255)) }))
                    """
                )
            }
            try await connection.query(insert)
        }
    }

    /// Runs, newest first.
    public func list(page: PageRequest, logger: Logger) async throws -> (count: Int, page: PageRequest, items: [ImportRun]) {
        try await PagedQuery.run(
            database: database, logger: logger, columns: ImportRun.columns, from: "mmt_import_runs", orderBy: "id DESC", page: page,
            map: ImportRun.init(row:)
        )
    }

    /// One run with its first rejected rows.
    public func find(_ id: Int, logger: Logger) async throws -> ImportRun? {
        let results = try await database.withConnection(logger: logger) { connection in
            try await connection.queries([
                "SELECT \(unescaped: ImportRun.columns) FROM mmt_import_runs WHERE id = \(id)",
                "SELECT line, status, field, reason, external_id FROM mmt_import_rejections WHERE run_id = \(id) ORDER BY seq",
            ])
        }
        guard let row = results[0].first else { return nil }
        var run = try ImportRun(row: row)
        run.rejectedRows = try results[1].rows.map { row in
            ImportRejection(
                line: try row.decode("line", as: Int.self),
                status: ImportRejection.Status(rawValue: try row.decode("status", as: String.self)) ?? .rejected,
                field: try row.decode("field", as: String?.self), reason: try row.decode("reason", as: String.self),
                externalID: try row.decode("external_id", as: String?.self)
            )
        }
        return run
    }
}
