import Foundation
public import Logging
public import MariaDB
import Synchronization

/// The input formats of the encounter import.
public enum ImportFormat: String, Sendable, CaseIterable, Codable {
    case csv, ndjson, fhir

    /// From a file name: `.csv`; `.ndjson`/`.jsonl`; `.fhir.ndjson`, `.fhir`, or a Bulk Data export's `Encounter.ndjson`.
    public static func guess(path: String) -> ImportFormat? {
        let name = (path as NSString).lastPathComponent.lowercased()
        if name.hasSuffix(".csv") { return .csv }
        if name.hasSuffix(".fhir.ndjson") || name.hasSuffix(".fhir") || name.hasPrefix("encounter") && name.hasSuffix(".ndjson") { return .fhir }
        if name.hasSuffix(".ndjson") || name.hasSuffix(".jsonl") { return .ndjson }
        return nil
    }

    /// From a request's `Content-Type`: `text/csv`, `application/x-ndjson` (or `application/ndjson`, `application/jsonl`),
    /// `application/fhir+ndjson`.
    public static func from(contentType: String) -> ImportFormat? {
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch type {
        case "text/csv", "application/csv": return .csv
        case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines": return .ndjson
        case "application/fhir+ndjson": return .fhir
        default: return nil
        }
    }

    func reader(_ source: ByteSource) throws -> any ImportRecordReader {
        switch self {
        case .csv: try CSVRecordReader(source: source)
        case .ndjson: try NDJSONRecordReader(source: source, mode: .flat)
        case .fhir: try NDJSONRecordReader(source: source, mode: .fhir)
        }
    }
}

public struct EncounterImportOptions: Sendable {
    /// The feed's name: external ids are unique within it.
    public var source: String
    public var format: ImportFormat
    /// Rows per transaction.
    public var batchSize: Int
    /// Parallel writers, each on its own connection.
    public var jobs: Int
    /// Validate everything (references looked up in bulk), write nothing.
    public var dryRun: Bool
    /// Import nothing unless every row is valid (a validating pass first, then the import).
    public var strict: Bool

    public init(source: String, format: ImportFormat, batchSize: Int = 1000, jobs: Int = 1, dryRun: Bool = false, strict: Bool = false) {
        self.source = source
        self.format = format
        self.batchSize = batchSize
        self.jobs = jobs
        self.dryRun = dryRun
        self.strict = strict
    }

    /// Checks the options (field → message).
    public func problems() -> [String: String] {
        var details: [String: String] = [:]
        if source.isEmpty || source.unicodeScalars.count > 64 { details["source"] = "A feed name of 1 to 64 characters is required." }
        if !(1...10_000).contains(batchSize) { details["batch_size"] = "Must be between 1 and 10000." }
        if !(1...32).contains(jobs) { details["jobs"] = "Must be between 1 and 32." }
        return details
    }
}

/// Counts of a run, updated as batches finish (a progress display reads them while the run goes on).
public struct ImportCounts: Sendable, Equatable, Codable {
    /// Rows read (records and malformed lines).
    public var read = 0
    public var imported = 0
    public var alreadyImported = 0
    public var conflicts = 0
    public var rejected = 0
    public var bytesRead = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case read, imported, alreadyImported = "already_imported", conflicts, rejected, bytesRead = "bytes_read"
    }
}

/// Live counts of a run.
public final class ImportProgress: Sendable {
    private let state = Mutex(ImportCounts())
    private let total = Mutex(0)
    /// The input's size when known (else 0).
    public var totalBytes: Int { total.withLock { $0 } }
    func setTotalBytes(_ value: Int) { total.withLock { $0 = value } }

    public init() {}

    public var counts: ImportCounts { state.withLock { $0 } }

    func update(_ body: (inout ImportCounts) -> Void) { state.withLock { body(&$0) } }
    func reset() { state.withLock { $0 = ImportCounts() } }
}

/// The outcome of a run.
public struct EncounterImportSummary: Sendable {
    public var counts: ImportCounts
    public var unknownColumns: [String]
    public var seconds: Double
    public var dryRun: Bool
    /// `--strict` found invalid rows in its validating pass: nothing was imported.
    public var strictAborted: Bool

    /// 0: every row imported (or already imported); 1: some rows rejected or in conflict.
    public var exitStatus: Int32 { counts.rejected + counts.conflicts == 0 ? 0 : 1 }

    public var rate: Double { seconds > 0 ? Double(counts.read) / seconds : 0 }
}

