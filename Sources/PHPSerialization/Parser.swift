/// The decoding engine shared by ``PHPUnserializer`` and ``PHPSessionDecoder``.
///
/// It mirrors PHP's `var_unserializer.re`: every value except `R:` occupies a numbered slot
/// (1-based, shared across all variables of one session), array keys and property names do
/// not, and the payload of a `C:` object consumes slots too when it is itself serialized data.
/// Recursion depth is bounded by ``PHPDecodingLimits/maxDepth``; every loop consumes input or
/// stops, so malformed input ends in a thrown ``PHPSerializationError``.
struct Parser {
    private enum Slot {
        case pending
        case done(PHPValue, nodes: Int)
    }

    private let bytes: [UInt8]
    private let limits: PHPDecodingLimits
    private(set) var pos: Int = 0
    private var end: Int
    private var slots: [Slot] = []
    private var nodes = 0
    private var slotsReliable = true

    /// Longest text accepted for a `d:` value (PHP writes at most ~25 bytes).
    private static let maxDoubleLength = 512

    init(bytes: [UInt8], limits: PHPDecodingLimits) throws(PHPSerializationError) {
        guard bytes.count <= limits.maxInputBytes else {
            throw PHPSerializationError(offset: 0, reason: .inputTooLarge)
        }
        self.bytes = bytes
        self.limits = limits
        self.end = bytes.count
    }

    var atEnd: Bool { pos >= end }

    // MARK: - Byte helpers

    private func error(_ reason: PHPSerializationError.Reason, at offset: Int? = nil) -> PHPSerializationError {
        PHPSerializationError(offset: offset ?? pos, reason: reason)
    }

    private func peek() -> UInt8? {
        pos < end ? bytes[pos] : nil
    }

    private mutating func expect(_ byte: UInt8) throws(PHPSerializationError) {
        guard pos < end else { throw error(.unexpectedEnd) }
        guard bytes[pos] == byte else { throw error(.unexpectedByte) }
        pos += 1
    }

