import Foundation
import MariaDB
import Testing

@Suite("MariaDBRow decoding")
struct MariaDBRowTests {
    static let uuid = UUID(uuidString: "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0")!
    static let dob = MariaDBDateTime.date(year: 1970, month: 1, day: 2)

    static func makeRow() -> MariaDBRow {
        let columns = MariaDBColumns(names: ["id", "fname", "dob", "note", "big", "neg", "uuid", "price", "flag", "dup", "dup", "t"])
        return MariaDBRow(columns: columns, values: [
            .int(7), .text("Ann Secret"), .dateTime(dob), .null, .uint(UInt64.max), .int(-1), MariaDBValue.bytes(Array(uuidBytes)),
            .decimal("12.30"), .int(0), .int(1), .int(2), .time(MariaDBTime(hours: 1, minutes: 2, seconds: 3)),
        ])
    }

    static var uuidBytes: [UInt8] {
        withUnsafeBytes(of: uuid.uuid) { Array($0) }
    }

    @Test func decodesOneColumnOfEveryRow() throws {
        let columns = MariaDBColumns(names: ["part", "pid", "dup", "dup"])
        let rows = [(0, 12), (3, 7), (1, 99)].map { MariaDBRow(columns: columns, values: [.int(Int64($0.0)), .uint(UInt64($0.1)), .int(1), .int(2)]) }
        let result = MariaDBResult(columns: columns, rows: rows, affectedRows: 0, lastInsertID: 0)
        #expect(try result.column("pid", as: Int.self) == [12, 7, 99])
        #expect(try result.column("part", as: Int.self) == [0, 3, 1])
        #expect(try result.column("dup", as: Int.self) == [1, 1, 1])  // the first of duplicate labels, as `decode`
        #expect(try MariaDBResult(columns: columns, rows: [], affectedRows: 0, lastInsertID: 0).column("pid", as: Int.self) == [])
        #expect(throws: MariaDBError.self) { try result.column("missing", as: Int.self) }
        #expect(throws: MariaDBError.self) { try result.column("pid", as: MariaDBDateTime.self) }
        let withNull = MariaDBResult(columns: columns, rows: rows + [MariaDBRow(columns: columns, values: [.int(0), .null, .null, .null])], affectedRows: 0, lastInsertID: 0)
        #expect(throws: MariaDBError.self) { try withNull.column("pid", as: Int.self) }
    }

    @Test func decodesMatchingTypes() throws {
        let row = Self.makeRow()
        #expect(try row.decode("id", as: Int.self) == 7)
        #expect(try row.decode("id", as: Int64.self) == 7)
        #expect(try row.decode("id", as: UInt64.self) == 7)
        #expect(try row.decode("id", as: Double.self) == 7)
        #expect(try row.decode("id", as: String.self) == "7")
        #expect(try row.decode("fname", as: String.self) == "Ann Secret")
        #expect(try row.decode("dob", as: MariaDBDateTime.self) == Self.dob)
        #expect(try row.decode("dob", as: String.self) == "1970-01-02")
        #expect(try row.decode("big", as: UInt64.self) == UInt64.max)
        #expect(try row.decode("uuid", as: UUID.self) == Self.uuid)
        #expect(try row.decode("price", as: String.self) == "12.30")
        #expect(try row.decode("price", as: Double.self) == 12.3)
        #expect(try row.decode("flag", as: Bool.self) == false)
        #expect(try row.decode("t", as: MariaDBTime.self) == MariaDBTime(hours: 1, minutes: 2, seconds: 3))
        #expect(try row.decode("note", as: MariaDBValue.self) == .null)
        // Duplicate labels: the first one wins.
        #expect(try row.decode("dup", as: Int.self) == 1)
        #expect(row["id"] == .int(7))
        #expect(row["nope"] == nil)
    }

    @Test func wrongTypeThrowsDecodingErrorNamingColumn() throws {
        let row = Self.makeRow()
        let error = try #require(throws: MariaDBError.self) { try row.decode("fname", as: Int.self) }
        #expect(error.code == .decoding)
        #expect(error.column == "fname")
        #expect(error.description.contains("fname"))
        #expect(!error.description.contains("Ann"))
        #expect(!String(reflecting: error).contains("Ann"))
    }

    @Test func outOfRangeIntegersThrow() throws {
        let row = Self.makeRow()
        #expect(throws: MariaDBError.self) { try row.decode("big", as: Int64.self) }
        #expect(throws: MariaDBError.self) { try row.decode("neg", as: UInt64.self) }
        #expect(throws: MariaDBError.self) { try row.decode("dob", as: Int.self) }
        #expect(throws: MariaDBError.self) { try row.decode("id", as: MariaDBDateTime.self) }
        #expect(throws: MariaDBError.self) { try row.decode("fname", as: UUID.self) }
        #expect(throws: MariaDBError.self) { try row.decode("id", as: MariaDBTime.self) }
    }

    @Test func missingColumnThrows() throws {
        let row = Self.makeRow()
        let error = try #require(throws: MariaDBError.self) { try row.decode("nope", as: Int.self) }
        #expect(error.code == .decoding)
        #expect(error.column == "nope")
        let optionalError = try #require(throws: MariaDBError.self) { try row.decode("nope", as: Int?.self) }
        #expect(optionalError.column == "nope")
    }

    @Test func nullable() throws {
        let row = Self.makeRow()
        #expect(try row.decode("note", as: String?.self) == nil)
        #expect(try row.decode("note", as: Int?.self) == nil)
        #expect(try row.decode("id", as: Int?.self) == 7)
        #expect(try row.decode("fname", as: String?.self) == "Ann Secret")
        // NULL into a non-optional is an error.
        let error = try #require(throws: MariaDBError.self) { try row.decode("note", as: String.self) }
        #expect(error.code == .decoding)
        #expect(error.column == "note")
        // A wrong type is still an error for an optional.
        #expect(throws: MariaDBError.self) { try row.decode("fname", as: Int?.self) }
    }

    @Test func shortBytesAreNotAUUID() {
        let row = MariaDBRow(columns: MariaDBColumns(names: ["u"]), values: [.bytes([1, 2, 3])])
        #expect(throws: MariaDBError.self) { try row.decode("u", as: UUID.self) }
    }

    @Test func invalidUTF8BytesAreNotAString() throws {
        let row = MariaDBRow(columns: MariaDBColumns(names: ["b"]), values: [.bytes([0xFF, 0xFE])])
        #expect(throws: MariaDBError.self) { try row.decode("b", as: String.self) }
        #expect(try row.decode("b", as: [UInt8].self) == [0xFF, 0xFE])
    }

    @Test func textDateDecodes() throws {
        let row = MariaDBRow(columns: MariaDBColumns(names: ["d", "bad"]), values: [.text("2024-01-02 03:04:05"), .text("yesterday")])
        #expect(try row.decode("d", as: MariaDBDateTime.self) == MariaDBDateTime(year: 2024, month: 1, day: 2, hour: 3, minute: 4, second: 5))
        #expect(throws: MariaDBError.self) { try row.decode("bad", as: MariaDBDateTime.self) }
    }

    @Test func resultFirst() {
        let columns = MariaDBColumns(names: ["a"])
        let result = MariaDBResult(columns: columns, rows: [MariaDBRow(columns: columns, values: [.int(1)])], affectedRows: 0, lastInsertID: 0)
        #expect(result.first?["a"] == .int(1))
        #expect(MariaDBResult(columns: columns, rows: [], affectedRows: 0, lastInsertID: 0).first == nil)
        #expect(columns.position(of: "a") == 0)
    }
}
