import Foundation
public import Logging
public import MariaDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A request body on its way to disk: the import endpoint streams the body into a temporary file (memory stays
/// flat), then the run reads it from there in the background.
public final class ImportSpool: @unchecked Sendable {
    public let path: String
    private var handle: FileHandle?
    public private(set) var bytesWritten = 0

    /// A new temporary file (mode 0600) in the system's temporary folder.
    public init() throws {
        var template = Array((NSTemporaryDirectory() + "/emr-bridge-import-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw ImportError.failed("cannot create a temporary file for the import") }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    public func write(_ bytes: some Sequence<UInt8>) throws {
        let data = Data(bytes)
        bytesWritten += data.count
        try handle?.write(contentsOf: data)
    }

    public func close() throws {
        try handle?.close()
        handle = nil
    }

    /// Closes and deletes the file.
    public func discard() {
        try? close()
        unlink(path)
    }
}

/// The import behind `POST /api/encounters/import/`: a run row in `mmt_import_runs` (queued, running, finished or
/// failed, with its counts and first rejected rows), the import itself in the background, and the reads any replica
/// answers from that table.
public struct EncounterImportService: Sendable {
    let database: MariaDBClient
    let audit: AuditLogger
    let logger: Logger
    public let store: ImportRunStore

    public init(database: MariaDBClient, audit: AuditLogger, logger: Logger) {
        self.database = database
        self.audit = audit
        self.logger = logger
        store = ImportRunStore(database: database)
    }

    /// Starts a run on a spooled body (closed): checks the options and, for CSV, the header (400 before anything is
    /// queued), records the run as `queued`, and imports in the background. Returns the run's id. The spool's file
    /// is deleted when the run ends (or here, when it cannot start).
    public func submit(_ spool: ImportSpool, options: EncounterImportOptions, identity: Identity, logger: Logger) async throws -> Int {
        guard identity.isAdmin else {
            spool.discard()
            throw OpenEMRError.forbidden()
        }
        let problems = options.problems()
        guard problems.isEmpty else {
            spool.discard()
            throw OpenEMRError.validation(problems)
        }
        do {
            let source = try ByteSource(path: spool.path)
            if try source.peek() == nil { throw ImportError.unreadable("the request body is empty") }
            _ = try options.format.reader(source)
        } catch let error as ImportError {
            spool.discard()
            throw OpenEMRError.validation(["body": error.description], message: "The request body cannot be imported.")
        }
        let id: Int
        do {
            id = try await store.create(
                source: options.source, format: options.format, origin: "api", dryRun: options.dryRun, strict: options.strict,
                createdBy: identity.username, bytesTotal: spool.bytesWritten, running: false, logger: logger
            )
        } catch {
            spool.discard()
            throw error
        }
        let service = self
        Task.detached {
            await service.execute(id, spool: spool, options: options, identity: identity)
        }
        return id
    }

    private func execute(_ id: Int, spool: ImportSpool, options: EncounterImportOptions, identity: Identity) async {
        defer { spool.discard() }
        let progress = ImportProgress()
        let store = self.store, logger = self.logger
        do {
            try await store.start(id, logger: logger)
            let saver = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    if Task.isCancelled { break }
                    try? await store.update(id, counts: progress.counts, logger: logger)
                }
            }
            defer { saver.cancel() }
            let path = spool.path
            let summary = try await EncounterImporter(database: database, audit: audit, logger: logger).run(
                open: { try ByteSource(path: path) }, options: options, identity: identity, runID: options.dryRun ? 0 : id, progress: progress,
                report: { rejections in try await store.record(id, rejections: rejections, logger: logger) }
            )
            saver.cancel()
            try await store.finish(
                id, counts: summary.counts, error: nil, logger: logger
            )
        } catch {
            logger.error("import run failed", metadata: LogSafe.metadata(error).merging(["import_run": "\(id)"]) { a, _ in a })
            let reason: String
            switch error {
            case let error as ImportError: reason = error.description
            case let error as OpenEMRError: reason = error.message
            default: reason = "failed: \(LogSafe.text(error))"
            }
            try? await store.finish(id, counts: progress.counts, error: reason, logger: logger)
        }
    }

    public func list(page: PageRequest, logger: Logger) async throws -> (count: Int, page: PageRequest, items: [ImportRun]) {
        try await store.list(page: page, logger: logger)
    }

    public func find(_ id: Int, logger: Logger) async throws -> ImportRun {
        guard let run = try await store.find(id, logger: logger) else { throw OpenEMRError.notFound() }
        return run
    }
}
