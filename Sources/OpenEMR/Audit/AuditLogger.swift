import Foundation
public import Logging
public import MariaDB
import PasswordCrypt
import Synchronization

/// A `Mutex` in a class, so value types can share it.
final class SharedBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// One row of OpenEMR's audit log.
public struct AuditEvent: Sendable, Equatable {
    /// `login`, `logout`, `patient-record-select`, `patient-record-insert`, …
    public var event: String
    /// Shown in OpenEMR's log viewer: `Patient Demographics`, `Encounter Form`, or the event name.
    public var category: String
    /// The acting OpenEMR username (or portal login).
    public var user: String
    /// OpenEMR's `authProvider` (`groups.name`).
    public var groupName: String
    public var patientID: Int?
    public var success: Bool
    /// Plain text; stored base64-encoded as OpenEMR 8.2 does. Never holds passwords, hashes or tokens.
    public var comments: String
    /// `open-emr`, or `patient-portal` for portal patients.
    public var logFrom: String

    public init(
        event: String, category: String, user: String, groupName: String, patientID: Int? = nil, success: Bool, comments: String,
        logFrom: String = "open-emr"
    ) {
        self.event = event
        self.category = category
        self.user = user
        self.groupName = groupName
        self.patientID = patientID
        self.success = success
        self.comments = comments
        self.logFrom = logFrom
    }

    /// An event done by an identity.
    public init(_ event: String, category: String, by identity: Identity, patientID: Int?, success: Bool = true, comments: String) {
        self.init(
            event: event, category: category, user: identity.username, groupName: identity.groupName, patientID: patientID, success: success,
            comments: comments, logFrom: identity.role == .patient ? "patient-portal" : "open-emr"
        )
    }
}

/// Writes rows to OpenEMR's audit log (`log` + `log_comment_encrypt`) exactly as OpenEMR 8.2's EventAuditLogger
/// does, so that OpenEMR's own log viewer shows them and its tamper report verifies their checksums
/// (REFERENCE.md §5): local-time `date`, base64 `comments`, version 4, SHA3-512 over the 13 stored values.
public struct AuditLogger: Sendable {
    let database: MariaDBClient
    let globals: OpenEMRGlobalsCache
    let logger: Logger
    private let autoIncrementMode = SharedBox<Bool?>(nil)

    public init(database: MariaDBClient, globals: OpenEMRGlobalsCache, logger: Logger) {
        self.database = database
        self.globals = globals
        self.logger = logger
    }

    /// Writes the events on the caller's connection (inside its transaction, so they land with the change or not at
    /// all), and never leases another connection (OpenEMR's time zone is refreshed on this one when stale). One
    /// event: the `log` insert, then `log_comment_encrypt` with `LAST_INSERT_ID()`, in one hop. Batches (the
    /// read-audit queue): multi-row inserts in a few fixed sizes, when InnoDB hands out the ids of one insert as one
    /// evenly spaced run (`innodb_autoinc_lock_mode` 0 or 1, MariaDB's default); otherwise row by row. The spacing is
    /// the session's `auto_increment_increment` (more than 1 on Galera), read in the same hop as each insert.
    public func write(_ events: [AuditEvent], on connection: MariaDBConnection) async throws {
        guard !events.isEmpty else { return }
        let timeZone = try await globals.current(on: connection).timeZone
        let date = Self.localTimestamp(Date(), timeZone: timeZone)
        guard events.count > 1, try await consecutiveIDs(on: connection) else {
            try await connection.queries(Self.statements(for: events, date: date))
            return
        }
        var remaining = events[...]
        while !remaining.isEmpty {
            let size = Self.batchSizes.first { $0 <= remaining.count } ?? 1
            let chunk = Array(remaining.prefix(size))
            remaining = remaining.dropFirst(size)
            try await writeBatch(chunk, date: date, on: connection)
        }
    }

    /// The two INSERTs per event, row by row.
    static func statements(for events: [AuditEvent], date: String) -> [MariaDBQuery] {
        var queries: [MariaDBQuery] = []
        queries.reserveCapacity(events.count * 2)
        for event in events {
            let comments = Data(event.comments.utf8).base64EncodedString()
            queries.append(
                """
                INSERT INTO log (date, event, category, user, groupname, comments, user_notes, patient_id, success, crt_user, log_from, menu_item_id, ccda_doc_id)
                VALUES (\(date), \(event.event), \(event.category), \(event.user), \(event.groupName), \(comments), '', \(event.patientID), \(event.success ? 1 : 0), '', \(event.logFrom), NULL, NULL)
                """
            )
            let checksum = Self.checksum(
                date: date, event: event.event, category: event.category, user: event.user, groupName: event.groupName,
                comments: comments, patientID: event.patientID, success: event.success, logFrom: event.logFrom
            )
            queries.append(
                "INSERT INTO log_comment_encrypt (log_id, encrypt, checksum, checksum_api, version) VALUES (LAST_INSERT_ID(), 'No', \(checksum), '', 4)"
            )
        }
        return queries
    }

