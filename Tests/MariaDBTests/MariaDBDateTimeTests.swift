import MariaDB
import Testing

@Suite("MariaDBDateTime and MariaDBTime")
struct MariaDBDateTimeTests {
    @Test func parsesDate() throws {
        let value = try #require(MariaDBDateTime(parsing: "2024-02-29"))
        #expect(value == .date(year: 2024, month: 2, day: 29))
        #expect(!value.hasTime)
        #expect(value.description == "2024-02-29")
        #expect(value.dateString == "2024-02-29")
        #expect(value.isValid)
        #expect(!value.isZero)
    }

    @Test func parsesDateTime() throws {
        let value = try #require(MariaDBDateTime(parsing: "1999-12-31 23:59:58"))
        #expect(value == MariaDBDateTime(year: 1999, month: 12, day: 31, hour: 23, minute: 59, second: 58))
        #expect(value.hasTime)
        #expect(value.description == "1999-12-31 23:59:58")
    }

    @Test func parsesISOSeparatorAndMissingSeconds() throws {
        let value = try #require(MariaDBDateTime(parsing: "2024-06-01T08:05"))
        #expect(value == MariaDBDateTime(year: 2024, month: 6, day: 1, hour: 8, minute: 5))
        #expect(value.description == "2024-06-01 08:05:00")
    }

    @Test(arguments: [
        ("2024-01-02 03:04:05.123456", 123_456, "2024-01-02 03:04:05.123456"),
        ("2024-01-02 03:04:05.5", 500_000, "2024-01-02 03:04:05.500000"),
        ("2024-01-02 03:04:05.000001", 1, "2024-01-02 03:04:05.000001"),
        ("2024-01-02 03:04:05.000", 0, "2024-01-02 03:04:05"),
    ])
    func microseconds(text: String, micro: Int, printed: String) throws {
        let value = try #require(MariaDBDateTime(parsing: text))
        #expect(value.microsecond == micro)
        #expect(value.second == 5)
        #expect(value.description == printed)
    }

    @Test func zeroDates() throws {
        let date = try #require(MariaDBDateTime(parsing: "0000-00-00"))
        #expect(date.isZero)
        #expect(date.isValid)
        #expect(date.description == "0000-00-00")
        let dateTime = try #require(MariaDBDateTime(parsing: "0000-00-00 00:00:00"))
        #expect(dateTime.isZero)
        #expect(dateTime.isValid)
        #expect(dateTime.hasTime)
        #expect(dateTime.description == "0000-00-00 00:00:00")
        #expect(MariaDBDateTime(year: 0, month: 0, day: 0).description == "0000-00-00 00:00:00")
        // A zero date with a time is not a MariaDB zero value.
        #expect(!MariaDBDateTime(year: 0, month: 0, day: 0, hour: 1).isValid)
    }

    @Test(arguments: [
        "", "2024", "2024-1-01", "2024/01/01", "20240101", "2024-01-1", "abcd-ef-gh", "2024-01-01x", "2024-01-01 1:00",
        "2024-01-01 10:00:00.", "2024-01-01 10:00:00.1234567", "2024-01-01 10:00:00Z", "2024-01-01 10:00:0", "2024-01-01 10-00-00",
        "2024-01-01 10:00:00.12a", " 2024-01-01", "-024-01-01", "2024-01-01  10:00:00",
    ])
    func rejectsInvalidText(text: String) {
        #expect(MariaDBDateTime(parsing: text) == nil, "\(text) should not parse")
    }

    @Test(arguments: [
        ("2024-02-29", true), ("2023-02-29", false), ("1900-02-29", false), ("2000-02-29", true), ("2024-04-31", false),
        ("2024-13-01", false), ("2024-00-10", false), ("2024-01-00", false), ("2024-01-01 24:00:00", false),
        ("2024-01-01 23:60:00", false), ("2024-01-01 23:59:60", false), ("2024-12-31 23:59:59", true), ("0000-01-01", false),
        ("9999-12-31 23:59:59.999999", true),
    ])
    func validity(text: String, valid: Bool) throws {
        let value = try #require(MariaDBDateTime(parsing: text))
        #expect(value.isValid == valid, "\(text)")
    }

    @Test func outOfRangeMicrosecondsInvalid() {
        #expect(!MariaDBDateTime(year: 2024, month: 1, day: 1, microsecond: 1_000_000).isValid)
    }

    @Test func parsesSubstring() throws {
        let text = "x2024-05-06y"
        let inner = text.dropFirst().dropLast()
        #expect(MariaDBDateTime(parsing: inner) == .date(year: 2024, month: 5, day: 6))
    }

    @Test func timeDescription() {
        #expect(MariaDBTime(hours: 1, minutes: 2, seconds: 3).description == "01:02:03")
        #expect(MariaDBTime(negative: true, hours: 12, minutes: 30, seconds: 15).description == "-12:30:15")
        #expect(MariaDBTime(hours: 100, minutes: 0, seconds: 1).description == "100:00:01")
        #expect(MariaDBTime(hours: 0, minutes: 0, seconds: 3, microseconds: 250_000).description == "00:00:03.250000")
    }
}
