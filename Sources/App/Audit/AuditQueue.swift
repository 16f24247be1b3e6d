import Foundation
public import Logging
import MariaDB
public import ServiceLifecycle
import Synchronization

/// Batches audit rows for reads (`patient-record-select`) off the request path.
///
/// Requests append to an in-memory buffer (no database round trip); the service flushes it every 200 ms, or sooner
/// when 256 rows wait, in one transaction. On graceful shutdown it flushes what is left. Guarantee: rows for reads
/// that were answered may be lost only if the process is killed hard (SIGKILL, power loss) within ~200 ms of the
/// read, or while the database stays unreachable (rows are kept and retried, up to 100,000, then dropped with an
/// error log and the `emr_bridge_audit_dropped_total` metric). Writes are never audited through this queue: their
/// rows are written in the write's own transaction.
public final class AuditQueue: Service, Sendable {
    private let audit: AuditLogger
    private let logger: Logger
    private let buffer = Mutex<[AuditEvent]>([])
    private let wake = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    static let flushSize = 256
    static let capacity = 100_000

    public init(audit: AuditLogger, logger: Logger) {
        self.audit = audit
        self.logger = logger
    }

    /// Queues events; returns at once.
    public func enqueue(_ events: [AuditEvent]) {
        guard !events.isEmpty else { return }
        let (count, dropped) = buffer.withLock { buffer -> (Int, Int) in
            buffer.append(contentsOf: events)
            let overflow = max(0, buffer.count - Self.capacity)
            if overflow > 0 { buffer.removeFirst(overflow) }
            return (buffer.count, overflow)
        }
        if dropped > 0 { logger.error("audit queue full; oldest read-audit rows dropped", metadata: ["dropped": "\(dropped)"]) }
        if count >= Self.flushSize { wake.continuation.yield() }
    }

    /// Rows waiting to be written.
    public var pending: Int { buffer.withLock { $0.count } }

    /// Writes everything queued so far (also used by tests).
    public func flush() async {
        let batch = buffer.withLock { buffer -> [AuditEvent] in
            let batch = Array(buffer.prefix(2000))
            buffer.removeFirst(batch.count)
            return batch
        }
        guard !batch.isEmpty else { return }
        do {
            try await audit.record(batch, logger: logger)
        } catch {
            logger.warning("audit flush failed; will retry", metadata: ["error": "\(error)", "rows": "\(batch.count)"])
            buffer.withLock { $0.insert(contentsOf: batch, at: 0) }
        }
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                // A wake may be stale (buffered while a flush ran): flush only full batches here; the timer takes the rest.
                for await _ in self.wake.stream.cancelOnGracefulShutdown() where self.pending >= Self.flushSize { await self.flush() }
            }
            group.addTask {
                while true {
                    do { try await Task.sleep(for: .milliseconds(200)) } catch { break }
                    await self.flush()
                    if Task.isShuttingDownGracefully { break }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        // Drain what is left, bounded.
        for _ in 0..<50 where pending > 0 { await flush() }
    }
}
