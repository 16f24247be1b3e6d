import Foundation
import Logging
import MariaDB
import Prometheus
import Synchronization
import Testing

@testable import App
@testable import OpenEMR

/// Log lines as `BridgeLogHandler` writes them, kept in memory.
final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])

    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
    var text: String { all.joined() }

    /// A logger at `trace` writing here through `BridgeLogHandler.line(for:)`.
    func logger(_ label: String = "test") -> Logger {
        var logger = Logger(label: label) { label in CapturingLogHandler(inner: BridgeLogHandler(label: label), store: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    var inner: BridgeLogHandler
    let store: CapturedLogs

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }
    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) { store.append(inner.line(for: event)) }
}

/// Issue 13: read-audit rows that are lost are counted (`emr_bridge_audit_dropped_total`) and logged.
@Suite struct AuditQueueTests {
    /// A client whose every connection attempt is refused at once (nothing listens on port 1).
    static func unreachable() -> MariaDBConfiguration {
        var options = MariaDBConfiguration.Options()
        options.connectTimeout = 1
        options.maximumConnections = 1
        options.leaseTimeout = 1
        return MariaDBConfiguration(host: "127.0.0.1", port: 1, username: "nobody", password: "x", database: "none", tls: .disabled, options: options)
    }

    static func event(_ pid: Int) -> AuditEvent {
        AuditEvent(event: "patient-record-select", category: "Patient Demographics", user: "drsmith", groupName: "Default", patientID: pid, success: true, comments: "read")
    }

    static func metric(_ registry: PrometheusCollectorRegistry) -> String? {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(AuditQueue.droppedMetric + " ") }.map(String.init)
    }

    @Test func overflowIsCountedInTheMetricAndLogged() async throws {
        let logs = CapturedLogs()
        let registry = PrometheusCollectorRegistry()
        try await MariaDBClient.withClient(configuration: Self.unreachable(), logger: logs.logger()) { client in
            let audit = AuditLogger(database: client, globals: OpenEMRGlobalsCache(database: client), logger: logs.logger())
            let queue = AuditQueue(audit: audit, logger: logs.logger(), capacity: 3, metrics: PrometheusMetricsFactory(registry: registry))
            // Registered (at 0) before anything is dropped, so /metrics always shows it.
            #expect(Self.metric(registry) == "emr_bridge_audit_dropped_total 0")
            queue.enqueue((1...5).map(Self.event))
            #expect(queue.pending == 3)
            #expect(Self.metric(registry) == "emr_bridge_audit_dropped_total 2")
            queue.enqueue([Self.event(6)])
            #expect(Self.metric(registry) == "emr_bridge_audit_dropped_total 3")
        }
        let dropLines = logs.all.filter { $0.contains("audit queue full") }
        #expect(dropLines.count == 2)
        #expect(dropLines.first?.contains("dropped=2") == true)
        #expect(dropLines.first?.contains(" error ") == true)
    }

    @Test func rowsStillPendingAtShutdownAreCountedAndLogged() async throws {
        let logs = CapturedLogs()
        let registry = PrometheusCollectorRegistry()
        try await MariaDBClient.withClient(configuration: Self.unreachable(), logger: logs.logger()) { client in
            let audit = AuditLogger(database: client, globals: OpenEMRGlobalsCache(database: client), logger: logs.logger())
            let queue = AuditQueue(audit: audit, logger: logs.logger(), metrics: PrometheusMetricsFactory(registry: registry))
            queue.enqueue((1...7).map(Self.event))
            await queue.drain(attempts: 2)
            #expect(queue.pending == 0)
        }
        #expect(Self.metric(registry) == "emr_bridge_audit_dropped_total 7")
        let lost = logs.all.filter { $0.contains("not written") }
        #expect(lost.count == 1)
        #expect(lost.first?.contains("dropped=7") == true)
        // The failed flushes were logged too, by error kind only.
        #expect(logs.all.contains { $0.contains("audit flush failed") && $0.contains("connectionFailed") })
    }
}