    /// Statement shapes stay few, so they stay in the prepared-statement cache.
    static let batchSizes = [256, 64, 16, 4, 1]

    private func writeBatch(_ events: [AuditEvent], date: String, on connection: MariaDBConnection) async throws {
        // Read audits repeat the same few comments: encode each distinct one once per batch.
        var encoded: [String: String] = [:]
        let rows = events.map { event in
            if let comments = encoded[event.comments] { return (event, comments) }
            let comments = Data(event.comments.utf8).base64EncodedString()
            encoded[event.comments] = comments
            return (event, comments)
        }
        var logInsert: MariaDBQuery =
            "INSERT INTO log (date, event, category, user, groupname, comments, user_notes, patient_id, success, crt_user, log_from, menu_item_id, ccda_doc_id) VALUES "
        for (index, (event, comments)) in rows.enumerated() {
            logInsert.append(
                "\(unescaped: index == 0 ? "" : ", ")(\(date), \(event.event), \(event.category), \(event.user), \(event.groupName), \(comments), '', \(event.patientID), \(event.success ? 1 : 0), '', \(event.logFrom), NULL, NULL)"
            )
        }
        // The ids of one multi-row insert, computed (the lock mode was checked before: it changes only with a restart).
        let results = try await connection.queries([logInsert, AutoIncrementBlock.facts])
        guard let ids = try AutoIncrementBlock.ids(of: [results[0]], facts: results[1], count: rows.count) else {
            throw OpenEMRError.inconsistent("the log rows of an audit batch were not numbered as one block")
        }
        var checksumInsert: MariaDBQuery = "INSERT INTO log_comment_encrypt (log_id, encrypt, checksum, checksum_api, version) VALUES "
        for (index, (event, comments)) in rows.enumerated() {
            let checksum = Self.checksum(
                date: date, event: event.event, category: event.category, user: event.user, groupName: event.groupName, comments: comments,
                patientID: event.patientID, success: event.success, logFrom: event.logFrom
            )
            checksumInsert.append("\(unescaped: index == 0 ? "" : ", ")(\(ids[index]), 'No', \(checksum), '', 4)")
        }
        try await connection.query(checksumInsert)
    }

    /// Whether a multi-row INSERT gets consecutive AUTO_INCREMENT ids (read once).
    private func consecutiveIDs(on connection: MariaDBConnection) async throws -> Bool {
        if let known = autoIncrementMode.withLock({ $0 }) { return known }
        let consecutive = try AutoIncrementBlock.step(from: try await connection.query(AutoIncrementBlock.facts)) != nil
        autoIncrementMode.withLock { $0 = consecutive }
        return consecutive
    }

    /// Writes the events in their own transaction.
    public func record(_ events: [AuditEvent], logger: Logger) async throws {
        try await database.withTransaction(logger: logger) { connection in
            try await write(events, on: connection)
        }
    }

    /// SHA3-512 (lowercase hex) of the plain concatenation of the 13 values as MariaDB returns them; NULL is empty.
    static func checksum(
        date: String, event: String, category: String, user: String, groupName: String, comments: String, patientID: Int?, success: Bool,
        logFrom: String
    ) -> String {
        let userNotes = "", crtUser = "", menuItemID = "", ccdaDocID = ""
        let text =
            date + event + category + user + groupName + comments + userNotes + (patientID.map(String.init) ?? "") + (success ? "1" : "0")
            + crtUser + logFrom + menuItemID + ccdaDocID
        return Digest.sha3_512Hex(text)
    }

    /// `YYYY-MM-DD HH:MM:SS` in OpenEMR's time zone (`gbl_time_zone`, UTC when unset or unknown).
    static func localTimestamp(_ date: Date, timeZone identifier: String) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: identifier.isEmpty ? "UTC" : identifier) ?? TimeZone(identifier: "UTC") ?? .current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return MariaDBDateTime(
            year: c.year ?? 1970, month: c.month ?? 1, day: c.day ?? 1, hour: c.hour ?? 0, minute: c.minute ?? 0, second: c.second ?? 0
        ).description
    }
}
