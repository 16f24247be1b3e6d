import Foundation
public import Logging
public import MariaDB
public import ServiceLifecycle

/// The bridge's patient search index (issue 18): `mmt_patient_search`, a narrow copy of the searched columns of
/// OpenEMR's `patient_data` (same values, same collations, phones as digits), and `mmt_patient_phone_suffixes`, every
/// 3+-digit suffix of those phones. `refresh` is the one definition of what the copy holds; it is called by the API's
/// own patient writes (inside their transaction), by the catch-up reader (rows OpenEMR or anyone else changed, found
/// through `patient_data.last_updated`), by the reconciler (rows deleted behind the bridge's back) and by `rebuild`.
public struct PatientSearchIndex: Sendable {
    let database: MariaDBClient
    /// OpenEMR's time zone (`gbl_time_zone`): the clock its `last_updated` values are written in.
    let globals: OpenEMRGlobalsCache?

    public init(database: MariaDBClient, globals: OpenEMRGlobalsCache? = nil) {
        self.database = database
        self.globals = globals
    }

    /// The database's "now" on the clock OpenEMR writes `last_updated` with: OpenEMR sets its MariaDB session to the
    /// offset of `gbl_time_zone` when that is set, and otherwise leaves the server's default, as this connection has.
    func openEMRNow(on connection: MariaDBConnection) async throws -> String {
        let zone = try await globals?.current(on: connection).timeZone ?? ""
        if !zone.isEmpty, let timeZone = TimeZone(identifier: zone) {
            let seconds = timeZone.secondsFromGMT(for: Date())
            let sign = seconds < 0 ? "-" : "+"
            let offset = String(format: "%@%02d:%02d", sign, abs(seconds) / 3600, abs(seconds) % 3600 / 60)
            if let now = try await connection.query(
                "SELECT CAST(CONVERT_TZ(NOW(), @@session.time_zone, \(offset)) AS CHAR) AS now"
            ).first?.decode("now", as: String?.self) {
                return now
            }
        }
        return try await connection.query("SELECT CAST(NOW() AS CHAR) AS now").first?.decode("now", as: String.self) ?? "1970-01-01 00:00:00"
    }

    /// The copy's columns and the `patient_data` expressions they hold.
    static let columns: [(copy: String, source: String)] = [
        ("pid", "pid"), ("fname", "fname"), ("lname", "lname"), ("mname", "mname"), ("pubpid", "pubpid"), ("email", "email"),
        ("phone_home", "REGEXP_REPLACE(phone_home, '[^0-9]', '')"), ("phone_cell", "REGEXP_REPLACE(phone_cell, '[^0-9]', '')"),
        ("DOB", "DOB"), ("sex", "sex"), ("date_created", "date"),
    ]

    /// The optional index on OpenEMR's table that makes "rows changed since" a range read instead of a full scan.
    public static let freshnessIndexName = "mmt_patient_data_last_updated"

    /// Rewrites the copy of the patients whose `pid` satisfies `scope` (a condition on `pid` alone) from `patient_data`:
    /// deleted patients disappear, new ones appear. Runs on the caller's connection, inside the caller's transaction.
    public static func refresh(where scope: MariaDBQuery, on connection: MariaDBConnection) async throws {
        let copyColumns = columns.map(\.copy).joined(separator: ", ")
        let sourceColumns = columns.map(\.source).joined(separator: ", ")
        try await connection.query("DELETE FROM mmt_patient_phone_suffixes WHERE \(fragment: scope)")
        try await connection.query("DELETE FROM mmt_patient_search WHERE \(fragment: scope)")
        try await connection.query(
            "INSERT INTO mmt_patient_search (\(unescaped: copyColumns)) SELECT \(unescaped: sourceColumns) FROM patient_data WHERE \(fragment: scope)"
        )
        var suffixes: MariaDBQuery = "INSERT IGNORE INTO mmt_patient_phone_suffixes (suffix, pid) "
        suffixes.append(
            "SELECT SUBSTRING(phone_home, n.n), pid FROM mmt_patient_search JOIN mmt_search_positions n ON n.n <= CHAR_LENGTH(phone_home) - 2 WHERE \(fragment: scope)"
        )
        suffixes.append(
            " UNION ALL SELECT SUBSTRING(phone_cell, n.n), pid FROM mmt_patient_search JOIN mmt_search_positions n ON n.n <= CHAR_LENGTH(phone_cell) - 2 WHERE \(fragment: scope)"
        )
        try await connection.query(suffixes)
    }

