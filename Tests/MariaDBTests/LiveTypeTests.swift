import EMRTestSupport
import Foundation
import Logging
import MariaDB
import Testing

extension LiveMariaDBTests {
    @Suite("Live: type round trips", .databaseServer(.shared))
    struct TypeRoundTrip {
        let logger = LiveMariaDBTests.logger

        static let createTable: MariaDBQuery = """
            CREATE TABLE types (
              id INT NOT NULL PRIMARY KEY,
              ti TINYINT NULL, tiu TINYINT UNSIGNED NULL, si SMALLINT NULL, siu SMALLINT UNSIGNED NULL,
              i INT NULL, iu INT UNSIGNED NULL, bi BIGINT NULL, biu BIGINT UNSIGNED NULL,
              dec12 DECIMAL(12,2) NULL, dbl DOUBLE NULL, flt FLOAT NULL,
              vc VARCHAR(255) NULL, tx TEXT NULL, ltx LONGTEXT NULL, ch CHAR(10) NULL, en ENUM('active','inactive','') NULL,
              d DATE NULL, dt DATETIME NULL, dt6 DATETIME(6) NULL, ts TIMESTAMP NULL DEFAULT NULL,
              tm TIME NULL, tm6 TIME(6) NULL, uuid BINARY(16) NULL, bl BLOB NULL
            ) ENGINE=InnoDB
            """

        static let columns = [
            "ti", "tiu", "si", "siu", "i", "iu", "bi", "biu", "dec12", "dbl", "flt", "vc", "tx", "ltx", "ch", "en", "d", "dt", "dt6", "ts",
            "tm", "tm6", "uuid", "bl",
        ]

        /// One row of values in `columns` order.
        static func insert(id: Int, _ values: [MariaDBValue]) -> MariaDBQuery {
            precondition(values.count == columns.count)
            return MariaDBQuery(
                unsafeSQL: "INSERT INTO types (id, \(columns.joined(separator: ", "))) VALUES (?\(String(repeating: ", ?", count: columns.count)))",
                binds: [.int(Int64(id))] + values
            )
        }

        static func select(id: Int) -> MariaDBQuery {
            "SELECT \(unescaped: columns.joined(separator: ", ")) FROM types WHERE id = \(id)"
        }

        @Test func minimumValues() async throws {
            let uuid = UUID()
            let minimum: [MariaDBValue] = [
                .int(-128), .uint(0), .int(-32768), .uint(0), .int(Int64(Int32.min)), .uint(0), .int(.min), .uint(0),
                .decimal("-9999999999.99"), .double(-1.7976931348623157e308), .double(-2.25),
                .text(""), .text(""), .text(""), .text(""), .text(""),
                .dateTime(.date(year: 1000, month: 1, day: 1)), .dateTime(MariaDBDateTime(year: 1000, month: 1, day: 1)),
                .dateTime(MariaDBDateTime(year: 1000, month: 1, day: 1, microsecond: 1)),
                .dateTime(MariaDBDateTime(year: 1970, month: 1, day: 2)),
                .time(MariaDBTime(negative: true, hours: 838, minutes: 59, seconds: 59)),
                .time(MariaDBTime(negative: true, hours: 12, minutes: 30, seconds: 15, microseconds: 500)),
                uuid.mariaDBValue, .bytes([]),
            ]
            try await TestDatabase.withTestClient { client, _ in
                try await client.withConnection(logger: logger) { connection in
                    try await connection.query(Self.createTable)
                    try await connection.query("SET SESSION time_zone = '+00:00'")
                    let inserted = try await connection.query(Self.insert(id: 1, minimum))
                    #expect(inserted.affectedRows == 1)
                    let row = try #require(try await connection.query(Self.select(id: 1)).first)
                    for (index, column) in Self.columns.enumerated() where column != "en" {
                        #expect(row[column] == minimum[index], "\(column)")
                    }
                    #expect(row["en"] == .text(""))
                    #expect(try row.decode("ti", as: Int.self) == -128)
                    #expect(try row.decode("bi", as: Int64.self) == .min)
                    #expect(try row.decode("uuid", as: UUID.self) == uuid)
                    #expect(try row.decode("tm", as: MariaDBTime.self).description == "-838:59:59")
                    #expect(try row.decode("tm6", as: String.self) == "-12:30:15.000500")
                    #expect(try row.decode("bl", as: [UInt8].self) == [])
                    #expect(try row.decode("vc", as: String.self) == "")
                }
            }
        }

