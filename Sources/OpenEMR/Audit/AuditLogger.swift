import Foundation
public import Logging
public import MariaDB
import PasswordCrypt

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

    public init(database: MariaDBClient, globals: OpenEMRGlobalsCache, logger: Logger) {
        self.database = database
        self.globals = globals
        self.logger = logger
    }

    /// Writes the events on the caller's connection (inside its transaction, so they land with the change or not at
    /// all), and never leases another connection (OpenEMR's time zone is refreshed on this one when stale): for each
    /// event the `log` insert, then `log_comment_encrypt` with `LAST_INSERT_ID()`, all in one hop. Writes audit one or
    /// two events; batches go through `record`.
    public func write(_ events: [AuditEvent], on connection: MariaDBConnection) async throws {
        guard !events.isEmpty else { return }
        let timeZone = try await globals.current(on: connection).timeZone
        try await connection.queries(Self.statements(for: events, date: Self.localTimestamp(Date(), timeZone: timeZone)))
    }

    /// The two INSERTs per event, row by row.
    static func statements(for events: [AuditEvent], date: String) -> [MariaDBQuery] {
        var queries: [MariaDBQuery] = []
        queries.reserveCapacity(events.count * 2)
        for event in events {
            let comments = Data(event.comments.utf8).base64EncodedString()
            queries.append("INSERT INTO log \(unescaped: logColumns) VALUES " + logRow(event, comments: comments, date: date))
            let checksum = Self.checksum(of: event, comments: comments, date: date)
            queries.append(
                "INSERT INTO log_comment_encrypt (log_id, encrypt, checksum, checksum_api, version) VALUES (LAST_INSERT_ID(), 'No', \(checksum), '', 4)"
            )
        }
        return queries
    }

    static let logColumns =
        "(date, event, category, user, groupname, comments, user_notes, patient_id, success, crt_user, log_from, menu_item_id, ccda_doc_id)"

    /// One `log` row's values: the text every row shares, so rows can go as one bulk statement.
    static func logRow(_ event: AuditEvent, comments: String, date: String) -> MariaDBQuery {
        "(\(date), \(event.event), \(event.category), \(event.user), \(event.groupName), \(comments), '', \(event.patientID), \(event.success ? 1 : 0), '', \(event.logFrom), NULL, NULL)"
    }

    /// Writes the events in their own transaction. Several (the read-audit queue's batches) go as two bulk statements
    /// (`MariaDBQuery.bulk`: one row's text, all rows' values; about half of what multi-row inserts cost the server):
    /// the `log` rows, then their `log_comment_encrypt` rows. A bulk insert's rows take their ids one by one, with
    /// other sessions' rows possibly in between, so the ids are read back: the transaction's read view is taken when it
    /// starts (`consistentSnapshot`), before the insert draws its first id, so every other row it can see was numbered
    /// before that id, and the rows it sees from that id on are exactly its own, in order. Holds in every
    /// `innodb_autoinc_lock_mode` and with any `auto_increment_increment` (Galera); the rows read back are checked
    /// against the events (count, patient, event) before anything points at them.
    public func record(_ events: [AuditEvent], logger: Logger) async throws {
        guard events.count > 1 else {
            try await database.withTransaction(logger: logger) { connection in try await write(events, on: connection) }
            return
        }
        try await database.withTransaction(logger: logger, consistentSnapshot: true) { connection in
            let timeZone = try await globals.current(on: connection).timeZone
            let date = Self.localTimestamp(Date(), timeZone: timeZone)
            // Read audits repeat the same few comments: encode each distinct one once per batch.
            var encoded: [String: String] = [:]
            let comments = events.map { event in
                if let comments = encoded[event.comments] { return comments }
                let comments = Data(event.comments.utf8).base64EncodedString()
                encoded[event.comments] = comments
                return comments
            }
            let results = try await connection.queries([
                .bulk(
                    "INSERT INTO log \(Self.logColumns) VALUES ",
                    rows: zip(events, comments).map { Self.logRow($0, comments: $1, date: date) }
                ),
                "SELECT id, event, patient_id FROM log WHERE id >= LAST_INSERT_ID() ORDER BY id LIMIT \(events.count + 1)",
            ])
            let written = results[1].rows
            guard results[0].affectedRows == UInt64(events.count), written.count == events.count,
                try zip(written, events).allSatisfy({ row, event in
                    try row.decode("event", as: String?.self) == event.event && row.decode("patient_id", as: Int?.self) == event.patientID
                })
            else {
                throw OpenEMRError.inconsistent("the log rows of an audit batch were not read back as written")
            }
            var checksums: [MariaDBQuery] = []
            checksums.reserveCapacity(events.count)
            for (index, event) in events.enumerated() {
                let checksum = Self.checksum(of: event, comments: comments[index], date: date)
                checksums.append("(\(try written[index].decode("id", as: Int.self)), 'No', \(checksum), '', 4)")
            }
            try await connection.query(
                .bulk("INSERT INTO log_comment_encrypt (log_id, encrypt, checksum, checksum_api, version) VALUES ", rows: checksums)
            )
        }
    }

    /// SHA3-512 (lowercase hex) of the plain concatenation of the 13 values as MariaDB returns them; NULL is empty.
    /// The checksum of the `log` row `logRow` writes for an event.
    static func checksum(of event: AuditEvent, comments: String, date: String) -> String {
        checksum(
            date: date, event: event.event, category: event.category, user: event.user, groupName: event.groupName, comments: comments,
            patientID: event.patientID, success: event.success, logFrom: event.logFrom
        )
    }

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
