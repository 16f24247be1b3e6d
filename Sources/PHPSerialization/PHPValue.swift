/// A key of a PHP array: an integer or a byte string.
///
/// PHP converts string keys that look like canonical decimal integers (`"7"`, `"-3"`, but
/// not `"07"` or `"-0"`) into integer keys; the decoder does the same for `a:` arrays.
public enum PHPArrayKey: Sendable, Hashable, CustomStringConvertible,
    ExpressibleByStringLiteral, ExpressibleByIntegerLiteral
{
    /// An integer key.
    case int(Int)
    /// A string key, as raw bytes.
    case string([UInt8])

    /// The key PHP would use for `$array[$string]`: an integer key for canonical decimal
    /// integers, otherwise the UTF-8 bytes of `string`.
    public init(_ string: String) {
        let bytes = Array(string.utf8)
        if let n = PHPArrayKey.canonicalInteger(bytes[...]) {
            self = .int(n)
        } else {
            self = .string(bytes)
        }
    }

    /// Creates a key from a string literal, normalised like ``init(_:)``.
    public init(stringLiteral value: String) { self.init(value) }

    /// Creates an integer key.
    public init(integerLiteral value: Int) { self = .int(value) }

    /// The key as text: decimal for integer keys, UTF-8 for string keys (nil if not valid UTF-8).
    public var stringValue: String? {
        switch self {
        case .int(let n): return String(n)
        case .string(let bytes): return String(validating: bytes, as: UTF8.self)
        }
    }

    /// Log-safe description (string keys are shown; they are names, not secrets).
    public var description: String {
        switch self {
        case .int(let n): return String(n)
        case .string(let bytes): return "\"" + String(decoding: bytes, as: UTF8.self) + "\""
        }
    }

    /// PHP's `ZEND_HANDLE_NUMERIC_STR`: `0` or `-?[1-9][0-9]*` that fits in `Int`.
    static func canonicalInteger(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard let first = bytes.first else { return nil }
        var digits = bytes
        let negative = first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard let lead = digits.first, lead >= UInt8(ascii: "0"), lead <= UInt8(ascii: "9") else { return nil }
        if lead == UInt8(ascii: "0") {
            // "0" is canonical; "00", "07" and "-0" are not.
            return (!negative && digits.count == 1) ? 0 : nil
        }
        return parseDecimal(digits, negative: negative)
    }
}

/// Parses `[0-9]+` (no sign) as a possibly negated `Int`; nil on a non-digit or overflow.
func parseDecimal(_ digits: ArraySlice<UInt8>, negative: Bool) -> Int? {
    guard !digits.isEmpty else { return nil }
    // Accumulate as a negative number so that Int.min is representable.
    var acc = 0
    for byte in digits {
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        let (m, o1) = acc.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.subtractingReportingOverflow(Int(byte - UInt8(ascii: "0")))
        if o1 || o2 { return nil }
        acc = s
    }
    if negative { return acc }
    let (positive, overflow) = (0).subtractingReportingOverflow(acc)
    return overflow ? nil : positive
}

/// An ordered PHP array (or an object's property table): key/value pairs in insertion order,
/// with unique keys.
///
/// Subscripts look keys up with PHP semantics: `array["7"]` finds the integer key `7`.
public struct PHPArray: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    /// One key/value pair.
    public typealias Element = (key: PHPArrayKey, value: PHPValue)

    /// The pairs, in order.
    public private(set) var entries: [Element]
    private var positions: [PHPArrayKey: Int]

    /// An empty array.
    public init() {
        entries = []
        positions = [:]
    }

    /// Builds an array from pairs in order; a repeated key replaces the earlier value
    /// in its original position (as PHP does).
    public init(_ pairs: some Sequence<Element>) {
        self.init()
        for pair in pairs { updateValue(pair.value, forKey: pair.key) }
    }

    /// Builds an array from a literal, e.g. `["a": .int(1), 0: .null]`.
    public init(dictionaryLiteral elements: (PHPArrayKey, PHPValue)...) {
        self.init()
        for (key, value) in elements { updateValue(value, forKey: key) }
    }

    /// Number of pairs.
    public var count: Int { entries.count }
    /// True when there are no pairs.
    public var isEmpty: Bool { entries.isEmpty }
    /// The keys, in order.
    public var keys: [PHPArrayKey] { entries.map(\.key) }
    /// The values, in order.
    public var values: [PHPValue] { entries.map(\.value) }

    /// Sets `value` for `key`: replaces an existing value in place, or appends.
    public mutating func updateValue(_ value: PHPValue, forKey key: PHPArrayKey) {
        if let i = positions[key] {
            entries[i].value = value
        } else {
            positions[key] = entries.count
            entries.append((key: key, value: value))
        }
    }

    /// The value for an exact key.
    public subscript(key: PHPArrayKey) -> PHPValue? {
        guard let i = positions[key] else { return nil }
        return entries[i].value
    }

    /// The value for a string key, looked up like PHP's `$array["…"]`
    /// (a canonical decimal string also matches the integer key).
    public subscript(key: String) -> PHPValue? {
        let normalized = PHPArrayKey(key)
        if let value = self[normalized] { return value }
        // Object property tables keep numeric names as strings.
        if case .int = normalized { return self[PHPArrayKey.string(Array(key.utf8))] }
        return nil
    }

    /// The value for an integer key (not a position).
    public subscript(key: Int) -> PHPValue? {
        self[PHPArrayKey.int(key)]
    }

    /// Iterates over the pairs in order.
    public func makeIterator() -> IndexingIterator<[Element]> {
        entries.makeIterator()
    }

    /// Equal when both hold the same pairs in the same order.
    public static func == (lhs: PHPArray, rhs: PHPArray) -> Bool {
        guard lhs.entries.count == rhs.entries.count else { return false }
        for (a, b) in zip(lhs.entries, rhs.entries) where a.key != b.key || a.value != b.value {
            return false
        }
        return true
    }
}

