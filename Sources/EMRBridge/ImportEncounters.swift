import ArgumentParser
import Foundation
import Logging
import MariaDB
import OpenEMR
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `emr-bridge import-encounters FILE|-`: the batch import, on the OpenEMR domain only (no HTTP).
struct ImportEncounters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-encounters",
        abstract: "Import encounters from a CSV, NDJSON or FHIR R4 Encounter NDJSON file, each exactly as OpenEMR writes one, once.",
        discussion: """
            Each row needs external_id (unique within --source), a patient (pid, pubpid or patient_uuid) and may give date \
            (ISO date or date-time, clinic time zone), reason, facility_id or facility (name), provider_id or provider_username, \
            pc_catid, class_code, pos_code, sensitivity; OpenEMR's defaults apply where absent. Running the same file again, \
            or again after a crash, creates each encounter once (a mapping table keyed by source and external_id); a row \
            whose external_id was imported with other content is a conflict, reported and not changed.

            Database settings come from DB_HOST, DB_PORT, DB_SOCKET, DB_NAME, DB_USER, DB_PASSWORD (see the README); \
            `emr-bridge migrate` must have run.

            Exit status:
              0  every row imported (or already imported); with --dry-run: every row would import
              1  some rows were rejected or in conflict (see --report); with --strict nothing was imported
              2  nothing could run: bad options, unreadable file or header, no database, not an OpenEMR database, \
            migrations pending, or the database failed during the run (rerun to resume)
            """
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "The file to import, or - for stdin.") var file: String
    @Option(name: .long, help: "csv, ndjson or fhir (default: from the file name: .csv, .ndjson/.jsonl, .fhir.ndjson or Encounter*.ndjson).")
    var format: String?
    @Option(name: .long, help: "The feed's name (1 to 64 characters): external ids are unique within it.") var source: String?
    @Option(name: .long, help: "Rows per transaction (1 to 10000).") var batchSize: Int = 1000
    @Option(name: .long, help: "Parallel writers, each on its own database connection (1 to 32).") var jobs: Int = 1
    @Flag(name: .long, help: "Validate everything (patients, providers, facilities looked up in bulk) and write nothing.") var dryRun = false
    @Flag(name: .long, help: "Import nothing unless every row is valid.") var strict = false
    @Option(name: .long, help: "Write the rejected rows as JSON lines (line, status, field, reason, external_id) to this file.") var report: String?
    @Flag(name: .long, help: "Print only the summary.") var quiet = false
    @Option(
        name: .long,
        help: "The OpenEMR user the import acts as (forms.user, audit entries; default provider and facility). Default: emr-bridge, no default provider."
    ) var user: String?

    func run() async throws {
        Self.limitMallocArenas(2)
        var environment = ProcessInfo.processInfo.environment
        if let level = common.logLevel { environment["LOG_LEVEL"] = level }
        let reader = EnvironmentReader(environment)
        var database: MariaDBConfiguration
        let level: Logger.Level
        do {
            database = try DatabaseSettings.fromEnvironment(environment, demo: try reader.bool("BRIDGE_DEMO", default: false))
            level = try reader.logLevel("LOG_LEVEL") ?? .warning
        } catch let error as ConfigurationError {
            throw stop("configuration error: \(error)")
        }
        guard let source else { throw stop("--source NAME is required") }
        guard let format = format.map({ ImportFormat(rawValue: $0.lowercased()) }) ?? ImportFormat.guess(path: file) else {
            throw stop(format == nil ? "cannot tell the format from the file name: give --format csv|ndjson|fhir" : "--format must be csv, ndjson or fhir")
        }
        let options = EncounterImportOptions(source: source, format: format, batchSize: batchSize, jobs: jobs, dryRun: dryRun, strict: strict)
        if let problem = options.problems().sorted(by: { $0.key < $1.key }).first { throw stop("--\(problem.key.replacingOccurrences(of: "_", with: "-")): \(problem.value)") }
        database.options.maximumConnections = max(database.options.maximumConnections, jobs + 2)
        let logger = CommonOptions.makeLogger(level: level, label: "emr-bridge.import")

        // The input: checked before the database; stdin is spooled to a temporary file when --strict reads it twice.
        var path = file
        var spooled: String?
        defer { if let spooled { unlink(spooled) } }
        do {
            if file == "-" && strict {
                spooled = try Self.spoolStandardInput()
                path = spooled!
            }
            _ = try ByteSource(path: path)
        } catch {
            throw stop("\(error)")
        }
        let reportHandle: ReportFile?
        do {
            reportHandle = try report.map(ReportFile.init(path:))
        } catch {
            throw stop("cannot write the report file: \(error)")
        }

        let summary: EncounterImportSummary
        do {
            summary = try await MariaDBClient.withClient(configuration: database, logger: logger) { client in
                try await Self.runImport(
                    client: client, path: path, options: options, user: user, quiet: quiet, report: reportHandle, logger: logger
                )
            }
        } catch let error as ImportError {
            throw stop(error.description)
        } catch let error as OpenEMRError {
            throw stop(error.message)
        } catch let error as MariaDBError {
            throw stop("database error: \(LogSafe.text(error)) (rerun to resume: imported rows are not imported twice)")
        } catch let error as MigrationError {
            throw stop(error.message)
        }
        try? reportHandle?.close()
        Self.printSummary(summary, source: source, report: report)
        if summary.exitStatus != 0 { throw ExitCode(summary.exitStatus) }
    }

    /// glibc gives each thread that meets a busy heap an arena of its own (up to 8 per core) and keeps what is freed
    /// there: with several writers about 15 of the 93 MB peak RSS at `--jobs 4` were those arenas; two arenas measured
    /// no slower (MALLOC_ARENA_MAX=2 does the same for a whole process). `mallopt` is looked up at run time because
    /// `<malloc.h>` is not part of Swift's Glibc module; on another C library this does nothing.
    static func limitMallocArenas(_ count: Int32) {
        #if canImport(Glibc)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let arenaMax: Int32 = -8  // M_ARENA_MAX in glibc's <malloc.h>
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil, let symbol = dlsym(nil, "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: Mallopt.self)(arenaMax, count)
        #endif
    }

    private static func runImport(
        client: MariaDBClient, path: String, options: EncounterImportOptions, user: String?, quiet: Bool, report: ReportFile?, logger: Logger
    ) async throws -> EncounterImportSummary {
        let migrator = Migrator(client: client, directory: Migrator.locateSQLDirectory(configured: ProcessInfo.processInfo.environment["BRIDGE_SQL_DIR"]), logger: logger)
        let missing = try await migrator.missingOpenEMRTables()
        if !missing.isEmpty { throw ImportError.notOpenEMR("not an OpenEMR database: missing tables \(missing.joined(separator: ", "))") }
        let pending = try await migrator.run(checkOnly: true).pending
        if !pending.isEmpty { throw ImportError.notOpenEMR("migrations pending (\(pending.joined(separator: ", "))): run `emr-bridge migrate` first") }

        let globals = OpenEMRGlobalsCache(database: client)
        let audit = AuditLogger(database: client, globals: globals, logger: logger)
        let identity = try await EncounterImporter.actingUser(user, database: client, logger: logger)
        let store = ImportRunStore(database: client)
        let size = try ByteSource(path: path).size
        let runID =
            options.dryRun
            ? 0
            : try await store.create(
                source: options.source, format: options.format, origin: "cli", dryRun: false, strict: options.strict, createdBy: identity.username,
                bytesTotal: size, running: true, logger: logger
            )
        let progress = ImportProgress()
        let display = ProgressDisplay(progress: progress, quiet: quiet)
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                display.tick()
                if runID != 0, display.shouldSave() { try? await store.update(runID, counts: progress.counts, logger: logger) }
            }
        }
        defer { ticker.cancel() }
        let importer = EncounterImporter(database: client, audit: audit, logger: logger)
        do {
            let summary = try await importer.run(
                open: { try ByteSource(path: path) }, options: options, identity: identity, runID: runID, progress: progress,
                report: { rejections in
                    report?.write(rejections)
                    if runID != 0 { try await store.record(runID, rejections: rejections, logger: logger) }
                }
            )
            ticker.cancel()
            display.finish()
            if runID != 0 { try await store.finish(runID, counts: summary.counts, error: nil, logger: logger) }
            return summary
        } catch {
            ticker.cancel()
            display.finish()
            if runID != 0 { try? await store.finish(runID, counts: progress.counts, error: "failed: \(LogSafe.text(error))", logger: logger) }
            throw error
        }
    }

    static func printSummary(_ summary: EncounterImportSummary, source: String, report: String?) {
        let c = summary.counts
        let rate = Int(summary.rate.rounded())
        var lines = [
            "import-encounters\(summary.dryRun ? " (dry run: nothing written)" : ""): source \(source): \(c.read) rows read in "
                + String(format: "%.1f", summary.seconds) + " s (\(rate) rows/s)",
            "  \(summary.dryRun ? "would import" : "imported"): \(c.imported)   already imported: \(c.alreadyImported)   conflicts: \(c.conflicts)   rejected: \(c.rejected)",
        ]
        if summary.strictAborted { lines.append("  --strict: invalid rows found, nothing imported") }
        if !summary.unknownColumns.isEmpty { lines.append("  unknown columns ignored: \(summary.unknownColumns.joined(separator: ", "))") }
        if c.rejected + c.conflicts > 0 { lines.append(report.map { "  details: \($0)" } ?? "  details: rerun with --report FILE") }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    /// Exit status 2 with a one-line message.
    func stop(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data(("emr-bridge import-encounters: " + message + "\n").utf8))
        return ExitCode(2)
    }

    static func spoolStandardInput() throws -> String {
        let spool = try ImportSpool()
        while let chunk = try FileHandle.standardInput.read(upToCount: 1 << 20), !chunk.isEmpty {
            try spool.write(chunk)
        }
        try spool.close()
        return spool.path
    }
}

