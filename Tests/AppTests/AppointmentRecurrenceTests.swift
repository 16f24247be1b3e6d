import Testing

@testable import OpenEMR

/// Repeating OpenEMR appointments expanded as OpenEMR 8.2's `fetchEvents()` / `__increment()` expand them (issue 16:
/// the join window of a visit whose appointment repeats). The expected dates were produced by running those loops
/// with PHP 8's own `mktime`, `date` and `strtotime` (including their quirks: the 31st plus a month rolls over, a
/// "repeat on" series anchored on the 31st skips short months, work days skip `weekend_days`).
@Suite struct AppointmentRecurrenceTests {
    /// `serialize()` of a PHP array of strings, as OpenEMR stores `pc_recurrspec`.
    static func spec(_ pairs: KeyValuePairs<String, String>) -> [UInt8] {
        var text = "a:\(pairs.count):{"
        for (key, value) in pairs { text += "s:\(key.utf8.count):\"\(key)\";s:\(value.utf8.count):\"\(value)\";" }
        return Array((text + "}").utf8)
    }

    static func day(_ text: String) -> CalendarDay {
        let parts = text.split(separator: "-").map { Int($0)! }
        return CalendarDay(year: parts[0], month: parts[1], day: parts[2])!
    }

    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var type: Int
        var spec: [UInt8]
        var start: String
        var end: String
        var from: String
        var to: String
        var expected: [String]
        var weekend: [Int?] = [6, 0]
        var testDescription: String { name }
    }

    static let vectors: [Vector] = [
        Vector(
            name: "weekly, one exception", type: 1,
            spec: spec(["event_repeat_freq": "1", "event_repeat_freq_type": "1", "event_repeat_on_num": "1", "event_repeat_on_day": "0", "event_repeat_on_freq": "0", "exdate": "20250120"]),
            start: "2025-01-06", end: "2025-03-31", from: "2025-01-01", to: "2025-02-10",
            expected: ["2025-01-06", "2025-01-13", "2025-01-27", "2025-02-03", "2025-02-10"]
        ),
        Vector(
            name: "every second day", type: 1, spec: spec(["event_repeat_freq": "2", "event_repeat_freq_type": "0", "exdate": ""]),
            start: "2025-01-30", end: "2025-12-31", from: "2025-02-01", to: "2025-02-08", expected: ["2025-02-01", "2025-02-03", "2025-02-05", "2025-02-07"]
        ),
        Vector(
            name: "monthly from the 31st rolls over like mktime", type: 1, spec: spec(["event_repeat_freq": "1", "event_repeat_freq_type": "2", "exdate": ""]),
            start: "2025-01-31", end: "2025-12-31", from: "2025-01-01", to: "2025-06-30",
            expected: ["2025-01-31", "2025-03-03", "2025-04-03", "2025-05-03", "2025-06-03"]
        ),
        Vector(
            name: "yearly from 29 February", type: 1, spec: spec(["event_repeat_freq": "1", "event_repeat_freq_type": "3", "exdate": ""]),
            start: "2024-02-29", end: "2030-12-31", from: "2024-01-01", to: "2027-12-31", expected: ["2024-02-29", "2025-03-01", "2026-03-01", "2027-03-01"]
        ),
        Vector(
            name: "every work day (weekend Saturday, Sunday)", type: 1, spec: spec(["event_repeat_freq": "1", "event_repeat_freq_type": "4", "exdate": ""]),
            start: "2025-01-02", end: "2025-12-31", from: "2025-01-01", to: "2025-01-14",
            expected: ["2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09", "2025-01-10", "2025-01-13", "2025-01-14"]
        ),
        Vector(
            name: "every second work day", type: 1, spec: spec(["event_repeat_freq": "2", "event_repeat_freq_type": "4", "exdate": ""]),
            start: "2025-01-02", end: "2025-12-31", from: "2025-01-01", to: "2025-01-20",
            expected: ["2025-01-02", "2025-01-06", "2025-01-08", "2025-01-10", "2025-01-14", "2025-01-16", "2025-01-20"]
        ),
        Vector(
            name: "every work day, weekend Friday and Saturday (OpenEMR lands on Sunday)", type: 1,
            spec: spec(["event_repeat_freq": "1", "event_repeat_freq_type": "4", "exdate": ""]), start: "2025-01-02", end: "2025-12-31", from: "2025-01-01",
            to: "2025-01-14",
            expected: ["2025-01-02", "2025-01-05", "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09", "2025-01-12", "2025-01-13", "2025-01-14"],
            weekend: [5, 6]
        ),
        Vector(
            name: "Mondays and Wednesdays, one exception", type: 3,
            spec: spec(["event_repeat_freq": "2,4", "event_repeat_freq_type": "6", "event_repeat_on_num": "1", "event_repeat_on_day": "0", "event_repeat_on_freq": "0", "exdate": "20250115"]),
            start: "2025-01-06", end: "2025-12-31", from: "2025-01-01", to: "2025-01-22", expected: ["2025-01-06", "2025-01-08", "2025-01-13", "2025-01-20", "2025-01-22"]
        ),
        Vector(
            name: "Sundays from a Wednesday: the first date counts", type: 3, spec: spec(["event_repeat_freq": "1", "event_repeat_freq_type": "6", "exdate": ""]),
            start: "2025-01-01", end: "2025-12-31", from: "2025-01-01", to: "2025-01-20", expected: ["2025-01-01", "2025-01-05", "2025-01-12", "2025-01-19"]
        ),
        Vector(
            name: "second Tuesday of every month", type: 2,
            spec: spec(["event_repeat_on_freq": "1", "event_repeat_on_num": "2", "event_repeat_on_day": "2", "exdate": ""]),
            start: "2025-01-14", end: "2025-12-31", from: "2025-01-01", to: "2025-04-30", expected: ["2025-01-14", "2025-02-11", "2025-03-11", "2025-04-08"]
        ),
        Vector(
            name: "last Friday, anchored on the 31st (February skipped as in OpenEMR), one exception", type: 2,
            spec: spec(["event_repeat_freq": "", "event_repeat_freq_type": "", "event_repeat_on_num": "5", "event_repeat_on_day": "5", "event_repeat_on_freq": "1", "exdate": "20250328", "rt2_pf_flag": "0"]),
            start: "2025-01-31", end: "2025-12-31", from: "2025-01-01", to: "2025-05-31", expected: ["2025-01-31", "2025-04-25", "2025-05-30"]
        ),
        Vector(
            name: "last Monday (fifth when there is one)", type: 2,
            spec: spec(["event_repeat_on_freq": "1", "event_repeat_on_num": "5", "event_repeat_on_day": "1", "exdate": ""]),
            start: "2025-01-27", end: "2025-12-31", from: "2025-01-01", to: "2025-05-31",
            expected: ["2025-01-27", "2025-02-24", "2025-03-31", "2025-04-28", "2025-05-26"]
        ),
        Vector(
            name: "first Monday from the 31st without rt2_pf_flag", type: 2,
            spec: spec(["event_repeat_on_freq": "1", "event_repeat_on_num": "1", "event_repeat_on_day": "1", "exdate": ""]),
            start: "2025-01-31", end: "2025-12-31", from: "2025-01-01", to: "2025-05-31", expected: ["2025-01-06", "2025-03-03", "2025-04-07", "2025-05-05"]
        ),
        Vector(
            name: "first Monday from the 31st with rt2_pf_flag", type: 2,
            spec: spec(["event_repeat_on_freq": "1", "event_repeat_on_num": "1", "event_repeat_on_day": "1", "exdate": "", "rt2_pf_flag": "1"]),
            start: "2025-01-31", end: "2025-12-31", from: "2025-01-01", to: "2025-05-31",
            expected: ["2025-01-06", "2025-02-03", "2025-03-03", "2025-04-07", "2025-05-05"]
        ),
        Vector(
            name: "third Thursday every three months", type: 2,
            spec: spec(["event_repeat_on_freq": "3", "event_repeat_on_num": "3", "event_repeat_on_day": "4", "exdate": ""]),
            start: "2025-02-20", end: "2026-12-31", from: "2025-01-01", to: "2026-03-31",
            expected: ["2025-02-20", "2025-05-15", "2025-08-21", "2025-11-20", "2026-02-19"]
        ),
        Vector(
            name: "weekly, stops at pc_endDate", type: 1, spec: spec(["event_repeat_freq": "1", "event_repeat_freq_type": "1", "exdate": ""]),
            start: "2025-01-06", end: "2025-01-27", from: "2025-01-01", to: "2025-03-31", expected: ["2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27"]
        ),
        Vector(
            name: "weekly from years back (the step jump lands where PHP's loop does)", type: 1,
            spec: spec(["event_repeat_freq": "3", "event_repeat_freq_type": "1", "exdate": ""]), start: "2015-03-02", end: "2030-12-31", from: "2025-06-01",
            to: "2025-07-31", expected: ["2025-06-16", "2025-07-07", "2025-07-28"]
        ),
    ]

    @Test(arguments: vectors)
    func expandsAsOpenEMR(_ vector: Vector) throws {
        let recurrence = try #require(AppointmentRecurrence.parse(recurrType: vector.type, spec: vector.spec))
        let found = recurrence.occurrences(
            from: Self.day(vector.from), to: Self.day(vector.to), start: Self.day(vector.start), end: Self.day(vector.end), weekendDays: vector.weekend
        )
        #expect(found.map(\.description) == vector.expected)
        // One day at a time (the join window's question) agrees with the range.
        var day = Self.day(vector.from)
        while day <= Self.day(vector.to) {
            let occurs = recurrence.occurs(on: day, start: Self.day(vector.start), end: Self.day(vector.end), weekendDays: vector.weekend)
            #expect(occurs == vector.expected.contains(day.description), "\(day)")
            day = day.adding(days: 1)
        }
    }

    @Test func rulesOpenEMRSkipsHaveNoOccurrences() {
        // checkEvent(): an empty frequency, or no type.
        #expect(AppointmentRecurrence.parse(recurrType: 1, spec: Self.spec(["event_repeat_freq": "0", "event_repeat_freq_type": "1"])) == nil)
        #expect(AppointmentRecurrence.parse(recurrType: 1, spec: Self.spec(["event_repeat_freq": "1"])) == nil)
        #expect(AppointmentRecurrence.parse(recurrType: 2, spec: Self.spec(["event_repeat_on_freq": "1", "event_repeat_on_num": "", "event_repeat_on_day": "1"])) == nil)
        // Rules PHP would throw on or loop forever on.
        #expect(AppointmentRecurrence.parse(recurrType: 1, spec: Self.spec(["event_repeat_freq": "x", "event_repeat_freq_type": "1"])) == nil)
        #expect(AppointmentRecurrence.parse(recurrType: 1, spec: Self.spec(["event_repeat_freq": "-1", "event_repeat_freq_type": "1"])) == nil)
        #expect(AppointmentRecurrence.parse(recurrType: 1, spec: Self.spec(["event_repeat_freq": "1", "event_repeat_freq_type": "5"])) == nil)
        #expect(AppointmentRecurrence.parse(recurrType: 3, spec: Self.spec(["event_repeat_freq": "2,9", "event_repeat_freq_type": "6"])) == nil)
        // Not serialized data, not a recurrence type, no spec.
        #expect(AppointmentRecurrence.parse(recurrType: 1, spec: Array("garbage".utf8)) == nil)
        #expect(AppointmentRecurrence.parse(recurrType: 0, spec: Self.spec(["event_repeat_freq": "1", "event_repeat_freq_type": "1"])) == nil)
        #expect(AppointmentRecurrence.parse(recurrType: 4, spec: Self.spec(["event_repeat_freq": "1", "event_repeat_freq_type": "1"])) == nil)
        #expect(AppointmentRecurrence.parse(recurrType: 1, spec: nil) == nil)
        // A leading-numeric frequency is read as PHP 8 reads it ("2,4" as 2).
        #expect(AppointmentRecurrence.parse(recurrType: 1, spec: Self.spec(["event_repeat_freq": "2,4", "event_repeat_freq_type": "0"]))?.rule == .every(count: 2, unit: .day))
        // exdate entries compare as PHP's == does (surrounding spaces allowed).
        #expect(AppointmentRecurrence.parse(recurrType: 1, spec: Self.spec(["event_repeat_freq": "1", "event_repeat_freq_type": "0", "exdate": "20250101, 20250103 ,x"]))?.exceptions == [20250101, 20250103])
    }

    @Test func noEndDateMeansNoOccurrence() throws {
        let weekly = try #require(AppointmentRecurrence.parse(recurrType: 1, spec: Self.spec(["event_repeat_freq": "1", "event_repeat_freq_type": "1"])))
        #expect(!weekly.occurs(on: Self.day("2025-01-13"), start: Self.day("2025-01-06"), end: nil))
        #expect(weekly.occurs(on: Self.day("2025-01-13"), start: Self.day("2025-01-06"), end: Self.day("2025-01-13")))
        #expect(!weekly.occurs(on: Self.day("2025-01-20"), start: Self.day("2025-01-06"), end: Self.day("2025-01-13")))
        #expect(!weekly.occurs(on: Self.day("2024-12-30"), start: Self.day("2025-01-06"), end: Self.day("2025-12-31")), "nothing before the start")
    }

    @Test func calendarDaysFollowMktime() {
        #expect(CalendarDay.normalized(year: 2025, month: 2, day: 31).description == "2025-03-03")
        #expect(CalendarDay.normalized(year: 2025, month: 13, day: 1).description == "2026-01-01")
        #expect(CalendarDay.normalized(year: 2025, month: 0, day: 1).description == "2024-12-01")
        #expect(CalendarDay.normalized(year: 2025, month: 3, day: 0).description == "2025-02-28")
        #expect(CalendarDay.normalized(year: 2024, month: 14, day: 29).description == "2025-03-01")
        #expect(CalendarDay(year: 2025, month: 2, day: 29) == nil && CalendarDay(year: 0, month: 0, day: 0) == nil)
        #expect(Self.day("2025-01-05").weekday == 0 && Self.day("2025-01-04").weekday == 6 && Self.day("1970-01-01").weekday == 4)
        for ordinal in stride(from: -800_000, to: 3_000_000, by: 997) { #expect(CalendarDay(ordinal: ordinal).ordinal == ordinal) }
    }
}