/// One value decoded from PHP's `serialize()` format.
///
/// Strings are raw bytes: PHP strings are byte strings and OpenEMR stores binary values
/// (the 32-byte `csrf_private_key`, the 16-byte `session_database_uuid`) unencoded.
///
/// Equality is structural; doubles compare by bit pattern except that every NaN equals
/// every NaN (so `-0.0 != 0.0`).
///
/// `description` never prints string contents, so values can be logged without leaking secrets.
public indirect enum PHPValue: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// `N;`
    case null
    /// `b:0;` / `b:1;`
    case bool(Bool)
    /// `i:<n>;`
    case int(Int)
    /// `d:<float>;`, including `INF`, `-INF`, `NAN` and `-0`.
    case double(Double)
    /// `s:<byte length>:"<bytes>";`
    case string([UInt8])
    /// `a:<n>:{<key><value>…}`
    case array(PHPArray)
    /// `O:<len>:"<class>":<n>:{<name><value>…}`. Treated as opaque data: no class is
    /// instantiated. Property names are as PHP writes them (`"\0*\0prop"` for protected,
    /// `"\0Class\0prop"` for private) and are always string keys.
    case object(className: String, properties: PHPArray)
    /// `C:<len>:"<class>":<n>:{<payload>}` (a `Serializable` object): the payload is kept as opaque bytes.
    case customObject(className: String, payload: [UInt8])
    /// `E:<len>:"<Enum>:<Case>";` (a PHP 8.1 enum case).
    case enumCase(className: String, caseName: String)
    /// A back-reference (`r:`/`R:`) that was not resolved: it points to an array or object that
    /// is still being decoded (a cycle), or the slot numbering became unknowable after a `C:`
    /// payload that is not itself serialized data. Holds PHP's 1-based slot number.
    /// Back-references to completed values are resolved to a copy of that value instead.
    case reference(Int)

    /// The string decoded as UTF-8; nil if this is not a string or the bytes are not valid UTF-8.
    public var stringValue: String? {
        guard case .string(let bytes) = self else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The raw bytes of a string value.
    public var bytesValue: [UInt8]? {
        guard case .string(let bytes) = self else { return nil }
        return bytes
    }

    /// An integer, or a string holding a decimal integer (`-?[0-9]+`, fitting in `Int`),
    /// since OpenEMR stores ids such as `authUserID` or `pid` as strings in some versions.
    /// Nil for anything else (floats, bools, `"1.5"`, `" 1"`, `""`).
    public var intValue: Int? {
        switch self {
        case .int(let n):
            return n
        case .string(let bytes):
            guard bytes.count <= 40, let first = bytes.first else { return nil }
            if first == UInt8(ascii: "-") { return parseDecimal(bytes.dropFirst(), negative: true) }
            return parseDecimal(bytes[...], negative: false)
        default:
            return nil
        }
    }

    /// The value of a `bool`.
    public var boolValue: Bool? {
        guard case .bool(let b) = self else { return nil }
        return b
    }

    /// The value of a `double`.
    public var doubleValue: Double? {
        guard case .double(let d) = self else { return nil }
        return d
    }

    /// The pairs of an array.
    public var arrayValue: PHPArray? {
        guard case .array(let a) = self else { return nil }
        return a
    }

    /// True for `N;`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// For arrays, the value for `key` with PHP lookup semantics; nil otherwise.
    public subscript(key: String) -> PHPValue? {
        guard case .array(let a) = self else { return nil }
        return a[key]
    }

    /// For arrays, the value for the integer key `key`; nil otherwise.
    public subscript(key: Int) -> PHPValue? {
        guard case .array(let a) = self else { return nil }
        return a[key]
    }

    /// Structural equality (see the type documentation for doubles).
    public static func == (lhs: PHPValue, rhs: PHPValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let c1, let p1), .object(let c2, let p2)): return c1 == c2 && p1 == p2
        case (.customObject(let c1, let p1), .customObject(let c2, let p2)): return c1 == c2 && p1 == p2
        case (.enumCase(let c1, let k1), .enumCase(let c2, let k2)): return c1 == c2 && k1 == k2
        case (.reference(let a), .reference(let b)): return a == b
        default: return false
        }
    }

    /// A log-safe summary: types and sizes, never string contents.
    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "bool(\(b))"
        case .int(let n): return "int(\(n))"
        case .double(let d): return "double(\(d))"
        case .string(let bytes): return "string(\(bytes.count) bytes)"
        case .array(let a): return "array(\(a.count))"
        case .object(let c, let p): return "object(\(c), \(p.count) properties)"
        case .customObject(let c, let p): return "customObject(\(c), \(p.count) bytes)"
        case .enumCase(let c, let k): return "enum(\(c):\(k))"
        case .reference(let n): return "reference(\(n))"
        }
    }

    /// Same as ``description`` (log-safe).
    public var debugDescription: String { description }
}