/// The `--report` file: JSON lines, written as batches finish.
final class ReportFile: Sendable {
    private let handle: Mutex<FileHandle>

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw ImportError.unreadable("cannot create \(path)") }
        handle = Mutex(try FileHandle(forWritingTo: URL(fileURLWithPath: path)))
    }

    func write(_ rejections: [ImportRejection]) {
        let text = rejections.map { $0.jsonLine + "\n" }.joined()
        handle.withLock { try? $0.write(contentsOf: Data(text.utf8)) }
    }

    func close() throws { try handle.withLock { try $0.close() } }
}

/// Progress on stderr: a redrawn bar on a terminal (rows, rows/s, elapsed, ETA when the size is known), a plain line
/// every 10 s otherwise, nothing with --quiet.
final class ProgressDisplay: Sendable {
    private let progress: ImportProgress
    private let quiet: Bool
    private let terminal: Bool
    private let started = ContinuousClock.now
    private let state = Mutex<(lastLine: ContinuousClock.Instant, lastSave: ContinuousClock.Instant, drawn: Bool)>((.now, .now, false))

    init(progress: ImportProgress, quiet: Bool) {
        self.progress = progress
        self.quiet = quiet
        terminal = isatty(2) == 1
    }

    /// Whether the run's counts should be saved now (every second).
    func shouldSave() -> Bool {
        state.withLock { state in
            guard ContinuousClock.now - state.lastSave >= .seconds(1) else { return false }
            state.lastSave = .now
            return true
        }
    }