    /// `refresh` of some pids.
    public static func refresh(pids: [Int], on connection: MariaDBConnection) async throws {
        guard !pids.isEmpty else { return }
        try await refresh(where: "pid IN (\(paddedList: pids))", on: connection)
    }

    // MARK: State

    public struct State: Sendable {
        public var built: Bool
        /// Whether the three-character prefix columns (migration 0009) exist, in collations that compare one character
        /// at a time (the `_general_` ones and `_bin`), so that `prefix = LEFT(word, 3)` holds for every row whose column
        /// is `LIKE 'word%'`: then `PatientSearch` may walk those columns' indexes.
        public var prefixes: Bool
    }

    /// Whether the copy is complete and usable (nil when the tables do not exist: migrations not applied).
    public func state(logger: Logger) async throws -> State? {
        do {
            guard let row = try await database.query(
                """
                SELECT built_at IS NOT NULL AS built,
                  (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'mmt_patient_search'
                     AND COLUMN_NAME IN ('fname3', 'lname3', 'mname3', 'pubpid3', 'email3')
                     AND (COLLATION_NAME LIKE '%\\_general\\_ci' OR COLLATION_NAME LIKE '%\\_general\\_nopad\\_ci'
                          OR COLLATION_NAME LIKE '%\\_bin' OR COLLATION_NAME LIKE '%\\_nopad\\_bin')) = 5 AS prefixes
                FROM mmt_patient_search_state WHERE id = 1
                """, logger: logger
            ).first else { return nil }
            return State(built: try row.decode("built", as: Int.self) == 1, prefixes: try row.decode("prefixes", as: Int.self) == 1)
        } catch let error as MariaDBError where error.serverErrorNumber == 1146 {
            return nil
        }
    }

    // MARK: Build and catch-up

    /// The named lock that lets one process at a time build or catch up the copy.
    static let lockName = "mmt_patient_search_sync"

    /// Builds the whole copy from `patient_data`, in pid ranges of `chunk` patients (each its own short transaction), then
    /// marks it usable; until then, searches use the straightforward query. Changes made while it runs are read by the
    /// next catch-up (the watermark is taken before the first chunk). Holds the sync lock (waiting for it up to
    /// `wait` seconds); `force: false` builds only when no one has built it yet. Returns the patients copied (nil: not
    /// built because it already was).
    @discardableResult
    public func rebuild(force: Bool = true, chunk: Int = 5000, wait: Int = 3600, logger: Logger) async throws -> Int? {
        try await database.withConnection(logger: logger) { connection in
            try await connection.withNamedLock(Self.lockName, timeout: wait, busy: { OpenEMRError.busy }) { () -> Int? in
                if !force, try await connection.query("SELECT built_at IS NOT NULL AS b FROM mmt_patient_search_state WHERE id = 1").first?.decode("b", as: Int.self) == 1 {
                    return nil
                }
                let watermark = try await openEMRNow(on: connection)
                try await connection.query("UPDATE mmt_patient_search_state SET built_at = NULL WHERE id = 1")
                // Emptied by TRUNCATE: a DELETE of millions of rows would run for minutes in one transaction.
                try await connection.query("TRUNCATE TABLE mmt_patient_phone_suffixes")
                try await connection.query("TRUNCATE TABLE mmt_patient_search")
                var after = Int.min
                var total = 0
                while true {
                    let pids = try await connection.query(
                        "SELECT pid FROM patient_data WHERE pid > \(after) ORDER BY pid LIMIT \(chunk)"
                    ).rows.map { try $0.decode("pid", as: Int.self) }
                    guard let first = pids.first, let last = pids.last else { break }
                    try await Self.retryingDeadlocks {
                        try await connection.withTransaction { connection in
                            try await Self.refresh(where: "pid BETWEEN \(first) AND \(last)", on: connection)
                        }
                    }
                    total += pids.count
                    after = last
                    if pids.count < chunk { break }
                }
                try await connection.query(
                    "UPDATE mmt_patient_search_state SET built_at = NOW(), synced_until = \(watermark), reconciled_at = NOW() WHERE id = 1"
                )
                logger.info("patient search index built", metadata: ["patients": "\(total)"])
                return total
            }
        }
    }

