import PHPSerialization

/// A calendar date as OpenEMR's PHP calendar code handles its `Y-m-d` strings (proleptic Gregorian, no time zone).
public struct CalendarDay: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// A valid date (nil for `0000-00-00` and other impossible dates).
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    private init(unchecked year: Int, _ month: Int, _ day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// PHP's `mktime(0, 0, 0, month, day, year)` then `date('Y-m-d')`: months past 12 (or below 1) roll the year,
    /// days past the month's end (or below 1) roll the month (`2025-01-31` plus one month is `2025-03-03`).
    public static func normalized(year: Int, month: Int, day: Int) -> CalendarDay {
        let months = year * 12 + (month - 1)
        let y = months >= 0 ? months / 12 : -((-months + 11) / 12)
        let m = months - y * 12 + 1
        return CalendarDay(ordinal: CalendarDay(unchecked: y, m, 1).ordinal + day - 1)
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    public var ordinal: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }

    /// The date `ordinal` days after 1970-01-01 (`civil_from_days`).
    public init(ordinal: Int) {
        let z = ordinal + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let dayOfEra = z - era * 146097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let d = dayOfYear - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(unchecked: yearOfEra + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// `date('w')`: 0 = Sunday … 6 = Saturday.
    public var weekday: Int {
        let w = (ordinal + 4) % 7  // 1970-01-01 was a Thursday
        return w < 0 ? w + 7 : w
    }

    public func adding(days: Int) -> CalendarDay { CalendarDay(ordinal: ordinal + days) }

    /// `YYYYMMDD` as a number (the form of OpenEMR's `exdate` exceptions).
    var compact: Int { year * 10000 + month * 100 + day }

    /// `YYYY-MM` as one comparable number.
    var monthIndex: Int { year * 12 + month - 1 }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public static func < (lhs: CalendarDay, rhs: CalendarDay) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
    }
}

/// A repeating OpenEMR appointment (`openemr_postcalendar_events` with `pc_recurrtype` 1, 2 or 3), expanded into its
/// occurrences exactly as OpenEMR 8.2's `fetchEvents()` (`library/appointments.inc.php`) and its `__increment()`
/// (`library/encounter_events.inc.php`) expand them for the calendar, the appointment reports and the patient
/// tracker:
///
/// - `pc_recurrtype` 1 ("repeats every"), and 3 ("days of the week"): from `pc_eventDate`, step by
///   `event_repeat_freq` units of `event_repeat_freq_type` (0 day, 1 week, 2 month, 3 year, 4 work day — skipping
///   OpenEMR's `weekend_days` — or 6: the next of the listed week days `event_repeat_freq` = `"2,4"`, 1 = Sunday … 7 =
///   Saturday). Months and years step as PHP's `mktime` does, so the 31st plus a month rolls into the next month
///   (`2025-01-31`, `2025-03-03`, `2025-04-03`, …), as OpenEMR's calendar shows it.
/// - `pc_recurrtype` 2 ("repeats on"): every `event_repeat_on_freq` months from `pc_eventDate`'s month, the
///   `event_repeat_on_num`-th (1–4; 5 = last) `event_repeat_on_day` (0 = Sunday) of the month.
/// - Never past `pc_endDate`; a date listed in `exdate` (`YYYYMMDD`, comma-separated: the occurrences OpenEMR split
///   off or deleted) is not an occurrence.
///
/// A rule OpenEMR's `checkEvent()` rejects (an empty frequency, no type) has no occurrences, as in OpenEMR; so has a
/// rule OpenEMR could not expand either (a non-numeric or non-positive frequency, an unknown type or week day, where
/// PHP would throw or loop forever).
public struct AppointmentRecurrence: Sendable, Equatable {
    public enum Unit: Int, Sendable {
        case day = 0, week = 1, month = 2, year = 3, workDay = 4
    }

    public enum Rule: Sendable, Equatable {
        /// Every `count` units (`pc_recurrtype` 1, or 3 with a unit type).
        case every(count: Int, unit: Unit)
        /// The next of these week days each time (`event_repeat_freq_type` 6; 0 = Sunday … 6 = Saturday).
        case weekDays([Int])
        /// The `nth` (1–4, 5 = last) `weekday` of every `months`-th month; `fromFirst`: OpenEMR's `rt2_pf_flag`.
        case nthWeekday(months: Int, nth: Int, weekday: Int, fromFirst: Bool)
    }

    public var rule: Rule
    /// `exdate`, as `YYYYMMDD` numbers.
    public var exceptions: Set<Int>

    public init(rule: Rule, exceptions: Set<Int> = []) {
        self.rule = rule
        self.exceptions = exceptions
    }

    /// The rule of `pc_recurrtype` / `pc_recurrspec` (PHP-serialized), or nil when OpenEMR lists no occurrence of it
    /// (type 0 is a single appointment: not a recurrence).
    public static func parse(recurrType: Int, spec: [UInt8]?) -> AppointmentRecurrence? {
        guard recurrType == 1 || recurrType == 2 || recurrType == 3, let spec,
            let array = (try? PHPUnserializer.unserialize(spec))?.arrayValue
        else { return nil }
        func value(_ key: String) -> PHPValue? {
            guard let value = array[key], !value.isNull else { return nil }
            return value
        }
        // PHP's empty(): missing, null, false, 0, "" and "0".
        func isEmpty(_ key: String) -> Bool {
            guard let value = value(key) else { return true }
            switch value {
            case .bool(let flag): return !flag
            case .int(let number): return number == 0
            case .double(let number): return number == 0
            case .string(let bytes): return bytes.isEmpty || bytes == [UInt8(ascii: "0")]
            case .array(let items): return items.isEmpty
            default: return false
            }
        }
        let exdate = value("exdate").map { $0.stringValue ?? phpInteger($0).map(String.init) ?? "" } ?? ""
        let exceptions = Set(exdate.split(separator: ",", omittingEmptySubsequences: true).compactMap { phpInteger(String($0), whole: true) })
        switch recurrType {
        case 1, 3:
            // checkEvent(): empty($spec['event_repeat_freq']) || !isset($spec['event_repeat_freq_type']) skips the event.
            guard !isEmpty("event_repeat_freq"), let typeValue = value("event_repeat_freq_type"), let type = phpInteger(typeValue) else { return nil }
            let frequency = value("event_repeat_freq")
            if type == 6 {
                // getTheNextAppointment(): "next <day>" for each listed day (1 = Sunday … 7 = Saturday).
                let days = (frequency?.stringValue ?? frequency.flatMap(phpInteger).map(String.init) ?? "").split(separator: ",", omittingEmptySubsequences: false)
                    .map { phpInteger(String($0), whole: true) }
                // An unknown day makes PHP's strtotime() answer 1970-01-01 and the expansion loop forever.
                guard !days.isEmpty, days.allSatisfy({ $0.map { (1...7).contains($0) } ?? false }) else { return nil }
                return AppointmentRecurrence(rule: .weekDays(days.compactMap { $0.map { $0 - 1 } }), exceptions: exceptions)
            }
            guard let unit = Unit(rawValue: type), let count = frequency.flatMap(phpInteger), count >= 1 else { return nil }
            return AppointmentRecurrence(rule: .every(count: count, unit: unit), exceptions: exceptions)
        default:
            guard !isEmpty("event_repeat_on_freq"), !isEmpty("event_repeat_on_num"), let dayValue = value("event_repeat_on_day"),
                let months = value("event_repeat_on_freq").flatMap(phpInteger), months >= 1,
                let nth = value("event_repeat_on_num").flatMap(phpInteger), nth >= 1,
                let weekday = phpInteger(dayValue), (0...6).contains(weekday)
            else { return nil }
            let fromFirst = !isEmpty("rt2_pf_flag")
            return AppointmentRecurrence(rule: .nthWeekday(months: months, nth: nth, weekday: weekday, fromFirst: fromFirst), exceptions: exceptions)
        }
    }

    /// The occurrences from `from` to `to` (both included) of a series that starts on `start` (`pc_eventDate`) and
    /// ends on `end` (`pc_endDate`; nil or `0000-00-00`: OpenEMR lists none), as `fetchEvents($from, $to)` lists
    /// them. `weekendDays`: OpenEMR's `weekend_days` (`"6,0"` by default), for work-day steps.
    public func occurrences(from: CalendarDay, to: CalendarDay, start: CalendarDay, end: CalendarDay?, weekendDays: [Int?] = [6, 0]) -> [CalendarDay] {
        guard let end else { return [] }
        let stop = min(end, to)
        var found: [CalendarDay] = []
        switch rule {
        case .every, .weekDays:
            var occurrence = start
            // Days and weeks step evenly: jump to the first step on or after `from` (the same date PHP's loop reaches).
            if case .every(let count, let unit) = rule, unit == .day || unit == .week, occurrence < from {
                let step = unit == .day ? count : 7 * count
                let steps = (from.ordinal - occurrence.ordinal + step - 1) / step
                occurrence = occurrence.adding(days: steps * step)
            }
            while occurrence < from { occurrence = next(after: occurrence, weekendDays: weekendDays) }
            while occurrence <= stop {
                if !exceptions.contains(occurrence.compact) { found.append(occurrence) }
                occurrence = next(after: occurrence, weekendDays: weekendDays)
            }
        case .nthWeekday(let months, let nth, let weekday, let fromFirst):
            var (year, month, day) = (start.year, start.month, fromFirst ? 1 : start.day)
            func step() {
                let next = CalendarDay.normalized(year: year, month: month + months, day: day)
                (year, month, day) = (next.year, next.month, next.day)
            }
            while year * 12 + month - 1 < from.monthIndex { step() }
            while year * 12 + month - 1 <= stop.monthIndex {
                if let occurrence = Self.nthWeekday(nth, weekday, month: month, year: year), occurrence >= from, occurrence <= stop,
                    !exceptions.contains(occurrence.compact)
                {
                    found.append(occurrence)
                }
                step()
            }
        }
        return found
    }

    /// Whether the series has an occurrence on `day` (OpenEMR's `fetchEvents($day, $day)`).
    public func occurs(on day: CalendarDay, start: CalendarDay, end: CalendarDay?, weekendDays: [Int?] = [6, 0]) -> Bool {
        !occurrences(from: day, to: day, start: start, end: end, weekendDays: weekendDays).isEmpty
    }

    /// `__increment()`: the occurrence after `day`.
    func next(after day: CalendarDay, weekendDays: [Int?]) -> CalendarDay {
        switch rule {
        case .weekDays(let days):
            // getTheNextAppointment(): the earliest "next <weekday>" (strictly after `day`).
            return days.map { day.adding(days: ($0 - day.weekday + 6) % 7 + 1) }.min() ?? day.adding(days: 7)
        case .every(let count, let unit):
            switch unit {
            case .day: return day.adding(days: count)
            case .week: return day.adding(days: 7 * count)
            case .month: return CalendarDay.normalized(year: day.year, month: day.month + count, day: day.day)
            case .year: return CalendarDay.normalized(year: day.year + count, month: day.month, day: day.day)
            case .workDay:
                // OpenEMR's loop, step for step: each weekend day among the next `count` days adds a day; then a
                // landing on the first weekend day adds two, on the second one (or on the only one) adds one.
                let isWeekend = { (weekday: Int) in weekendDays.contains { $0 == weekday } }
                var f = count
                for offset in 1...count where isWeekend(day.adding(days: offset).weekday) { f += 1 }
                let landing = day.adding(days: f).weekday
                if weekendDays.count == 2 {
                    if weekendDays[0] == landing { f += 2 } else if weekendDays[1] == landing { f += 1 }
                } else if weekendDays.count == 1 && weekendDays[0] == landing {
                    f += 1
                }
                return day.adding(days: f)
            }
        case .nthWeekday:
            return day  // not stepped day by day
        }
    }

    /// `Date_Calc::NWeekdayOfMonth` as `fetchEvents` calls it: the `nth` `weekday` of the month, and when there is no
    /// such (a fifth), the one before (`$dnum--` until found): 5 means the last.
    static func nthWeekday(_ nth: Int, _ weekday: Int, month: Int, year: Int) -> CalendarDay? {
        guard let first = CalendarDay(year: year, month: month, day: 1) else { return nil }
        let days = CalendarDay.daysIn(month: month, year: year)
        var n = nth
        while n >= 1 {
            let firstOfWeek = CalendarDay.normalized(year: year, month: month, day: (n - 1) * 7 + 1)
            let date = (n - 1) * 7 + 1 + (7 + weekday - firstOfWeek.weekday) % 7
            if date <= days { return first.adding(days: date - 1) }
            n -= 1
        }
        return nil
    }

    /// PHP's integer reading of a value used in date arithmetic: an int, or a string whose leading part is a
    /// decimal integer (`"2"`, `" 2"`, `"2,4"` → 2, as PHP 8 reads a leading-numeric string); nil where PHP 8 would
    /// throw (no leading digits) or the value is a fraction. `whole`: the whole string must be the number (PHP's
    /// `==` between numeric strings, used for `exdate` and the week-day list), surrounding white space allowed.
    static func phpInteger(_ value: PHPValue) -> Int? {
        switch value {
        case .int(let number): return number
        case .bool(let flag): return flag ? 1 : 0
        case .double(let number): return number.rounded(.towardZero) == number && abs(number) < 1e15 ? Int(number) : nil
        case .string: return value.stringValue.flatMap { phpInteger($0, whole: false) }
        default: return nil
        }
    }

    static func phpInteger(_ text: String, whole: Bool) -> Int? {
        let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C]
        var bytes = Array(text.utf8)[...]
        while let first = bytes.first, whitespace.contains(first) { bytes = bytes.dropFirst() }
        var negative = false
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        let digits = bytes.prefix { $0 >= 48 && $0 <= 57 }
        guard !digits.isEmpty, digits.count <= 15 else { return nil }
        var rest = bytes.dropFirst(digits.count)
        if whole {
            while let last = rest.last, whitespace.contains(last) { rest = rest.dropLast() }
            guard rest.isEmpty else { return nil }
        } else if rest.first == UInt8(ascii: ".") || rest.first == UInt8(ascii: "e") || rest.first == UInt8(ascii: "E") {
            // "1.5" or "1e3": a float to PHP, not a whole step.
            return nil
        }
        let number = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
        return negative ? -number : number
    }
}
