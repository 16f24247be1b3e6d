import EMRTestSupport
import Foundation
import Logging
import MariaDB
import Synchronization
import Testing

extension LiveMariaDBTests {
    @Suite("Live: connections and statements", .databaseServer(.shared))
    struct Statements {
        let logger = LiveMariaDBTests.logger

        @Test func selectOverTCP() async throws {
            try await TestDatabase.withTestClient { client, name in
                let row = try #require(
                    try await client.query(
                        "SELECT DATABASE() AS db, HOST AS host FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()",
                        logger: logger
                    ).first
                )
                #expect(try row.decode("db", as: String.self) == name)
                let host = try row.decode("host", as: String.self)
                #expect(host.hasPrefix("127.0.0.1:"), "TCP connection, got host \(host)")
            }
        }

        @Test(.enabled(if: TestDatabase.socket != nil || TestDatabase.isRequired))
        func selectOverUnixSocket() async throws {
            try await TestDatabase.withTestClient(useSocket: true) { client, name in
                let row = try #require(
                    try await client.query(
                        "SELECT DATABASE() AS db, HOST AS host, \(7) + 1 AS eight FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()",
                        logger: logger
                    ).first
                )
                #expect(try row.decode("db", as: String.self) == name)
                #expect(try row.decode("host", as: String.self) == "localhost", "unix socket connection")
                #expect(try row.decode("eight", as: Int.self) == 8)
            }
        }

        @Test func affectedRowsAndLastInsertID() async throws {
            try await TestDatabase.withTestClient { client, _ in
                try await client.query("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))", logger: logger)
                try await client.withConnection(logger: logger) { connection in
                    let first = try await connection.query("INSERT INTO t (v) VALUES (\("a"))")
                    #expect(first.affectedRows == 1)
                    #expect(first.lastInsertID == 1)
                    #expect(first.rows.isEmpty)
                    let second = try await connection.query("INSERT INTO t (v) VALUES (\("b"))")
                    #expect(second.lastInsertID == 2)
                    let multi = try await connection.query("INSERT INTO t (v) VALUES (\("c")), (\("d")), (\("e"))")
                    #expect(multi.affectedRows == 3)
                    #expect(multi.lastInsertID == 3, "first id of a multi-row insert")
                    let explicit = try await connection.query("INSERT INTO t (id, v) VALUES (\(100), \("x"))")
                    #expect(explicit.lastInsertID == 100)
                    let updated = try await connection.query("UPDATE t SET v = \("z") WHERE id <= \(2)")
                    #expect(updated.affectedRows == 2)
                    #expect(updated.lastInsertID == 0)
                    let unchanged = try await connection.query("UPDATE t SET v = \("z") WHERE id <= \(2)")
                    #expect(unchanged.affectedRows == 0, "rows matched but not changed")
                    let deleted = try await connection.query("DELETE FROM t WHERE id > \(2)")
                    #expect(deleted.affectedRows == 4)
                    let none = try await connection.query("DELETE FROM t WHERE id = \(-1)")
                    #expect(none.affectedRows == 0)
                }
            }
        }

        /// Bulk execution (array binding): every type, NULLs in a typed column and in a column of NULLs only, empty text,
        /// multibyte text and bytes land exactly as single-row inserts put them; the ids are one block from
        /// `lastInsertID`; the same cached statement then runs with single values; a duplicate in the middle undoes
        /// the whole statement; mixed types in one column are refused before anything is sent.
        @Test func bulkInsertLandsEveryRowAsSingleInsertsDo() async throws {
            try await TestDatabase.withTestClient { client, _ in
                try await client.query(
                    """
                    CREATE TABLE bulk (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL UNIQUE, i BIGINT NULL, u BIGINT UNSIGNED NULL, d DOUBLE NULL,
                                       n DECIMAL(10,2) NULL, s VARCHAR(50) NULL, b VARBINARY(20) NULL, t DATETIME NULL, z VARCHAR(5) NULL)
                    """,
                    logger: logger
                )
                let when = try #require(MariaDBDateTime(parsing: "2026-12-05 10:11:12"))
                func row(_ k: Int, _ i: Int64?, _ u: UInt64?, _ d: Double?, _ n: String?, _ s: String?, _ b: [UInt8]?, _ t: MariaDBDateTime?) -> MariaDBQuery {
                    MariaDBQuery(
                        unsafeSQL: "(?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, 'x'))",
                        binds: [.int(Int64(k)), i.map { .int($0) } ?? .null, u.map { .uint($0) } ?? .null, d.map { .double($0) } ?? .null,
                                n.map { .decimal($0) } ?? .null, s.map { .text($0) } ?? .null, b.map { .bytes($0) } ?? .null,
                                t.map { .dateTime($0) } ?? .null, .null]
                    )
                }
                let rows = [
                    row(1, -5, UInt64.max, 0.25, "12.50", "plain", [0, 1, 255], when),
                    row(2, nil, nil, nil, nil, nil, nil, nil),
                    row(3, Int64.max, 0, -1e300, "-0.01", "", [], when),
                    row(4, 0, 7, 3.5, "1.00", "Zoë — 患者", [9], nil),
                ]
                let head = "INSERT INTO bulk (k, i, u, d, n, s, b, t, z) VALUES "
                try await client.withConnection(logger: logger) { connection in
                    let bulk = try await connection.query(.bulk(head, rows: rows))
                    #expect(bulk.affectedRows == 4)
                    let first = Int(bulk.lastInsertID)
                    // The same rows one by one, for comparison, through the same cached one-row statement.
                    for (index, row) in rows.enumerated() {
                        var single = MariaDBQuery(unsafeSQL: head + row.sql, binds: row.binds)
                        single.binds[0] = .int(Int64(100 + index))
                        try await connection.query(single)
                    }
                    let read = try await connection.query("SELECT id, k, i, u, d, n, s, b, t, z FROM bulk ORDER BY id").rows
                    try #require(read.count == 8)
                    #expect(try read.prefix(4).map { try $0.decode("id", as: Int.self) } == [first, first + 1, first + 2, first + 3])
                    for index in 0..<4 {
                        let (bulkRow, singleRow) = (read[index], read[index + 4])
                        #expect(try bulkRow.decode("k", as: Int.self) == index + 1)
                        #expect(try bulkRow.decode("i", as: Int64?.self) == singleRow.decode("i", as: Int64?.self))
                        #expect(try bulkRow.decode("u", as: UInt64?.self) == singleRow.decode("u", as: UInt64?.self))
                        #expect(try bulkRow.decode("d", as: Double?.self) == singleRow.decode("d", as: Double?.self))
                        #expect(try bulkRow.decode("n", as: String?.self) == singleRow.decode("n", as: String?.self))
                        #expect(try bulkRow.decode("s", as: String?.self) == singleRow.decode("s", as: String?.self))
                        #expect(try bulkRow.decode("b", as: [UInt8]?.self) == singleRow.decode("b", as: [UInt8]?.self))
                        #expect(try bulkRow.decode("t", as: MariaDBDateTime?.self) == singleRow.decode("t", as: MariaDBDateTime?.self))
                        #expect(try bulkRow.decode("z", as: String?.self) == nil)
                    }
                    #expect(try read[0].decode("u", as: UInt64.self) == UInt64.max)
                    #expect(try read[3].decode("s", as: String.self) == "Zoë — 患者")
                    #expect(try read[1].decode("s", as: String?.self) == nil && read[2].decode("s", as: String?.self) == "")

                    // A duplicate key in the third row: the statement lands not at all.
                    let clash = [row(50, 1, 1, 1, "1", "a", [1], when), row(51, 2, 2, 2, "2", "b", [2], when), row(1, 3, 3, 3, "3", "c", [3], when)]
                    let error = await #expect(throws: MariaDBError.self) { try await connection.query(.bulk(head, rows: clash)) }
                    #expect(error?.serverErrorNumber == 1062)
                    #expect(try await connection.query("SELECT COUNT(*) AS n FROM bulk WHERE k IN (50, 51)").first?.decode("n", as: Int.self) == 0)

                    // One column of two types: refused, nothing sent.
                    var mixed = rows[0]
                    mixed.binds[1] = .text("five")
                    await #expect(throws: MariaDBError.self) { try await connection.query(.bulk(head, rows: [rows[3], mixed])) }
                    #expect(try await connection.query("SELECT COUNT(*) AS n FROM bulk").first?.decode("n", as: Int.self) == 8)
                }
            }
        }

        @Test func queriesBatch() async throws {
            try await TestDatabase.withTestClient { client, _ in
                let results = try await client.withConnection(logger: logger) { connection in
                    try await connection.queries([
                        "CREATE TABLE b (id INT PRIMARY KEY)", "INSERT INTO b VALUES (\(1)), (\(2))", "SELECT COUNT(*) AS n FROM b",
                    ])
                }
                try #require(results.count == 3)
                #expect(results[1].affectedRows == 2)
                #expect(try results[2].first?.decode("n", as: Int.self) == 2)

                // Stops at the first error: the third statement never runs.
                await #expect(throws: MariaDBError.self) {
                    try await client.withConnection(logger: logger) { connection in
                        try await connection.queries(["INSERT INTO b VALUES (\(3))", "INSERT INTO b VALUES (\(1))", "INSERT INTO b VALUES (\(4))"])
                    }
                }
                let ids = try await client.query("SELECT id FROM b ORDER BY id", logger: logger).rows.map { try $0.decode("id", as: Int.self) }
                #expect(ids == [1, 2, 3])
            }
        }

        @Test func statementCacheReuseAndEviction() async throws {
            var options = TestDatabase.defaultOptions()
            options.statementCacheSize = 3
            options.maximumConnections = 1
            try await TestDatabase.withTestClient(options: options) { client, _ in
                try await client.query("CREATE TABLE c (id INT PRIMARY KEY, v INT)", logger: logger)
                try await client.withConnection(logger: logger) { connection in
                    for i in 0..<300 {
                        try await connection.query("INSERT INTO c (id, v) VALUES (\(i), \(i * 2))")
                    }
                    // More distinct statements than the cache holds, cycled: every eviction path runs.
                    for round in 0..<20 {
                        for k in 0..<5 {
                            let row = try #require(try await connection.query("SELECT v + \(unescaped: String(k)) AS r FROM c WHERE id = \(round)").first)
                            #expect(try row.decode("r", as: Int.self) == round * 2 + k)
                        }
                    }
                }
                let count = try #require(try await client.query("SELECT COUNT(*) AS n, SUM(v) AS s FROM c", logger: logger).first)
                #expect(try count.decode("n", as: Int.self) == 300)
                #expect(try count.decode("s", as: String.self) == String((0..<300).reduce(0) { $0 + $1 * 2 }))
                // The server prepared each distinct SQL text a bounded number of times on this connection.
                let prepared = try #require(try await client.query("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'", logger: logger).first)
                let prepares = Int(try prepared.decode("Value", as: String.self)) ?? .max
                #expect(prepares < 120, "statements are reused from the cache, got \(prepares) prepares")
            }
        }

        @Test func cachedStatementSurvivesAlterTable() async throws {
            var options = TestDatabase.defaultOptions()
            options.maximumConnections = 1
            try await TestDatabase.withTestClient(options: options) { client, _ in
                try await client.withConnection(logger: logger) { connection in
                    try await connection.query("CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10))")
                    try await connection.query("INSERT INTO a VALUES (\(1), \("one"))")
                    let selectStar: MariaDBQuery = "SELECT * FROM a WHERE id = \(1)"
                    let selectV: MariaDBQuery = "SELECT v FROM a WHERE id = \(1)"
                    let insert: MariaDBQuery = "INSERT INTO a (id, v) VALUES (\(2), \("two"))"
                    #expect(try await connection.query(selectStar).first?.columns.names == ["id", "v"])
                    #expect(try await connection.query(selectV).first?["v"] == .text("one"))

                    try await connection.query("ALTER TABLE a ADD COLUMN w INT NOT NULL DEFAULT 7, MODIFY v VARCHAR(40)")
                    let v = try #require(try await connection.query(selectV).first)
                    #expect(v["v"] == .text("one"))
                    let star = try #require(try await connection.query(selectStar).first)
                    #expect(star.columns.names == ["id", "v", "w"])
                    #expect(star["w"] == .int(7))
                    try await connection.query(insert)

                    try await connection.query("ALTER TABLE a DROP COLUMN w")
                    let after = try #require(try await connection.query(selectStar).first)
                    #expect(after.columns.names == ["id", "v"])
                    // Recreated table under the same name.
                    try await connection.query("DROP TABLE a")
                    try await connection.query("CREATE TABLE a (id BIGINT PRIMARY KEY, v TEXT, extra DATE)")
                    try await connection.query("INSERT INTO a (id, v) VALUES (\(1), \("uno"))")
                    let recreated = try #require(try await connection.query(selectStar).first)
                    #expect(recreated["v"] == .text("uno"))
                    #expect(recreated["extra"] == .null)
                }
            }
        }

        @Test func cachedSelectStarAfterColumnTypeChangeAndRename() async throws {
            var options = TestDatabase.defaultOptions()
            options.maximumConnections = 1
            try await TestDatabase.withTestClient(options: options) { client, _ in
                try await client.withConnection(logger: logger) { connection in
                    try await connection.query("CREATE TABLE m (id INT PRIMARY KEY, v VARCHAR(10))")
                    try await connection.query("INSERT INTO m VALUES (\(1), \("42"))")
                    let selectStar: MariaDBQuery = "SELECT * FROM m WHERE id = \(1)"
                    #expect(try await connection.query(selectStar).first?["v"] == .text("42"))
                    // Same column count, new type: the cached statement reads the new type.
                    try await connection.query("ALTER TABLE m MODIFY v BIGINT")
                    #expect(try await connection.query(selectStar).first?["v"] == .int(42))
                    // Same column count, new name.
                    try await connection.query("ALTER TABLE m CHANGE v renamed BIGINT")
                    let renamed = try #require(try await connection.query(selectStar).first)
                    #expect(renamed.values == [.int(1), .int(42)])
                    // libmariadb refreshes a cached statement's column types but not its column NAMES when the
                    // column count is unchanged (mariadb_stmt.c, stmt_read_execute_response), so a renamed column
                    // keeps its old label until the statement is evicted. Known limitation, not fixed here: if it
                    // ever starts passing, withKnownIssue fails and this note can go.
                    withKnownIssue("cached statement keeps old column names after a same-count rename") {
                        #expect(renamed.columns.names == ["id", "renamed"])
                    }
                }
            }
        }

        @Test func placeholderBindCountMismatchThrowsStatementError() async throws {
            try await TestDatabase.withTestClient { client, _ in
                try await client.withConnection(logger: logger) { connection in
                    let tooFew = try await #require(throws: MariaDBError.self) {
                        try await connection.query(MariaDBQuery(unsafeSQL: "SELECT ?, ?", binds: [.int(1)]))
                    }
                    #expect(tooFew.code == .statement)
                    #expect(!tooFew.isConnectionLost)
                    let tooMany = try await #require(throws: MariaDBError.self) {
                        try await connection.query(MariaDBQuery(unsafeSQL: "SELECT 1", binds: [.int(1)]))
                    }
                    #expect(tooMany.code == .statement)
                    // A literal `?` in SQL text without a bind.
                    await #expect(throws: MariaDBError.self) { try await connection.query("SELECT ? AS x") }
                    // The connection is still fine.
                    #expect(try await connection.query("SELECT \(5) AS x").first?["x"] == .int(5))
                    #expect(try await connection.query(MariaDBQuery(unsafeSQL: "SELECT ?, ?", binds: [.int(1), .int(2)])).rows.count == 1)
                }
                #expect(client.poolStatistics.total == 1, "the connection was not discarded")
            }
        }

        @Test func syntaxErrorSurfaces1064WithoutSQLInDescription() async throws {
            try await TestDatabase.withTestClient { client, _ in
                let error = try await #require(throws: MariaDBError.self) {
                    try await client.query("SELEC secret_column FROM patient_data WHERE lname = 'Secretname'", logger: logger)
                }
                #expect(error.serverErrorNumber == 1064)
                #expect(error.code == .server)
                #expect(error.sqlState == "42000")
                #expect(!error.description.contains("SELEC"))
                #expect(!error.description.contains("Secretname"))
                #expect(!error.description.contains("secret_column"))
                #expect(error.serverMessage != nil)
                #expect(error.query?.contains("SELEC") == true)
                #expect(!error.isConnectionLost)
                // The connection stays usable.
                #expect(try await client.query("SELECT 1 AS x", logger: logger).first?["x"] == .int(1))
                #expect(client.poolStatistics.total == 1)
            }
        }

        @Test func serverErrorsAtExecute() async throws {
            try await TestDatabase.withTestClient { client, _ in
                let missing = try await #require(throws: MariaDBError.self) { try await client.query("SELECT * FROM no_such_table", logger: logger) }
                #expect(missing.serverErrorNumber == 1146)
                try await client.query("CREATE TABLE n (id INT NOT NULL PRIMARY KEY)", logger: logger)
                let nullError = try await #require(throws: MariaDBError.self) {
                    try await client.query("INSERT INTO n (id) VALUES (\(Int?.none))", logger: logger)
                }
                #expect(nullError.serverErrorNumber == 1048)
                let decodeError = try await #require(throws: MariaDBError.self) {
                    try #require(try await client.query("SELECT 'abc' AS word", logger: logger).first).decode("word", as: Int.self)
                }
                #expect(decodeError.code == .decoding)
                #expect(decodeError.column == "word")
            }
        }

        @Test func wrongPasswordFailsWithoutLeakingIt() async throws {
            let password = "wrong-\(UUID().uuidString)"
            var options = TestDatabase.defaultOptions()
            options.leaseTimeout = 5
            let configuration = try TestDatabase.configuration(database: "", options: options, password: password)
            try await TestDatabase.withClient(configuration) { client in
                let error = try await #require(throws: MariaDBError.self) { try await client.query("SELECT 1", logger: logger) }
                #expect(error.code == .connectionFailed)
                #expect(error.serverErrorNumber == 1045)
                #expect(error.isUnavailable)
                #expect(!error.description.contains(password))
                #expect(!String(reflecting: error).contains(password))
                #expect(client.poolStatistics.total == 0, "a failed open frees its slot")
            }
        }

        @Test func unknownDatabaseFails() async throws {
            let configuration = try TestDatabase.configuration(database: "emr_t_does_not_exist_\(UInt32.random(in: 0...UInt32.max))")
            try await TestDatabase.withClient(configuration) { client in
                let error = try await #require(throws: MariaDBError.self) { try await client.query("SELECT 1", logger: logger) }
                #expect(error.code == .connectionFailed)
                #expect(error.serverErrorNumber == 1049)
            }
        }
    }

    @Suite("Live: transactions", .databaseServer(.shared))
    struct Transactions {
        let logger = LiveMariaDBTests.logger

        static func count(_ client: MariaDBClient, logger: Logger) async throws -> Int {
            try #require(try await client.query("SELECT COUNT(*) AS n FROM tx", logger: logger).first).decode("n", as: Int.self)
        }

        @Test func commitPersists() async throws {
            try await TestDatabase.withTestClient { client, _ in
                try await client.query("CREATE TABLE tx (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB", logger: logger)
                let value = try await client.withTransaction(logger: logger) { connection in
                    try await connection.query("INSERT INTO tx VALUES (\(1), \("a"))")
                    try await connection.query("INSERT INTO tx VALUES (\(2), \("b"))")
                    return try #require(try await connection.query("SELECT COUNT(*) AS n FROM tx").first).decode("n", as: Int.self)
                }
                #expect(value == 2)
                // Seen from another connection.
                let seen = try await client.withConnection(logger: logger) { _ in try await Self.count(client, logger: logger) }
                #expect(seen == 2)
            }
        }

        @Test func thrownErrorRollsBack() async throws {
            try await TestDatabase.withTestClient { client, _ in
                try await client.query("CREATE TABLE tx (id INT PRIMARY KEY) ENGINE=InnoDB", logger: logger)
                await #expect(throws: TestError.self) {
                    try await client.withTransaction(logger: logger) { connection in
                        try await connection.query("INSERT INTO tx VALUES (\(1))")
                        throw TestError()
                    }
                }
                #expect(try await Self.count(client, logger: logger) == 0)
                // The connection went back to the pool in a clean state (autocommit on again).
                try await client.withConnection(logger: logger) { connection in
                    let row = try #require(try await connection.query("SELECT @@in_transaction AS t, @@autocommit AS a").first)
                    #expect(try row.decode("t", as: Int.self) == 0)
                    #expect(try row.decode("a", as: Int.self) == 1)
                }
                #expect(client.poolStatistics.total == 1, "a rolled-back connection is reused, not discarded")
            }
        }

        @Test func duplicateKeyRollsBackEarlierInserts() async throws {
            try await TestDatabase.withTestClient { client, _ in
                try await client.query("CREATE TABLE tx (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB", logger: logger)
                try await client.query("INSERT INTO tx VALUES (\(100), \("kept"))", logger: logger)
                let error = try await #require(throws: MariaDBError.self) {
                    try await client.withTransaction(logger: logger) { connection in
                        try await connection.query("INSERT INTO tx VALUES (\(1), \("Patient Secretname"))")
                        try await connection.query("INSERT INTO tx VALUES (\(2), \("b"))")
                        try await connection.query("INSERT INTO tx VALUES (\(1), \("Patient Secretname"))")
                    }
                }
                #expect(error.isDuplicateKey)
                #expect(error.serverErrorNumber == 1062)
                #expect(!error.description.contains("Secretname"))
                let ids = try await client.query("SELECT id FROM tx ORDER BY id", logger: logger).rows.map { try $0.decode("id", as: Int.self) }
                #expect(ids == [100])
            }
        }
    }

    @Suite("Live: pool behaviour", .databaseServer(.shared))
    struct Pool {
        let logger = LiveMariaDBTests.logger

        @Test func exhaustionTimesOutWhileHoldersKeepTheirConnections() async throws {
            var options = TestDatabase.defaultOptions()
            options.maximumConnections = 2
            options.leaseTimeout = 0.3
            try await TestDatabase.withTestClient(options: options) { client, _ in
                let releaseHolders = Counter()
                let holdersFinished = Counter()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<2 {
                        group.addTask {
                            try await client.withConnection(logger: logger) { connection in
                                try await connection.query("SELECT SLEEP(0) AS s")
                                let deadline = ContinuousClock.now + .seconds(20)
                                while releaseHolders.current == 0, ContinuousClock.now < deadline {
                                    try await Task.sleep(for: .milliseconds(5))
                                }
                            }
                            holdersFinished.increment()
                        }
                    }
                    await eventually("both holders leased") { client.poolStatistics.leased == 2 }

                    let error = try await #require(throws: MariaDBError.self) { try await client.query("SELECT 1", logger: logger) }
                    #expect(error.code == .leaseTimeout)
                    #expect(error.isUnavailable)
                    #expect(holdersFinished.current == 0, "the third call gave up while the holders still held")
                    #expect(client.poolStatistics.waiters == 0)

                    releaseHolders.set(1)
                    try await group.waitForAll()
                }
                #expect(holdersFinished.current == 2)
                // Afterwards the pool works again.
                #expect(try await client.query("SELECT 2 AS x", logger: logger).first?["x"] == .int(2))
            }
        }

        @Test func exhaustionWithSleepingQueries() async throws {
            var options = TestDatabase.defaultOptions()
            options.maximumConnections = 2
            options.leaseTimeout = 0.3
            try await TestDatabase.withTestClient(options: options) { client, _ in
                let sleepersDone = Counter()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<2 {
                        group.addTask {
                            try await client.query("SELECT SLEEP(2) AS s", logger: logger)
                            sleepersDone.increment()
                        }
                    }
                    await eventually("both sleepers leased") { client.poolStatistics.leased == 2 }
                    let error = try await #require(throws: MariaDBError.self) { try await client.query("SELECT 1", logger: logger) }
                    #expect(error.code == .leaseTimeout)
                    #expect(sleepersDone.current == 0, "timed out before the SLEEP(2) holders finished")
                    try await group.waitForAll()
                }
                #expect(sleepersDone.current == 2)
            }
        }

        @Test func fiftyConcurrentQueriesThroughPoolOfFour() async throws {
            var options = TestDatabase.defaultOptions()
            options.maximumConnections = 4
            options.leaseTimeout = 30
            try await TestDatabase.withTestClient(options: options) { client, _ in
                let peak = Counter()
                let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                    for i in 0..<50 {
                        group.addTask {
                            let row = try #require(
                                try await client.query("SELECT \(i) * 2 AS doubled, SLEEP(0.01) AS s, CONNECTION_ID() AS c", logger: logger).first)
                            peak.raise(to: client.poolStatistics.total)
                            return (i, try row.decode("doubled", as: Int.self))
                        }
                    }
                    var results: [Int: Int] = [:]
                    for try await (i, doubled) in group { results[i] = doubled }
                    return results
                }
                #expect(results.count == 50)
                #expect(results.allSatisfy { $0.value == $0.key * 2 })
                #expect(peak.current <= 4)
                let statistics = client.poolStatistics
                #expect(statistics.leased == 0 && statistics.waiters == 0)
                #expect(statistics.total <= 4 && statistics.total == statistics.idle)
            }
        }

        @Test func killedConnectionIsDetectedAndReplaced() async throws {
            var options = TestDatabase.defaultOptions()
            options.maximumConnections = 1
            options.pingAfterIdle = 3600  // reuse without a ping: the query itself must notice
            try await TestDatabase.withTestClient(options: options) { client, _ in
                let before = try #require(try await client.query("SELECT CONNECTION_ID() AS id", logger: logger).first).decode("id", as: UInt64.self)
                _ = try await TestDatabase.admin { admin in try await admin.query("KILL \(unescaped: String(before))", logger: logger) }
                try await Task.sleep(for: .milliseconds(100))

                let error = try await #require(throws: MariaDBError.self) { try await client.query("SELECT 1 AS x", logger: logger) }
                #expect(error.isConnectionLost, "got \(error)")
                #expect(error.isUnavailable)
                #expect(client.poolStatistics.total == 0, "the broken connection was closed")

                let after = try #require(try await client.query("SELECT CONNECTION_ID() AS id", logger: logger).first).decode("id", as: UInt64.self)
                #expect(after != before)
            }
        }

        @Test func killedIdleConnectionIsReplacedByPing() async throws {
            var options = TestDatabase.defaultOptions()
            options.maximumConnections = 1
            options.pingAfterIdle = 0  // always ping before lending
            try await TestDatabase.withTestClient(options: options) { client, _ in
                let before = try #require(try await client.query("SELECT CONNECTION_ID() AS id", logger: logger).first).decode("id", as: UInt64.self)
                _ = try await TestDatabase.admin { admin in try await admin.query("KILL \(unescaped: String(before))", logger: logger) }
                try await Task.sleep(for: .milliseconds(100))
                // The ping notices, the pool opens a new connection, the call succeeds.
                let after = try #require(try await client.query("SELECT CONNECTION_ID() AS id", logger: logger).first).decode("id", as: UInt64.self)
                #expect(after != before)
            }
        }

        @Test func killedInsideWithConnection() async throws {
            var options = TestDatabase.defaultOptions()
            options.maximumConnections = 2
            try await TestDatabase.withTestClient(options: options) { client, _ in
                let error = try await #require(throws: MariaDBError.self) {
                    try await client.withConnection(logger: logger) { connection in
                        let id = try #require(try await connection.query("SELECT CONNECTION_ID() AS id").first).decode("id", as: UInt64.self)
                        // From the other pooled connection.
                        try await client.query("KILL \(unescaped: String(id))", logger: logger)
                        try await Task.sleep(for: .milliseconds(100))
                        try await connection.query("SELECT \(1) AS x")
                    }
                }
                #expect(error.isConnectionLost, "got \(error)")
                #expect(client.poolStatistics.total == 1, "only the killer connection is left")
                #expect(try await client.query("SELECT 3 AS x", logger: logger).first?["x"] == .int(3))
            }
        }

        @Test func killedTransactionDoesNotCommit() async throws {
            var options = TestDatabase.defaultOptions()
            options.maximumConnections = 2
            try await TestDatabase.withTestClient(options: options) { client, _ in
                try await client.query("CREATE TABLE k (id INT PRIMARY KEY) ENGINE=InnoDB", logger: logger)
                let error = try await #require(throws: MariaDBError.self) {
                    try await client.withTransaction(logger: logger) { connection in
                        try await connection.query("INSERT INTO k VALUES (\(1))")
                        let id = try #require(try await connection.query("SELECT CONNECTION_ID() AS id").first).decode("id", as: UInt64.self)
                        try await client.query("KILL \(unescaped: String(id))", logger: logger)
                        try await Task.sleep(for: .milliseconds(100))
                        try await connection.query("INSERT INTO k VALUES (\(2))")
                    }
                }
                #expect(error.isConnectionLost)
                let count = try #require(try await client.query("SELECT COUNT(*) AS n FROM k", logger: logger).first).decode("n", as: Int.self)
                #expect(count == 0)
            }
        }
    }
}
