/// A body type with a fast path for the common, well-formed case: `init?(fastJSON:)` reads the UTF-8 JSON bytes
/// directly and returns nil for anything it does not handle exactly as `JSONDecoder` would (a malformed document, a
/// wrong type, a duplicated key, a number written as `1.0` where an integer is expected, …). The caller then decodes
/// with `JSONDecoder`, whose answer (a value or a precise per-field error) is the reference; a test holds the two to
/// the same values.
public protocol FastJSONDecodable: Decodable {
    init?(fastJSON bytes: UnsafeRawBufferPointer)
}

/// A forward-only reader of one JSON document in a byte buffer, for hot request bodies (a transcription with
/// thousands of segments) where `JSONDecoder`'s generic machinery costs more than the database work. Every method
/// returns nil or false on anything unexpected; the reader never throws and never guesses.
public struct JSONPullReader {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    @usableFromInline var index = 0

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    @inlinable var isAtEnd: Bool { index >= bytes.count }

    @inlinable mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// The next non-space byte, not consumed.
    @inlinable public mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    /// Consumes `byte` (after spaces) when it is next.
    @inlinable public mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// True when only spaces remain.
    public mutating func atDocumentEnd() -> Bool {
        skipWhitespace()
        return isAtEnd
    }

    /// `null`, consumed when next.
    public mutating func consumeNull() -> Bool {
        skipWhitespace()
        guard index + 4 <= bytes.count, bytes[index] == 0x6E, bytes[index + 1] == 0x75, bytes[index + 2] == 0x6C, bytes[index + 3] == 0x6C else {
            return false
        }
        index += 4
        return true
    }

    /// An object whose members of interest are `keys`: `member(i, &reader)` reads the value of `keys[i]` (false when
    /// it cannot); other members are skipped. False when malformed, nested too deep, or when a key of interest repeats
    /// (which `JSONDecoder` judges).
    public mutating func object(_ keys: [String], depth: Int = 0, _ member: (Int, inout JSONPullReader) -> Bool) -> Bool {
        guard depth < 64, consume(0x7B) else { return false }
        if consume(0x7D) { return true }
        var seen: UInt64 = 0
        repeat {
            guard let key = string(), consume(0x3A) else { return false }
            if let position = keys.firstIndex(of: key) {
                guard seen & (1 << position) == 0 else { return false }
                seen |= 1 << position
                guard member(position, &self) else { return false }
            } else {
                guard skipValue(depth: depth + 1) else { return false }
            }
        } while consume(0x2C)
        return consume(0x7D)
    }

    /// An array: `element(&reader)` reads each element (false when it cannot). False when malformed.
    public mutating func array(depth: Int = 0, _ element: (inout JSONPullReader) -> Bool) -> Bool {
        guard depth < 64, consume(0x5B) else { return false }
        if consume(0x5D) { return true }
        repeat {
            guard element(&self) else { return false }
        } while consume(0x2C)
        return consume(0x5D)
    }

    /// A value that may be `null` into `target` (nil for `null`), read by `value`; false when malformed.
    public mutating func read<T>(_ target: inout T?, _ value: (inout JSONPullReader) -> T?) -> Bool {
        if consumeNull() {
            target = nil
            return true
        }
        guard let read = value(&self) else { return false }
        target = read
        return true
    }

    /// A JSON string, unescaped; nil when malformed (bad escape, control character, lone surrogate, invalid UTF-8).
    public mutating func string() -> String? {
        guard consume(0x22) else { return nil }
        let start = index
        var plain = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x22 {
                let body = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if plain { return String(utf8Bytes: body.assumingMemoryBound(to: UInt8.self)) }
                return Self.unescape(body)
            }
            if byte == 0x5C {
                plain = false
                index += 2  // the escape's first character can never be a closing quote
                continue
            }
            if byte < 0x20 { return nil }
            index += 1
        }
        return nil
    }

    static func unescape(_ body: UnsafeRawBufferPointer) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var i = 0
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= body.count else { return nil }
            var value: UInt32 = 0
            for offset in 0..<4 {
                let c = body[at + offset]
                let digit: UInt8
                switch c {
                case 0x30...0x39: digit = c - 0x30
                case 0x41...0x46: digit = c - 0x41 + 10
                case 0x61...0x66: digit = c - 0x61 + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while i < body.count {
            let byte = body[i]
            guard byte == 0x5C else {
                out.append(byte)
                i += 1
                continue
            }
            guard i + 1 < body.count else { return nil }
            switch body[i + 1] {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x2F: out.append(0x2F)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                guard var scalar = hex4(i + 2) else { return nil }
                i += 6
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 1 < body.count, body[i] == 0x5C, body[i + 1] == 0x75, let low = hex4(i + 2), (0xDC00...0xDFFF).contains(low) else { return nil }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    return nil
                }
                guard let unicode = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: String(Character(unicode)).utf8)
                continue
            default: return nil
            }
            i += 2
        }
        return out.withUnsafeBufferPointer { String(utf8Bytes: $0) }
    }

    /// The span of a JSON number (RFC 8259 grammar) and whether it is a plain integer (no fraction, no exponent).
    mutating func numberSpan() -> (Range<Int>, integer: Bool)? {
        skipWhitespace()
        let start = index
        if index < bytes.count, bytes[index] == 0x2D { index += 1 }
        guard index < bytes.count else { return nil }
        if bytes[index] == 0x30 {
            index += 1
        } else if (0x31...0x39).contains(bytes[index]) {
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
        } else {
            return nil
        }
        var integer = true
        if index < bytes.count, bytes[index] == 0x2E {
            integer = false
            index += 1
            let digits = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
            guard index > digits else { return nil }
        }
        if index < bytes.count, bytes[index] == 0x65 || bytes[index] == 0x45 {
            integer = false
            index += 1
            if index < bytes.count, bytes[index] == 0x2B || bytes[index] == 0x2D { index += 1 }
            let digits = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
            guard index > digits else { return nil }
        }
        return (start..<index, integer)
    }

    /// A plain integer literal that fits `Int`; nil for anything else (fractions and exponents included: the caller
    /// leaves those to `JSONDecoder`).
    public mutating func int() -> Int? {
        guard let (span, integer) = numberSpan(), integer else { return nil }
        var value = 0
        let negative = bytes[span.lowerBound] == 0x2D
        for position in (negative ? span.lowerBound + 1 : span.lowerBound)..<span.upperBound {
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let digit = Int(bytes[position] - 0x30)
            let (next, o2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = next
        }
        return value
    }

    /// Any JSON number as a `Double` (correctly rounded, as `JSONDecoder` reads it); nil when out of range.
    public mutating func double() -> Double? {
        guard let (span, _) = numberSpan() else { return nil }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[span]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { return nil }
        return value
    }

    /// Skips one value of any kind (checking its grammar); false when malformed or nested deeper than 64 levels.
    public mutating func skipValue(depth: Int = 0) -> Bool {
        guard depth < 64, let next = peek() else { return false }
        switch next {
        case 0x22: return string() != nil
        case 0x7B: return object([], depth: depth) { _, _ in false }
        case 0x5B: return array(depth: depth) { $0.skipValue(depth: depth + 1) }
        case 0x74: return literal("true")
        case 0x66: return literal("false")
        case 0x6E: return consumeNull()
        default: return numberSpan() != nil
        }
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let length = word.utf8CodeUnitCount
        guard index + length <= bytes.count else { return false }
        for offset in 0..<length where bytes[index + offset] != word.utf8Start[offset] { return false }
        index += length
        return true
    }
}
