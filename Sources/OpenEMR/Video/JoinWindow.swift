public import Foundation
public import MariaDB
import PasswordCrypt

/// Room names as Jitsi matches them: `v-` and 32 characters of lowercase base32 (`a-z2-7`) carrying 160 random
/// bits. Never derived from the pid or the encounter number; unchanged by the web client's lowercasing and
/// percent-encoding, so the `room` claim equals the room JID node.
public enum VideoRoom {
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    /// A new room name.
    public static func random() -> String {
        let bytes = Digest.randomBytes(count: 20)
        var output: [UInt8] = Array("v-".utf8)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                output.append(alphabet[Int(buffer >> UInt32(bits) & 31)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Lowercase ASCII letters, digits and `-` only, 1 to 64 characters.
    public static func isValid(_ room: String) -> Bool {
        !room.isEmpty && room.utf8.count <= 64 && room.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
    }
}

/// When a visit's room may be joined: `before` seconds before the visit's start to `after` seconds after it. The
/// start is the matching appointment's (that patient, that provider, that day), else the encounter's date-time, in
/// the clinic's time zone (`gbl_time_zone`); a date-only encounter (or an all-day appointment) spans its whole day,
/// so its window runs from `before` seconds before that day's midnight to `after` seconds after the next midnight.
public struct JoinWindow: Sendable, Equatable {
    public enum Source: String, Sendable, Encodable {
        case appointment
        case encounter
        case encounterDay = "encounter_day"
    }

    /// The visit's start (for a whole day: its midnight).
    public var start: Date
    public var opens: Date
    public var closes: Date
    public var source: Source

    /// Inside the window, both edges included.
    public func contains(_ now: Date) -> Bool { opens <= now && now <= closes }

    /// The window for an encounter's date (`form_encounter.date`) and, when there is one, the matching appointment's
    /// `pc_eventDate` and `pc_startTime` (nil time or `allDay`: the whole day). Nil when the dates are not valid.
    public static func of(
        encounterDate: MariaDBDateTime, appointment: (date: MariaDBDateTime, time: MariaDBTime?, allDay: Bool)?, timeZone identifier: String,
        before: Int, after: Int
    ) -> JoinWindow? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: identifier.isEmpty ? "UTC" : identifier) ?? TimeZone(identifier: "UTC") ?? .current
        func instant(_ day: MariaDBDateTime, hour: Int, minute: Int, second: Int) -> Date? {
            guard day.isValid, !day.isZero else { return nil }
            return calendar.date(from: DateComponents(year: day.year, month: day.month, day: day.day, hour: hour, minute: minute, second: second))
        }
        func wholeDay(_ day: MariaDBDateTime, _ source: Source) -> JoinWindow? {
            guard let midnight = instant(day, hour: 0, minute: 0, second: 0),
                let next = calendar.date(byAdding: .day, value: 1, to: midnight)
            else { return nil }
            return JoinWindow(start: midnight, opens: midnight - TimeInterval(before), closes: next + TimeInterval(after), source: source)
        }
        if let appointment {
            if appointment.allDay || appointment.time == nil { return wholeDay(appointment.date, .appointment) }
            guard let time = appointment.time, !time.negative,
                let start = instant(appointment.date, hour: time.hours, minute: time.minutes, second: time.seconds)
            else { return wholeDay(appointment.date, .appointment) }
            return JoinWindow(start: start, opens: start - TimeInterval(before), closes: start + TimeInterval(after), source: .appointment)
        }
        // OpenEMR stores a date-only encounter as midnight.
        if !encounterDate.hasTime || (encounterDate.hour == 0 && encounterDate.minute == 0 && encounterDate.second == 0) {
            return wholeDay(encounterDate, .encounterDay)
        }
        guard let start = instant(encounterDate, hour: encounterDate.hour, minute: encounterDate.minute, second: encounterDate.second) else {
            return nil
        }
        return JoinWindow(start: start, opens: start - TimeInterval(before), closes: start + TimeInterval(after), source: .encounter)
    }
}

/// UTC conversions for the `mmt_video_*` DATETIME columns.
enum UTCTime {
    static func value(_ date: Date) -> MariaDBDateTime {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return MariaDBDateTime(year: c.year ?? 1970, month: c.month ?? 1, day: c.day ?? 1, hour: c.hour ?? 0, minute: c.minute ?? 0, second: c.second ?? 0)
    }

    static func date(_ value: MariaDBDateTime?) -> Date? {
        guard let value, value.isValid, !value.isZero else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        return calendar.date(
            from: DateComponents(year: value.year, month: value.month, day: value.day, hour: value.hour, minute: value.minute, second: value.second)
        )
    }

    /// `2026-01-02T03:04:05Z`.
    static func iso(_ date: Date?) -> String? {
        guard let date else { return nil }
        let value = self.value(date)
        return value.dateString + "T" + String(value.description.suffix(8)) + "Z"
    }
}
