import Foundation
import MariaDB
import Testing

@Suite("MariaDBQuery interpolation")
struct MariaDBQueryTests {
    @Test func literalHasNoBinds() {
        let query: MariaDBQuery = "SELECT 1"
        #expect(query.sql == "SELECT 1")
        #expect(query.binds.isEmpty)
    }

    @Test func valuesBecomePlaceholdersInOrder() {
        let pid = 42
        let name = "O'Brien; DROP TABLE patient_data"
        let query: MariaDBQuery = "SELECT fname FROM patient_data WHERE pid = \(pid) AND lname = \(name) AND active = \(true)"
        #expect(query.sql == "SELECT fname FROM patient_data WHERE pid = ? AND lname = ? AND active = ?")
        #expect(query.binds == [.int(42), .text(name), .int(1)])
    }

    @Test func descriptionIsOnlySQL() {
        let secret = "Jane Doe 1970-01-01"
        let query: MariaDBQuery = "SELECT 1 FROM t WHERE n = \(secret)"
        #expect(query.description == "SELECT 1 FROM t WHERE n = ?")
        #expect(!"\(query)".contains("Jane"))
    }

    @Test func optionalNilBindsNull() {
        let missing: Int? = nil
        let present: String? = "x"
        let query: MariaDBQuery = "INSERT INTO t (a, b) VALUES (\(missing), \(present))"
        #expect(query.sql == "INSERT INTO t (a, b) VALUES (?, ?)")
        #expect(query.binds == [.null, .text("x")])
    }

    @Test func unescapedIsSplicedVerbatim() {
        let column = "lname"
        let query: MariaDBQuery = "SELECT \(unescaped: column) FROM patient_data WHERE pid = \(7) ORDER BY \(unescaped: column)"
        #expect(query.sql == "SELECT lname FROM patient_data WHERE pid = ? ORDER BY lname")
        #expect(query.binds == [.int(7)])
    }

    @Test func listExpandsToPlaceholders() {
        let ids = [3, 1, 2]
        let query: MariaDBQuery = "SELECT * FROM t WHERE id IN (\(list: ids)) AND x = \(9)"
        #expect(query.sql == "SELECT * FROM t WHERE id IN (?, ?, ?) AND x = ?")
        #expect(query.binds == [.int(3), .int(1), .int(2), .int(9)])
    }

    @Test func singleElementList() {
        let query: MariaDBQuery = "id IN (\(list: ["a"]))"
        #expect(query.sql == "id IN (?)")
        #expect(query.binds == [.text("a")])
    }

    @Test func emptyListBecomesNull() {
        let ids: [Int] = []
        let query: MariaDBQuery = "SELECT * FROM t WHERE id IN (\(list: ids)) AND y = \(1)"
        #expect(query.sql == "SELECT * FROM t WHERE id IN (NULL) AND y = ?")
        #expect(query.binds == [.int(1)])
    }

    @Test func paddedListRoundsUpToAPowerOfTwoWithTheLastValue() {
        let three: MariaDBQuery = "id IN (\(paddedList: [5, 6, 7]))"
        #expect(three.sql == "id IN (?, ?, ?, ?)")
        #expect(three.binds == [.int(5), .int(6), .int(7), .int(7)])
        let four: MariaDBQuery = "id IN (\(paddedList: [1, 2, 3, 4]))"
        #expect(four.sql == "id IN (?, ?, ?, ?)")
        #expect(four.binds == [.int(1), .int(2), .int(3), .int(4)])
        let one: MariaDBQuery = "id IN (\(paddedList: ["a"]))"
        #expect(one.sql == "id IN (?)")
        let five: MariaDBQuery = "id IN (\(paddedList: Array(1...5)))"
        #expect(five.binds.count == 8)
        let none: MariaDBQuery = "id IN (\(paddedList: [Int]()))"
        #expect(none.sql == "id IN (NULL)" && none.binds.isEmpty)
    }

    @Test func plusConcatenatesSQLAndBinds() {
        let base: MariaDBQuery = "SELECT * FROM t WHERE a = \(1)"
        let filter: MariaDBQuery = " AND b = \("two") AND c IN (\(list: [3.5, 4.5]))"
        let combined = base + filter
        #expect(combined.sql == "SELECT * FROM t WHERE a = ? AND b = ? AND c IN (?, ?)")
        #expect(combined.binds == [.int(1), .text("two"), .double(3.5), .double(4.5)])
        // Operands unchanged.
        #expect(base.binds == [.int(1)])

        var appended = base
        appended.append(filter)
        #expect(appended == combined)
    }

    @Test func fragmentKeepsItsBindsInPosition() {
        let where_: MariaDBQuery = "b = \(2)"
        let query: MariaDBQuery = "SELECT \(1) FROM t WHERE \(fragment: where_) AND c = \(3)"
        #expect(query.sql == "SELECT ? FROM t WHERE b = ? AND c = ?")
        #expect(query.binds == [.int(1), .int(2), .int(3)])
    }

    @Test func encodableTypes() {
        let uuid = UUID(uuidString: "00112233-4455-6677-8899-AABBCCDDEEFF")!
        let date = MariaDBDateTime.date(year: 2024, month: 2, day: 29)
        let time = MariaDBTime(negative: true, hours: 1, minutes: 2, seconds: 3)
        let query: MariaDBQuery =
            "\(Int64.min) \(Int32(-5)) \(UInt64.max) \(UInt32(7)) \(2.5) \(false) \("s"[...]) \([UInt8]([0, 1])) \(uuid) \(date) \(time) \(MariaDBValue.decimal("1.10"))"
        #expect(query.binds == [
            .int(.min), .int(-5), .uint(.max), .uint(7), .double(2.5), .int(0), .text("s"), .bytes([0, 1]),
            .bytes([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF]),
            .dateTime(date), .time(time), .decimal("1.10"),
        ])
        #expect(query.sql == Array(repeating: "?", count: 12).joined(separator: " "))
    }

    @Test func unsafeSQLInit() {
        let query = MariaDBQuery(unsafeSQL: "SELECT ?, ?", binds: [.int(1), .null])
        #expect(query.sql == "SELECT ?, ?")
        #expect(query.binds == [.int(1), .null])
    }
}