    func tick() {
        guard !quiet else { return }
        let now = ContinuousClock.now
        let due: Bool = state.withLock { state in
            if terminal { return true }
            guard now - state.lastLine >= .seconds(10) else { return false }
            state.lastLine = now
            return true
        }
        guard due else { return }
        let counts = progress.counts
        let elapsed = max(0.001, Double((now - started).components.seconds) + Double((now - started).components.attoseconds) / 1e18)
        let rate = Double(counts.read) / elapsed
        var text = "\(counts.read) rows  \(Int(rate)) rows/s  \(Self.clock(elapsed))"
        let total = progress.totalBytes
        if total > 0, counts.bytesRead > 0 {
            let fraction = min(1, Double(counts.bytesRead) / Double(total))
            let remaining = fraction > 0 ? elapsed / fraction - elapsed : 0
            let width = 24
            let filled = Int(fraction * Double(width))
            text += "  ETA \(Self.clock(remaining))  [" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
                + String(format: "%3.0f%%", fraction * 100)
        }
        text += "  imported \(counts.imported), already \(counts.alreadyImported), conflicts \(counts.conflicts), rejected \(counts.rejected)"
        if terminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
            state.withLock { $0.drawn = true }
        } else {
            FileHandle.standardError.write(Data(("import-encounters: " + text + "\n").utf8))
        }
    }

    func finish() {
        if state.withLock({ $0.drawn }) { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return String(format: "%02d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
    }
}