        @Test func maximumValues() async throws {
            let uuid = UUID(uuidString: "FFEEDDCC-BBAA-9988-7766-554433221100")!
            let blob: [UInt8] = [0, 1, 0, 255, 0, 0x27, 0x5C, 0] + (0..<1000).map { UInt8($0 % 256) }
            let maximum: [MariaDBValue] = [
                .int(127), .uint(255), .int(32767), .uint(65535), .int(Int64(Int32.max)), .uint(UInt64(UInt32.max)), .int(.max),
                .uint(.max),
                .decimal("9999999999.99"), .double(3.141592653589793), .double(1.5),
                .text("Nguyễn Văn Ánh — Trần Thị Bích 😀"), .text("Ghi chú: bệnh nhân đã khỏi. 😀👍🏽"), .text("x"),
                .text("ABCDEFGHIJ"), .text("inactive"),
                .dateTime(.date(year: 9999, month: 12, day: 31)),
                .dateTime(MariaDBDateTime(year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59)),
                .dateTime(MariaDBDateTime(year: 2024, month: 2, day: 29, hour: 13, minute: 14, second: 15, microsecond: 123_456)),
                .dateTime(MariaDBDateTime(year: 2038, month: 1, day: 19, hour: 3, minute: 14, second: 7)),
                .time(MariaDBTime(hours: 838, minutes: 59, seconds: 59)),
                .time(MariaDBTime(hours: 100, minutes: 0, seconds: 1, microseconds: 999_999)),
                uuid.mariaDBValue, .bytes(blob),
            ]
            try await TestDatabase.withTestClient { client, _ in
                try await client.withConnection(logger: logger) { connection in
                    try await connection.query(Self.createTable)
                    try await connection.query("SET SESSION time_zone = '+00:00'")
                    try await connection.query(Self.insert(id: 2, maximum))
                    let row = try #require(try await connection.query(Self.select(id: 2)).first)
                    for (index, column) in Self.columns.enumerated() {
                        #expect(row[column] == maximum[index], "\(column)")
                    }
                    #expect(try row.decode("biu", as: UInt64.self) == UInt64.max)
                    #expect(throws: MariaDBError.self) { try row.decode("biu", as: Int64.self) }
                    #expect(try row.decode("iu", as: Int.self) == 4_294_967_295)
                    #expect(try row.decode("dec12", as: String.self) == "9999999999.99")
                    #expect(try row.decode("dbl", as: Double.self) == 3.141592653589793)
                    #expect(try row.decode("flt", as: Double.self) == 1.5)
                    #expect(try row.decode("uuid", as: UUID.self) == uuid)
                    #expect(try row.decode("bl", as: [UInt8].self) == blob)
                    #expect(try row.decode("dt6", as: String.self) == "2024-02-29 13:14:15.123456")
                    #expect(try row.decode("d", as: MariaDBDateTime.self).hasTime == false)
                    #expect(try row.decode("tm6", as: String.self) == "100:00:01.999999")

                    // The byte order of the uuid matches what the server sees.
                    let hex = try #require(try await connection.query("SELECT HEX(uuid) AS h, LENGTH(bl) AS n FROM types WHERE id = 2").first)
                    #expect(try hex.decode("h", as: String.self) == uuid.uuidString.replacingOccurrences(of: "-", with: ""))
                    #expect(try hex.decode("n", as: Int.self) == blob.count)
                }
            }
        }