    /// Reads into the copy every patient whose `last_updated` is at most `lookback` seconds older than the previous
    /// round's start (on OpenEMR's clock; transactions that commit up to `lookback` seconds after they wrote are seen)
    /// and whose copy differs from it byte for byte; then records this round's start. A bulk load leaves the window
    /// `lookback` seconds after it ends, so the steady cost is the patients changed in the last `lookback` seconds.
    /// Returns how many patients were refreshed.
    @discardableResult
    public func catchUp(lookback: Int, batch: Int = 2000, logger: Logger) async throws -> Int {
        try await database.withConnection(logger: logger) { connection in
            guard let since = try await connection.query(
                "SELECT CAST(synced_until AS CHAR) AS w FROM mmt_patient_search_state WHERE id = 1 AND built_at IS NOT NULL"
            ).first?.decode("w", as: String?.self) else { return 0 }
            let now = try await openEMRNow(on: connection)
            var differs: [String] = ["s.pid IS NULL"]
            for (copy, source) in Self.columns where copy != "pid" {
                let left = source.hasPrefix("REGEXP") ? source.replacingOccurrences(of: "(phone_", with: "(p.phone_") : "p.\(source)"
                differs.append("NOT (BINARY \(left) <=> BINARY s.\(copy))")
            }
            var total = 0
            var after = Int.min
            while true {
                let pids = try await connection.query(
                    """
                    SELECT p.pid AS pid FROM patient_data p LEFT JOIN mmt_patient_search s ON s.pid = p.pid
                    WHERE p.last_updated >= \(since) - INTERVAL \(lookback) SECOND AND p.pid > \(after)
                      AND (\(unescaped: differs.joined(separator: " OR ")))
                    ORDER BY p.pid LIMIT \(batch)
                    """
                ).rows.map { try $0.decode("pid", as: Int.self) }
                guard let last = pids.last else { break }
                try await Self.retryingDeadlocks {
                    try await connection.withTransaction { try await Self.refresh(pids: pids, on: $0) }
                }
                total += pids.count
                after = last
                if pids.count < batch { break }
            }
            // Always this round's start, even backwards (OpenEMR's time zone setting changed): a value ahead of OpenEMR's
            // clock would hide its changes.
            try await connection.query("UPDATE mmt_patient_search_state SET synced_until = \(now) WHERE id = 1")
            return total
        }
    }

    /// Removes from the copy the patients deleted from `patient_data` behind the bridge's back (OpenEMR rarely deletes
    /// patients; the bridge's own delete refreshes the copy itself). Returns how many were removed.
    @discardableResult
    public func reconcileDeleted(batch: Int = 2000, logger: Logger) async throws -> Int {
        try await database.withConnection(logger: logger) { connection in
            var total = 0
            while true {
                let pids = try await connection.query(
                    "SELECT s.pid AS pid FROM mmt_patient_search s LEFT JOIN patient_data p ON p.pid = s.pid WHERE p.pid IS NULL LIMIT \(batch)"
                ).rows.map { try $0.decode("pid", as: Int.self) }
                guard !pids.isEmpty else { break }
                try await Self.retryingDeadlocks {
                    try await connection.withTransaction { try await Self.refresh(pids: pids, on: $0) }
                }
                total += pids.count
                if pids.count < batch { break }
            }
            try await connection.query("UPDATE mmt_patient_search_state SET reconciled_at = NOW() WHERE id = 1")
            return total
        }
    }

    static func retryingDeadlocks(_ body: () async throws -> Void) async throws {
        for attempt in 1...5 {
            do {
                return try await body()
            } catch let error as MariaDBError where error.isRetryableTransactionError && attempt < 5 {
                try await Task.sleep(for: .milliseconds(10 * attempt))
            }
        }
    }