/// Imports encounters from a CSV, NDJSON or FHIR NDJSON stream, each row exactly as OpenEMR writes an encounter
/// (`EncounterRepository.resolve` and `.write`, the API's own path, batched), once per (source, external_id):
///
/// - the mapping row `mmt_encounter_imports` (source, external_id) → encounter is written in the batch's transaction,
///   so a run that is killed and run again creates each encounter once and reports the rest as already imported; a
///   row whose external_id is mapped with other content is a conflict (reported, not changed);
/// - rows go to `jobs` writers by a hash of their external id, each writer on its own connection, one transaction per
///   batch; the reader waits for slow writers (bounded hand-off), so memory stays flat;
/// - bad rows (format, unknown references, duplicates, malformed lines) are reported with line, field and reason and
///   the others still import; `strict` runs a validating pass first and imports only when it found nothing wrong.
public struct EncounterImporter: Sendable {
    let database: MariaDBClient
    let audit: AuditLogger
    let logger: Logger

    public init(database: MariaDBClient, audit: AuditLogger, logger: Logger) {
        self.database = database
        self.audit = audit
        self.logger = logger
    }

    /// Runs the import. `open` opens the input (again for the second pass of `strict`); `report` receives the
    /// rejections as they are found; `runID` is the `mmt_import_runs` row of this run (0 for a dry run without one).
    public func run(
        open: () throws -> ByteSource, options: EncounterImportOptions, identity: Identity, runID: Int, progress: ImportProgress,
        report: @escaping @Sendable ([ImportRejection]) async throws -> Void
    ) async throws -> EncounterImportSummary {
        let started = ContinuousClock.now
        let problems = options.problems()
        if !problems.isEmpty { throw OpenEMRError.validation(problems) }
        let timeZone = ImportValues.timeZone(try await audit.globals.current(logger: logger).timeZone)
        if options.strict && !options.dryRun {
            let check = try await pass(open: open, options: options, dryRun: true, identity: identity, runID: runID, timeZone: timeZone, progress: progress, report: report)
            let counts = progress.counts
            if counts.rejected + counts.conflicts > 0 {
                return EncounterImportSummary(
                    counts: counts, unknownColumns: check, seconds: (ContinuousClock.now - started).seconds, dryRun: false, strictAborted: true
                )
            }
            progress.reset()
        }
        let unknown = try await pass(
            open: open, options: options, dryRun: options.dryRun, identity: identity, runID: runID, timeZone: timeZone, progress: progress, report: report
        )
        return EncounterImportSummary(
            counts: progress.counts, unknownColumns: unknown, seconds: (ContinuousClock.now - started).seconds, dryRun: options.dryRun, strictAborted: false
        )
    }

    /// One pass over the input; returns the unknown columns.
    private func pass(
        open: () throws -> ByteSource, options: EncounterImportOptions, dryRun: Bool, identity: Identity, runID: Int, timeZone: TimeZone,
        progress: ImportProgress, report: @escaping @Sendable ([ImportRejection]) async throws -> Void
    ) async throws -> [String] {
        let source = try open()
        progress.setTotalBytes(source.size ?? 0)
        var reader = try options.format.reader(source)
        let jobs = options.jobs
        let channels = (0..<jobs).map { _ in BoundedChannel<[ParsedRow]>(capacity: 2) }
        let writer = BatchWriter(
            database: database, audit: audit, identity: identity, source: options.source, runID: runID, dryRun: dryRun, progress: progress,
            report: report, logger: logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            for channel in channels {
                group.addTask { try await writer.work(channel) }
            }
            defer { for channel in channels { channel.finish() } }
            var pending = Array(repeating: [ParsedRow](), count: jobs)
            var rejections: [ImportRejection] = []
            var readSinceUpdate = 0
            func flushCounts() async throws {
                let read = readSinceUpdate, bytes = source.bytesRead, rejected = rejections.count
                progress.update {
                    $0.read += read
                    $0.bytesRead = bytes
                    $0.rejected += rejected
                }
                readSinceUpdate = 0
                if !rejections.isEmpty {
                    let batch = rejections
                    rejections.removeAll(keepingCapacity: true)
                    try await report(batch)
                }
            }
            var writing = true
            reading: while let item = try reader.next() {
                readSinceUpdate += 1
                switch item {
                case .malformed(let rejection):
                    rejections.append(rejection)
                case .record(let record):
                    switch record.parsed(timeZone: timeZone) {
                    case .failure(let rejection): rejections.append(rejection)
                    case .success(let row):
                        let job = jobs == 1 ? 0 : Int(Self.hash(row.externalID) % UInt64(jobs))
                        pending[job].append(row)
                        if pending[job].count >= options.batchSize {
                            try await flushCounts()
                            guard await channels[job].send(pending[job]) else {
                                writing = false  // the writer failed: its error follows from waitForAll
                                break reading
                            }
                            pending[job] = []
                        }
                    }
                }
                if readSinceUpdate >= 1000 || rejections.count >= 100 { try await flushCounts() }
            }
            try await flushCounts()
            for job in 0..<jobs where writing && !pending[job].isEmpty {
                writing = await channels[job].send(pending[job])
            }
            for channel in channels { channel.finish() }
            try await group.waitForAll()
        }
        return reader.unknownColumns
    }

