import Foundation
public import Logging
import OpenEMR

/// Log lines on standard error in the format of swift-log's `StreamLogHandler`
/// (`<time> <level> <label>: <key=value …> [<source>] <message>`), except that metadata is formatted only when a
/// line is written. `StreamLogHandler` formats on every metadata change, which every request makes (request id,
/// user) even when nothing is logged at the configured level.
public struct BridgeLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        FileHandle.standardError.write(Data(line(for: event).utf8))
    }

    /// The line written for `event` (an attached error through `LogSafe`, never its debug text).
    func line(for event: LogEvent) -> String {
        var explicit = event.metadata ?? [:]
        if let error = event.error { explicit["error"] = .string(LogSafe.text(error)) }
        return Self.format(
            level: event.level, label: label, metadata: merged(explicit), source: event.source, message: event.message, time: Self.timestamp()
        )
    }

    private func merged(_ explicit: Logger.Metadata) -> Logger.Metadata {
        var all = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { all.merge(provided) { _, new in new } }
        if !explicit.isEmpty { all.merge(explicit) { _, new in new } }
        return all
    }

    static func format(level: Logger.Level, label: String, metadata: Logger.Metadata, source: String, message: Logger.Message, time: String)
        -> String
    {
        let pretty = metadata.isEmpty ? "" : " " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(time) \(level) \(label):\(pretty) [\(source)] \(message)\n"
    }

    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        guard localtime_r(&now, &parts) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