    // MARK: The optional index on patient_data

    /// Whether `patient_data` has the freshness index.
    public func hasFreshnessIndex(logger: Logger) async throws -> Bool {
        try await database.query(
            """
            SELECT COUNT(*) AS n FROM information_schema.STATISTICS
            WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'patient_data' AND INDEX_NAME = \(Self.freshnessIndexName)
            """, logger: logger
        ).first?.decode("n", as: Int.self) ?? 0 > 0
    }

    /// Adds (`true`) or removes (`false`) the freshness index on `patient_data.last_updated`. Online (no table lock).
    public func setFreshnessIndex(_ present: Bool, logger: Logger) async throws {
        let exists = try await hasFreshnessIndex(logger: logger)
        if present && !exists {
            try await database.query(
                "ALTER TABLE patient_data ADD INDEX \(unescaped: Self.freshnessIndexName) (last_updated), ALGORITHM=INPLACE, LOCK=NONE", logger: logger
            )
        } else if !present && exists {
            try await database.query("ALTER TABLE patient_data DROP INDEX \(unescaped: Self.freshnessIndexName)", logger: logger)
        }
    }
}

/// Keeps the search copy fresh: builds it when it is missing, then every `interval` reads the patients changed since the
/// watermark (OpenEMR's own edits show up in the search within about `interval`), every `sweepInterval` looks back a day
/// (writers whose session time zone runs behind the watermark's) and removes patients deleted behind the bridge's back.
/// Every replica runs it; a named lock lets one of them work at a time.
public struct PatientSearchSync: Service {
    let index: PatientSearchIndex
    let database: MariaDBClient
    let interval: Duration
    let sweepInterval: Duration
    let logger: Logger
    /// The regular lookback behind the watermark: transactions that commit up to this long after they wrote are still
    /// seen by the next round (and every row changed this long before the newest change is compared again each round,
    /// so it stays short: after a bulk load of patients the comparisons are bounded by what was loaded in that time).
    static let lookback = 30
    /// The sweep's lookback: a day and a bit, more than any difference between two session time zones (a writer whose
    /// session runs on another clock than OpenEMR's).
    static let sweepLookback = 26 * 3600

    public init(index: PatientSearchIndex, database: MariaDBClient, interval: Duration, sweepInterval: Duration = .seconds(600), logger: Logger) {
        self.index = index
        self.database = database
        self.interval = interval
        self.sweepInterval = sweepInterval
        self.logger = logger
    }

    public func run() async throws {
        let clock = ContinuousClock()
        var lastSweep = clock.now
        while !Task.isShuttingDownGracefully {
            let sweep = clock.now - lastSweep >= sweepInterval
            if await step(sweep: sweep), sweep { lastSweep = clock.now }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
        }
    }

    /// One round: build the copy when no one has, else (under the named lock, skipped when another replica holds it)
    /// catch up and, with `sweep`, look back a day and remove deleted patients. False when it did nothing.
    @discardableResult
    public func step(sweep: Bool) async -> Bool {
        do {
            guard let state = try await index.state(logger: logger) else { return false }
            if !state.built {
                return try await index.rebuild(force: false, wait: 0, logger: logger) != nil
            }
            return try await database.withConnection(logger: logger) { connection in
                // Another replica holding the lock is doing this round: skip it (busy → false below).
                try await connection.withNamedLock(PatientSearchIndex.lockName, timeout: 0, busy: { OpenEMRError.busy }) {
                    let changed = try await index.catchUp(lookback: sweep ? Self.sweepLookback : Self.lookback, logger: logger)
                    if changed > 0 { logger.debug("patient search index caught up", metadata: ["patients": "\(changed)"]) }
                    if sweep { try await index.reconcileDeleted(logger: logger) }
                    return true
                }
            }
        } catch let error as OpenEMRError where error.kind == .unavailable {
            return false  // another process holds the lock (building or catching up)
        } catch {
            logger.warning("patient search index sync failed; will retry", metadata: ["error_kind": "\(type(of: error))"])
            return false
        }
    }
}