    /// FNV-1a of the external id: which writer gets a row (the same id always goes to the same one).
    static func hash(_ text: String) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value &*= 0x100_0000_01b3
        }
        return value
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// One writer: its own connection for the whole pass, one transaction per batch.
struct BatchWriter: Sendable {
    let database: MariaDBClient
    let audit: AuditLogger
    let identity: Identity
    let source: String
    let runID: Int
    let dryRun: Bool
    let progress: ImportProgress
    let report: @Sendable ([ImportRejection]) async throws -> Void
    let logger: Logger

    func work(_ channel: BoundedChannel<[ParsedRow]>) async throws {
        do {
            try await database.withConnection(logger: logger) { connection in
                if dryRun {
                    // What a dry run would have imported, to find duplicates across batches (this connection only:
                    // the same external id always goes to the same writer).
                    try await connection.queries([
                        "DROP TEMPORARY TABLE IF EXISTS mmt_import_seen",
                        "CREATE TEMPORARY TABLE mmt_import_seen (external_id VARCHAR(255) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, line BIGINT NOT NULL)",
                    ])
                }
                while let batch = await channel.receive() {
                    try await process(batch, on: connection)
                }
                if dryRun { try await connection.query("DROP TEMPORARY TABLE IF EXISTS mmt_import_seen") }
            }
        } catch {
            channel.close()
            throw error
        }
    }