        @Test func typedBindsAndDecimalExactness() async throws {
            try await TestDatabase.withTestClient { client, _ in
                try await client.query(Self.createTable, logger: logger)
                let uuid = UUID()
                let amount = "1234567890.10"
                try await client.query(
                    """
                    INSERT INTO types (id, bi, biu, dec12, vc, uuid, d, dt, tm)
                    VALUES (\(3), \(Int64.min), \(UInt64.max), \(MariaDBValue.decimal(amount)), \("Lê Thị Hồng"), \(uuid),
                            \(MariaDBDateTime.date(year: 2024, month: 2, day: 29)), \(MariaDBDateTime(year: 2023, month: 12, day: 31, hour: 23, minute: 59, second: 59)),
                            \(MariaDBTime(negative: true, hours: 30, minutes: 1, seconds: 2)))
                    """,
                    logger: logger
                )
                // Decimals read back as exact text, also arithmetic results.
                let row = try #require(
                    try await client.query(
                        "SELECT bi, biu, dec12, dec12 + 0.01 AS next, vc, uuid, d, dt, tm FROM types WHERE uuid = \(uuid)", logger: logger
                    ).first
                )
                #expect(row["bi"] == .int(.min))
                #expect(row["biu"] == .uint(.max))
                #expect(row["dec12"] == .decimal(amount))
                #expect(row["next"] == .decimal("1234567890.11"))
                #expect(try row.decode("vc", as: String.self) == "Lê Thị Hồng")
                #expect(try row.decode("uuid", as: UUID.self) == uuid)
                #expect(try row.decode("d", as: String.self) == "2024-02-29")
                #expect(try row.decode("dt", as: String.self) == "2023-12-31 23:59:59")
                #expect(try row.decode("tm", as: String.self) == "-30:01:02")

                // A text literal bound into DECIMAL keeps its scale.
                try await client.query("UPDATE types SET dec12 = \("12.3") WHERE id = \(3)", logger: logger)
                let updated = try #require(try await client.query("SELECT dec12 FROM types WHERE id = 3", logger: logger).first)
                #expect(updated["dec12"] == .decimal("12.30"))
            }
        }

        @Test func nullInEveryColumn() async throws {
            try await TestDatabase.withTestClient { client, _ in
                try await client.query(Self.createTable, logger: logger)
                try await client.query(Self.insert(id: 4, Array(repeating: .null, count: Self.columns.count)), logger: logger)
                let none: Int? = nil
                try await client.query("INSERT INTO types (id, i, vc, d) VALUES (\(5), \(none), \(String?.none), \(MariaDBDateTime?.none))", logger: logger)
                let rows = try await client.query("SELECT \(unescaped: Self.columns.joined(separator: ", ")) FROM types ORDER BY id", logger: logger).rows
                try #require(rows.count == 2)
                for row in rows {
                    for column in Self.columns {
                        #expect(row[column] == .null, "\(column)")
                    }
                    #expect(try row.decode("i", as: Int?.self) == nil)
                    #expect(try row.decode("vc", as: String?.self) == nil)
                    #expect(try row.decode("uuid", as: UUID?.self) == nil)
                    #expect(try row.decode("dt6", as: MariaDBDateTime?.self) == nil)
                    #expect(throws: MariaDBError.self) { try row.decode("i", as: Int.self) }
                }
            }
        }