    /// Reads `[0-9]+` followed by `terminator` (PHP's `uiv`).
    private mutating func readUnsigned(terminator: UInt8) throws(PHPSerializationError) -> Int {
        let start = pos
        var value = 0
        while pos < end, bytes[pos] != terminator {
            let byte = bytes[pos]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw error(.invalidLength) }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            if o1 || o2 { throw error(.integerOverflow, at: start) }
            value = s
            pos += 1
        }
        guard pos < end else { throw error(.unexpectedEnd) }
        guard pos > start else { throw error(.invalidLength) }
        pos += 1  // terminator
        return value
    }

    /// Reads exactly `count` raw bytes.
    private mutating func readBytes(_ count: Int) throws(PHPSerializationError) -> [UInt8] {
        guard count <= end - pos else { throw error(.lengthPastEnd) }
        let slice = Array(bytes[pos..<(pos + count)])
        pos += count
        return slice
    }

    /// Reads `<len>:"<bytes>"` (the caller handles what follows the closing quote).
    private mutating func readQuoted() throws(PHPSerializationError) -> [UInt8] {
        let length = try readUnsigned(terminator: UInt8(ascii: ":"))
        try expect(UInt8(ascii: "\""))
        let value = try readBytes(length)
        try expect(UInt8(ascii: "\""))
        return value
    }

    /// Reads a class name in `<len>:"<name>"` form and checks PHP's identifier alphabet.
    private mutating func readClassName(allowColon: Bool = false) throws(PHPSerializationError) -> [UInt8] {
        let start = pos
        let name = try readQuoted()
        guard !name.isEmpty else { throw error(.invalidClassName, at: start) }
        for byte in name {
            let ok = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "\\") || byte >= 0x80
                || (allowColon && byte == UInt8(ascii: ":"))
            guard ok else { throw error(.invalidClassName, at: start) }
        }
        return name
    }

    /// Reads `[+-]?[0-9]+;`.
    private mutating func readInteger() throws(PHPSerializationError) -> Int {
        let start = pos
        var negative = false
        if let sign = peek(), sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            pos += 1
        }
        let digitsStart = pos
        while pos < end, bytes[pos] >= UInt8(ascii: "0"), bytes[pos] <= UInt8(ascii: "9") { pos += 1 }
        guard pos > digitsStart else { throw error(pos < end ? .invalidInteger : .unexpectedEnd) }
        guard let value = parseDecimal(bytes[digitsStart..<pos], negative: negative) else {
            throw error(.integerOverflow, at: start)
        }
        try expect(UInt8(ascii: ";"))
        return value
    }

    /// Reads a PHP float literal followed by `;`.
    private mutating func readDouble() throws(PHPSerializationError) -> Double {
        let start = pos
        var stop = pos
        while stop < end, bytes[stop] != UInt8(ascii: ";") {
            stop += 1
            if stop - start > Parser.maxDoubleLength { throw error(.invalidDouble, at: start) }
        }
        guard stop < end else { throw error(.unexpectedEnd, at: end) }
        let text = bytes[start..<stop]
        guard let value = Parser.parseDouble(text) else { throw error(.invalidDouble, at: start) }
        pos = stop + 1
        return value
    }

    /// PHP's grammar: `NAN`, `-?INF`, or `[+-]?(digits(.digits?)?|.digits)([eE][+-]?digits)?`.
    static func parseDouble(_ text: ArraySlice<UInt8>) -> Double? {
        if text.elementsEqual("NAN".utf8) { return .nan }
        if text.elementsEqual("INF".utf8) { return .infinity }
        if text.elementsEqual("-INF".utf8) { return -.infinity }
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        var i = text.startIndex
        if i < text.endIndex, text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-") { i += 1 }
        var mantissaDigits = 0
        while i < text.endIndex, isDigit(text[i]) { i += 1; mantissaDigits += 1 }
        if i < text.endIndex, text[i] == UInt8(ascii: ".") {
            i += 1
            while i < text.endIndex, isDigit(text[i]) { i += 1; mantissaDigits += 1 }
        }
        guard mantissaDigits > 0 else { return nil }
        if i < text.endIndex, text[i] == UInt8(ascii: "e") || text[i] == UInt8(ascii: "E") {
            i += 1
            if i < text.endIndex, text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-") { i += 1 }
            var exponentDigits = 0
            while i < text.endIndex, isDigit(text[i]) { i += 1; exponentDigits += 1 }
            guard exponentDigits > 0 else { return nil }
        }
        guard i == text.endIndex else { return nil }
        // The text is now plain ASCII decimal; Swift's parser rounds correctly
        // and maps overflow to ±infinity, as PHP's zend_strtod does.
        return Double(String(decoding: text, as: UTF8.self))
    }

    /// Reads a session variable name up to (and consuming) the `|` delimiter.
    mutating func readSessionName() throws(PHPSerializationError) -> ArraySlice<UInt8> {
        let start = pos
        guard let bar = bytes[start..<end].firstIndex(of: UInt8(ascii: "|")) else {
            throw error(.missingNameDelimiter)
        }
        pos = bar + 1
        return bytes[start..<bar]
    }

    // MARK: - Values

    private mutating func countNodes(_ n: Int) throws(PHPSerializationError) {
        let (sum, overflow) = nodes.addingReportingOverflow(n)
        guard !overflow, sum <= limits.maxNodes else { throw error(.nodeLimitExceeded) }
        nodes = sum
    }

    /// Parses one value. `depth` is the number of enclosing arrays/objects.
    mutating func parseValue(depth: Int) throws(PHPSerializationError) -> PHPValue {
        let start = pos
        guard pos + 1 < end else { throw error(.unexpectedEnd) }
        let tag = bytes[pos]
        if tag == UInt8(ascii: "R") {
            pos += 1
            try expect(UInt8(ascii: ":"))
            return try resolveReference(start: start)
        }
        // Every other value takes the next slot before its children (php_var_push).
        let slot = slots.count
        slots.append(.pending)
        let nodesBefore = nodes
        try countNodes(1)
        let value: PHPValue
        pos += 1
        switch tag {
        case UInt8(ascii: "N"):
            try expect(UInt8(ascii: ";"))
            value = .null
        case UInt8(ascii: "b"):
            try expect(UInt8(ascii: ":"))
            guard let byte = peek() else { throw error(.unexpectedEnd) }
            guard byte == UInt8(ascii: "0") || byte == UInt8(ascii: "1") else { throw error(.unexpectedByte) }
            pos += 1
            try expect(UInt8(ascii: ";"))
            value = .bool(byte == UInt8(ascii: "1"))
        case UInt8(ascii: "i"):
            try expect(UInt8(ascii: ":"))
            value = .int(try readInteger())
        case UInt8(ascii: "d"):
            try expect(UInt8(ascii: ":"))
            value = .double(try readDouble())
        case UInt8(ascii: "s"):
            try expect(UInt8(ascii: ":"))
            let string = try readQuoted()
            try expect(UInt8(ascii: ";"))
            value = .string(string)
        case UInt8(ascii: "a"):
            try expect(UInt8(ascii: ":"))
            value = .array(try parseTable(depth: depth, objectKeys: false))
        case UInt8(ascii: "O"):
            try expect(UInt8(ascii: ":"))
            let name = try readClassName()
            try expect(UInt8(ascii: ":"))
            let properties = try parseTable(depth: depth, objectKeys: true)
            value = .object(className: String(decoding: name, as: UTF8.self), properties: properties)
        case UInt8(ascii: "C"):
            try expect(UInt8(ascii: ":"))
            let name = try readClassName()
            try expect(UInt8(ascii: ":"))
            let length = try readUnsigned(terminator: UInt8(ascii: ":"))
            try expect(UInt8(ascii: "{"))
            let payloadStart = pos
            let payload = try readBytes(length)
            try expect(UInt8(ascii: "}"))
            let after = pos
            trialParsePayload(from: payloadStart, to: payloadStart + length, depth: depth + 1)
            pos = after
            value = .customObject(className: String(decoding: name, as: UTF8.self), payload: payload)
        case UInt8(ascii: "E"):
            try expect(UInt8(ascii: ":"))
            let nameStart = pos
            let name = try readClassName(allowColon: true)
            try expect(UInt8(ascii: ";"))
            guard let colon = name.firstIndex(of: UInt8(ascii: ":")), colon > 0, colon < name.count - 1 else {
                throw error(.invalidClassName, at: nameStart)
            }
            value = .enumCase(
                className: String(decoding: name[..<colon], as: UTF8.self),
                caseName: String(decoding: name[(colon + 1)...], as: UTF8.self))
        case UInt8(ascii: "r"):
            try expect(UInt8(ascii: ":"))
            value = try resolveReference(start: start)
        default:
            throw error(.unknownType, at: start)
        }
        slots[slot] = .done(value, nodes: nodes - nodesBefore)
        return value
    }

    /// `<n>;` after `r:` / `R:`.
    private mutating func resolveReference(start: Int) throws(PHPSerializationError) -> PHPValue {
        let number = try readUnsigned(terminator: UInt8(ascii: ";"))
        guard slotsReliable else { return .reference(number) }
        guard number >= 1, number <= slots.count else { throw error(.invalidReference, at: start) }
        switch slots[number - 1] {
        case .pending:
            return .reference(number)
        case .done(let value, let size):
            try countNodes(size)
            return value
        }
    }

    /// `<count>:{<key><value>…}` for arrays (`objectKeys == false`) and objects.
    private mutating func parseTable(depth: Int, objectKeys: Bool) throws(PHPSerializationError) -> PHPArray {
        let countStart = pos
        let count = try readUnsigned(terminator: UInt8(ascii: ":"))
        try expect(UInt8(ascii: "{"))
        // The smallest pair is `i:0;N;` (6 bytes), plus the closing brace.
        guard count <= (end - pos) / 6 else { throw error(.countExceedsInput, at: countStart) }
        guard depth + 1 <= limits.maxDepth else { throw error(.depthLimitExceeded) }
        var table = PHPArray()
        for _ in 0..<count {
            let key = try parseKey(objectKeys: objectKeys)
            let value = try parseValue(depth: depth + 1)
            table.updateValue(value, forKey: key)
        }
        try expect(UInt8(ascii: "}"))
        return table
    }

    /// An array key or property name: `i:<n>;` or `s:<len>:"<bytes>";` (no slot).
    private mutating func parseKey(objectKeys: Bool) throws(PHPSerializationError) -> PHPArrayKey {
        let start = pos
        guard pos + 1 < end else { throw error(.unexpectedEnd) }
        let tag = bytes[pos]
        pos += 1
        switch tag {
        case UInt8(ascii: "i"):
            try expect(UInt8(ascii: ":"))
            let n = try readInteger()
            // PHP stores object property names as strings.
            return objectKeys ? .string(Array(String(n).utf8)) : .int(n)
        case UInt8(ascii: "s"):
            try expect(UInt8(ascii: ":"))
            let name = try readQuoted()
            try expect(UInt8(ascii: ";"))
            if !objectKeys, let n = PHPArrayKey.canonicalInteger(name[...]) { return .int(n) }
            return .string(name)
        default:
            throw error(.invalidKey, at: start)
        }
    }

    /// PHP decodes a `C:` payload with the same slot table, so any values inside it shift
    /// the numbers used by later back-references. Parse it as a sequence of values to keep
    /// counting; if it is not serialized data, later back-references stay unresolved.
    private mutating func trialParsePayload(from start: Int, to stop: Int, depth: Int) {
        guard slotsReliable else { return }
        // Payloads nest inside payloads; stop counting (rather than recurse) past the depth limit.
        guard depth <= limits.maxDepth else {
            slotsReliable = false
            return
        }
        let savedEnd = end
        let savedSlots = slots.count
        end = stop
        pos = start
        var ok = true
        do {
            while pos < end { _ = try parseValue(depth: depth) }
        } catch {
            ok = false
        }
        end = savedEnd
        if !ok {
            slots.removeSubrange(savedSlots...)
            slotsReliable = false
        }
    }
}
