/// Writes JSON text straight into bytes, for hand-written hot responses (no `JSONEncoder`, no intermediate strings).
///
/// Strings are escaped as `JSONEncoder` escapes them, plus U+2028 and U+2029 so that the text is also valid
/// JavaScript.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int) { bytes.reserveCapacity(capacity) }

    /// Appends literal JSON (keys, punctuation): written by the caller, never user input.
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends literal JSON prepared earlier (a fragment this type wrote).
    public mutating func raw(_ fragment: [UInt8]) {
        bytes.append(contentsOf: fragment)
    }

    /// Appends `"text"` with escapes, or `null`.
    public mutating func string(_ text: String?) {
        guard var text else { return raw("null") }
        bytes.append(UInt8(ascii: "\""))
        text.withUTF8 { utf8 in
            var start = 0
            var index = 0
            let count = utf8.count
            while index < count {
                let byte = utf8[index]
                let isLineSeparator = byte == 0xE2 && index + 2 < count && utf8[index + 1] == 0x80 && (utf8[index + 2] & 0xFE) == 0xA8
                guard byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 || isLineSeparator else {
                    index += 1
                    continue
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                switch byte {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case UInt8(ascii: "\n"): raw("\\n")
                case UInt8(ascii: "\r"): raw("\\r")
                case UInt8(ascii: "\t"): raw("\\t")
                case 0xE2:
                    raw(utf8[index + 2] == 0xA8 ? "\\u2028" : "\\u2029")
                    index += 2
                default:
                    raw("\\u00")
                    bytes.append(Self.hexDigit(byte >> 4))
                    bytes.append(Self.hexDigit(byte & 0x0F))
                }
                index += 1
                start = index
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<count]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends a number, or `null`.
    public mutating func int(_ value: Int?) {
        guard let value else { return raw("null") }
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Appends a finite number in its shortest round-trip form, or `null` (also for NaN and infinities, which JSON
    /// cannot hold).
    public mutating func double(_ value: Double?) {
        guard let value, value.isFinite else { return raw("null") }
        bytes.append(contentsOf: value.description.utf8)
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 { value < 10 ? 48 + value : 87 + value }
}