        @Test func zeroDatesUnderEmptySQLMode() async throws {
            var options = TestDatabase.defaultOptions()
            options.connectionInitStatements = ["SET SESSION sql_mode = ''"]
            try await TestDatabase.withTestClient(options: options) { client, _ in
                try await client.query(Self.createTable, logger: logger)
                // As literals and as binds.
                try await client.query(
                    "INSERT INTO types (id, d, dt, ts) VALUES (6, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00')", logger: logger)
                let zero = MariaDBDateTime(year: 0, month: 0, day: 0)
                try await client.query(
                    "INSERT INTO types (id, d, dt, ts) VALUES (\(7), \(MariaDBDateTime.date(year: 0, month: 0, day: 0)), \(zero), \(zero))",
                    logger: logger
                )
                let rows = try await client.query("SELECT d, dt, ts FROM types ORDER BY id", logger: logger).rows
                try #require(rows.count == 2)
                for row in rows {
                    let d = try row.decode("d", as: MariaDBDateTime.self)
                    let dt = try row.decode("dt", as: MariaDBDateTime.self)
                    let ts = try row.decode("ts", as: MariaDBDateTime.self)
                    #expect(d.isZero && !d.hasTime)
                    #expect(dt.isZero && dt.hasTime)
                    #expect(ts.isZero && ts.hasTime)
                    #expect(try row.decode("d", as: String.self) == "0000-00-00")
                    #expect(try row.decode("dt", as: String.self) == "0000-00-00 00:00:00")
                    #expect(try row.decode("ts", as: String.self) == "0000-00-00 00:00:00")
                }
                // The zero date is a value, not NULL.
                let count = try #require(try await client.query("SELECT COUNT(*) AS n FROM types WHERE d = '0000-00-00'", logger: logger).first)
                #expect(try count.decode("n", as: Int.self) == 2)
            }
        }

        @Test func largeAndUnicodeText() async throws {
            let unit = "Nguyễn ăn phở 😀 "
            let megabyte = String(repeating: unit, count: (1 << 20) / unit.utf8.count + 1)
            #expect(megabyte.utf8.count > 1 << 20)
            try await TestDatabase.withTestClient { client, _ in
                try await client.query(Self.createTable, logger: logger)
                try await client.query("INSERT INTO types (id, ltx, tx, vc) VALUES (\(8), \(megabyte), \("😀"), \("Tiếng Việt"))", logger: logger)
                let row = try #require(try await client.query("SELECT ltx, tx, vc, LENGTH(ltx) AS bytes, CHAR_LENGTH(tx) AS chars FROM types", logger: logger).first)
                #expect(try row.decode("ltx", as: String.self) == megabyte)
                #expect(try row.decode("tx", as: String.self) == "😀")
                #expect(try row.decode("vc", as: String.self) == "Tiếng Việt")
                #expect(try row.decode("bytes", as: Int.self) == megabyte.utf8.count)
                #expect(try row.decode("chars", as: Int.self) == 1, "stored as one utf8mb4 character")
                // Searching by a unicode bind.
                let found = try await client.query("SELECT id FROM types WHERE vc = \("Tiếng Việt")", logger: logger)
                #expect(found.rows.count == 1)
            }
        }

        @Test func expressionsAndLiterals() async throws {
            try await TestDatabase.withTestClient { client, _ in
                let row = try #require(
                    try await client.query(
                        """
                        SELECT 1 AS one, -1 AS minus, 18446744073709551615 AS umax, 'txt' AS t, NULL AS n, 1.50 AS d,
                               CAST(2.5 AS DOUBLE) AS f, DATE('2024-01-02') AS dd, CAST('10:11:12' AS TIME) AS tt,
                               X'00FF00' AS b, \(42) AS bound, \("bound text") AS bt, YEAR('2024-05-06') AS y
                        """,
                        logger: logger
                    ).first
                )
                #expect(try row.decode("one", as: Int.self) == 1)
                #expect(try row.decode("minus", as: Int.self) == -1)
                #expect(try row.decode("umax", as: String.self) == "18446744073709551615")
                #expect(try row.decode("t", as: String.self) == "txt")
                #expect(row["n"] == .null)
                #expect(row["d"] == .decimal("1.50"))
                #expect(try row.decode("f", as: Double.self) == 2.5)
                #expect(try row.decode("dd", as: String.self) == "2024-01-02")
                #expect(try row.decode("tt", as: String.self) == "10:11:12")
                #expect(try row.decode("b", as: [UInt8].self) == [0, 255, 0])
                #expect(try row.decode("bound", as: Int.self) == 42)
                #expect(try row.decode("bt", as: String.self) == "bound text")
                #expect(try row.decode("y", as: Int.self) == 2024)
                #expect(row.columns.names.first == "one")
            }
        }
    }
}