    /// A batch, retried when a concurrent run of the same source mapped one of its ids first (duplicate key) or on a
    /// deadlock: the retry classifies those rows as already imported.
    func process(_ batch: [ParsedRow], on connection: MariaDBConnection) async throws {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let (counts, rejections) = try await processOnce(batch, on: connection)
                progress.update {
                    $0.imported += counts.imported
                    $0.alreadyImported += counts.alreadyImported
                    $0.conflicts += counts.conflicts
                    $0.rejected += counts.rejected
                }
                if !rejections.isEmpty { try await report(rejections) }
                return
            } catch let error as MariaDBError where attempt < 4 && (error.isDuplicateKey || error.isRetryableTransactionError) {
                logger.notice("import batch retried", metadata: LogSafe.metadata(error))
            }
        }
    }

    private func processOnce(_ batch: [ParsedRow], on connection: MariaDBConnection) async throws -> (ImportCounts, [ImportRejection]) {
        var counts = ImportCounts()
        var rejections: [ImportRejection] = []
        func reject(_ rejection: ImportRejection) {
            if rejection.status == .conflict { counts.conflicts += 1 } else { counts.rejected += 1 }
            rejections.append(rejection)
        }
        // Duplicates within the batch.
        var firstLine: [String: Int] = [:]
        var unique: [ParsedRow] = []
        unique.reserveCapacity(batch.count)
        for row in batch {
            if let line = firstLine[row.externalID] {
                reject(ImportRejection(line: row.record.line, field: row.record.sourceName(.externalID), reason: "Duplicate external_id (first on line \(line)).", externalID: row.externalID))
            } else {
                firstLine[row.externalID] = row.record.line
                unique.append(row)
            }
        }
        // What this source has mapped already (and, in a dry run, what this run would have imported).
        let ids = unique.map(\.externalID)
        var statements: [MariaDBQuery] = []
        for range in EncounterRepository.chunks(ids.count) {
            statements.append(
                """
                SELECT external_id, encounter, content_sha, run_id, line FROM mmt_encounter_imports
                WHERE source = \(source) AND external_id IN (\(list: Array(ids[range])))
                """
            )
            if dryRun { statements.append("SELECT external_id, line FROM mmt_import_seen WHERE external_id IN (\(list: Array(ids[range])))") }
        }
        struct Mapped { var encounter: Int, sha: [UInt8], runID: Int, line: Int }
        var mapped: [String: Mapped] = [:]
        var seen: [String: Int] = [:]
        for (index, result) in try await connection.queries(statements).enumerated() {
            for row in result.rows {
                let id = try row.decode("external_id", as: String.self)
                if dryRun && index % 2 == 1 {
                    seen[id] = try row.decode("line", as: Int.self)
                } else {
                    mapped[id] = Mapped(
                        encounter: try row.decode("encounter", as: Int.self), sha: try row.decode("content_sha", as: [UInt8].self),
                        runID: try row.decode("run_id", as: Int.self), line: try row.decode("line", as: Int.self)
                    )
                }
            }
        }
        var fresh: [ParsedRow] = []
        fresh.reserveCapacity(unique.count)
        for row in unique {
            let field = row.record.sourceName(.externalID)
            if let line = seen[row.externalID] {
                reject(ImportRejection(line: row.record.line, field: field, reason: "Duplicate external_id (first on line \(line)).", externalID: row.externalID))
            } else if let known = mapped[row.externalID] {
                if runID != 0 && known.runID == runID {
                    reject(ImportRejection(line: row.record.line, field: field, reason: "Duplicate external_id (first on line \(known.line)).", externalID: row.externalID))
                } else if known.sha == row.contentHash {
                    counts.alreadyImported += 1
                } else {
                    reject(
                        ImportRejection(
                            line: row.record.line, status: .conflict, field: field,
                            reason: "Conflict: already imported as encounter \(known.encounter) with other content; not changed.", externalID: row.externalID
                        )
                    )
                }
            } else {
                fresh.append(row)
            }
        }
        guard !fresh.isEmpty else { return (counts, rejections) }

        // References, in bulk, with OpenEMR's defaults: the API's own resolution.
        let resolved = try await EncounterRepository.resolve(fresh.map(\.encounter), by: identity, on: connection, globals: audit.globals)
        var valid: [(ParsedRow, EncounterRepository.ResolvedEncounter)] = []
        valid.reserveCapacity(fresh.count)
        for (row, result) in zip(fresh, resolved) {
            switch result {
            case .success(let encounter): valid.append((row, encounter))
            case .failure(let error):
                let keys = error.details.keys.sorted()
                let key = keys.first ?? ""
                let more = keys.count > 1 ? " (and \(keys.dropFirst().map(row.record.sourceName(ofDetail:)).joined(separator: ", ")))" : ""
                reject(
                    ImportRejection(
                        line: row.record.line, field: row.record.sourceName(ofDetail: key), reason: (error.details[key] ?? error.message) + more,
                        externalID: row.externalID
                    )
                )
            }
        }
        guard !valid.isEmpty else { return (counts, rejections) }
        if dryRun {
            var inserts: [MariaDBQuery] = []
            for range in EncounterRepository.chunks(valid.count) {
                var insert: MariaDBQuery = "INSERT INTO mmt_import_seen (external_id, line) VALUES "
                for index in range {
                    insert.append("\(unescaped: index == range.lowerBound ? "" : ", ")(\(valid[index].0.externalID), \(valid[index].0.record.line))")
                }
                inserts.append(insert)
            }
            try await connection.queries(inserts)
            counts.imported += valid.count
            return (counts, rejections)
        }
        let source = self.source, runID = self.runID
        let rows = valid.map(\.0)
        // The numbers first, in their own statement: parallel writers then hold the `sequences` row only for it.
        let numbers = try await EncounterRepository.reserveNumbers(valid.count, on: connection)
        _ = try await connection.withTransaction { connection in
            try await EncounterRepository.write(
                valid.map(\.1), by: identity, on: connection, audit: audit, note: " import", numbers: numbers, extra: { written in
                    [
                        .bulk(
                            "INSERT INTO mmt_encounter_imports (source, external_id, encounter, pid, content_sha, run_id, line, imported_at) VALUES ",
                            rows: written.indices.map { index in
                                """
                                (\(source), \(rows[index].externalID), \(written[index].encounter), \(written[index].pid), \(rows[index].contentHash), \
                                \(runID), \(rows[index].record.line), UTC_TIMESTAMP())
                                """
                            }
                        )
                    ]
                }
            )
        }
        counts.imported += valid.count
        return (counts, rejections)
    }
}
