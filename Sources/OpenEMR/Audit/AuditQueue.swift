import Foundation
public import Logging
import MariaDB
public import Metrics
public import ServiceLifecycle
import Synchronization

/// Batches audit rows for reads (`patient-record-select`) off the request path.
///
/// Requests append to an in-memory buffer (no database round trip); the service flushes it every 200 ms, or sooner
/// when 256 rows wait, in one transaction. On graceful shutdown it flushes what is left. Guarantee: rows for reads
/// that were answered may be lost only if the process is killed hard (SIGKILL, power loss) within ~200 ms of the
/// read, or while the database stays unreachable (rows are kept and retried, up to `capacity` (100,000), then the
/// oldest are dropped). Every dropped row is counted in the `emr_bridge_audit_dropped_total` metric and logged (an
/// error line with the count), and so are rows still unwritten when a graceful shutdown gives up on them. Writes are
/// never audited through this queue: their rows are written in the write's own transaction.
public final class AuditQueue: Service, Sendable {
    private let audit: AuditLogger
    private let logger: Logger
    private let buffer = Mutex<[AuditEvent]>([])
    private let wake = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    /// Read-audit rows lost: dropped when the buffer was full, or still unwritten at shutdown.
    private let dropped: Counter
    static let flushSize = 256
    /// The default most rows kept while the database is unreachable.
    public static let defaultCapacity = 100_000
    /// The most rows kept; beyond it the oldest are dropped.
    public let capacity: Int
    /// Name of the counter of lost rows (Prometheus text at `/metrics`).
    public static let droppedMetric = "emr_bridge_audit_dropped_total"

    /// - Parameters:
    ///   - capacity: the most rows kept (tests use a tiny one).
    ///   - metrics: where the `emr_bridge_audit_dropped_total` counter lives; nil means the bootstrapped
    ///     `MetricsSystem` (the registry behind `/metrics`).
    public init(audit: AuditLogger, logger: Logger, capacity: Int = AuditQueue.defaultCapacity, metrics: (any MetricsFactory)? = nil) {
        self.audit = audit
        self.logger = logger
        self.capacity = max(1, capacity)
        self.dropped = Counter(label: Self.droppedMetric, factory: metrics ?? MetricsSystem.factory)
    }

    /// Queues events; returns at once.
    public func enqueue(_ events: [AuditEvent]) {
        guard !events.isEmpty else { return }
        let (count, dropped) = buffer.withLock { buffer -> (Int, Int) in
            buffer.append(contentsOf: events)
            let overflow = max(0, buffer.count - capacity)
            if overflow > 0 { buffer.removeFirst(overflow) }
            return (buffer.count, overflow)
        }
        if dropped > 0 {
            self.dropped.increment(by: dropped)
            logger.error("audit queue full; oldest read-audit rows dropped", metadata: ["dropped": "\(dropped)", "capacity": "\(capacity)"])
        }
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
            var metadata = LogSafe.metadata(error)
            metadata["rows"] = "\(batch.count)"
            logger.warning("audit flush failed; will retry", metadata: metadata)
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
        await drain()
    }

    /// On shutdown: flushes what is left (a bounded number of attempts), then counts and logs the rows that could
    /// not be written, which are lost with the process.
    func drain(attempts: Int = 50) async {
        for _ in 0..<attempts where pending > 0 { await flush() }
        let lost = buffer.withLock { buffer -> Int in
            let count = buffer.count
            buffer.removeAll()
            return count
        }
        if lost > 0 {
            dropped.increment(by: lost)
            logger.error("audit queue stopped with read-audit rows not written; they are lost", metadata: ["dropped": "\(lost)"])
        }
    }
}
