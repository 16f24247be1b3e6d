/// A date, a date and time, or a timestamp as MariaDB stores it.
///
/// Zero dates (`0000-00-00`, `0000-00-00 00:00:00`) are representable: OpenEMR stores them in many columns.
public struct MariaDBDateTime: Sendable, Hashable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int
    public var microsecond: Int
    /// False for a DATE column (no time part).
    public var hasTime: Bool

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, microsecond: Int = 0, hasTime: Bool = true) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.microsecond = microsecond
        self.hasTime = hasTime
    }

    /// A DATE value.
    public static func date(year: Int, month: Int, day: Int) -> MariaDBDateTime {
        MariaDBDateTime(year: year, month: month, day: day, hasTime: false)
    }

    /// `0000-00-00`.
    public var isZero: Bool { year == 0 && month == 0 && day == 0 }

    /// `YYYY-MM-DD`.
    public var dateString: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(10)
        appendDate(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `YYYY-MM-DD HH:MM:SS` (plus `.ffffff` when there are microseconds), or `YYYY-MM-DD` for a DATE.
    public var description: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(26)
        appendDate(to: &bytes)
        guard hasTime else { return String(decoding: bytes, as: UTF8.self) }
        bytes.append(UInt8(ascii: " "))
        appendPadded(hour, 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        appendPadded(minute, 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        appendPadded(second, 2, to: &bytes)
        if microsecond != 0 {
            bytes.append(UInt8(ascii: "."))
            appendPadded(microsecond, 6, to: &bytes)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func appendDate(to bytes: inout [UInt8]) {
        appendPadded(year, 4, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        appendPadded(month, 2, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        appendPadded(day, 2, to: &bytes)
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.ffffff]]` or `YYYY-MM-DDTHH:MM[:SS]` (strictly; nil otherwise).
    public init?(parsing text: some StringProtocol) {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10)
        else { return nil }
        self.init(year: year, month: month, day: day, hasTime: false)
        if bytes.count == 10 { return }
        guard bytes.count >= 16, bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"),
            let hour = number(11..<13), let minute = number(14..<16)
        else { return nil }
        self.hour = hour
        self.minute = minute
        self.hasTime = true
        if bytes.count == 16 { return }
        guard bytes.count >= 19, bytes[16] == UInt8(ascii: ":"), let second = number(17..<19) else { return nil }
        self.second = second
        if bytes.count == 19 { return }
        guard bytes[19] == UInt8(ascii: "."), bytes.count > 20, bytes.count <= 26, let fraction = number(20..<bytes.count) else { return nil }
        var micro = fraction
        for _ in 0..<(6 - (bytes.count - 20)) { micro *= 10 }
        self.microsecond = micro
    }

    /// True when month/day/hour/minute/second are in range (zero dates count as valid, as in MariaDB).
    public var isValid: Bool {
        if isZero && hour == 0 && minute == 0 && second == 0 { return true }
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= days && (0...23).contains(hour) && (0...59).contains(minute) && (0...59).contains(second)
            && (0...999_999).contains(microsecond)
    }
}

@inline(__always)
private func pad(_ value: Int, _ width: Int) -> String {
    var bytes: [UInt8] = []
    appendPadded(value, width, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
}

/// Appends the decimal digits of `value`, zero-padded to `width` (more digits when it needs them).
private func appendPadded(_ value: Int, _ width: Int, to bytes: inout [UInt8]) {
    guard value >= 0 else {
        bytes.append(UInt8(ascii: "-"))
        return appendPadded(-value, width, to: &bytes)
    }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    var rest = value
    withUnsafeMutableBytes(of: &digits) { buffer in
        repeat {
            buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            count += 1
        } while rest > 0
        while count < width {
            buffer[count] = UInt8(ascii: "0")
            count += 1
        }
        for index in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[index]) }
    }
}

/// A TIME value (may be negative and over 24 hours).
public struct MariaDBTime: Sendable, Hashable, CustomStringConvertible {
    public var negative: Bool
    public var hours: Int
    public var minutes: Int
    public var seconds: Int
    public var microseconds: Int

    public init(negative: Bool = false, hours: Int, minutes: Int, seconds: Int, microseconds: Int = 0) {
        self.negative = negative
        self.hours = hours
        self.minutes = minutes
        self.seconds = seconds
        self.microseconds = microseconds
    }

    public var description: String {
        var text = (negative ? "-" : "") + "\(pad(hours, 2)):\(pad(minutes, 2)):\(pad(seconds, 2))"
        if microseconds != 0 { text += "." + pad(microseconds, 6) }
        return text
    }
}

/// One value sent to or read from MariaDB.
public enum MariaDBValue: Sendable, Hashable {
    case null
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    /// DECIMAL, kept as its exact text.
    case decimal(String)
    case text(String)
    case bytes([UInt8])
    case dateTime(MariaDBDateTime)
    case time(MariaDBTime)

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}
