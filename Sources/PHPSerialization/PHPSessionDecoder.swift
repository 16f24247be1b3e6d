/// One top-level `$_SESSION` variable.
public struct PHPSessionEntry: Sendable, Equatable {
    /// The variable name (decoded as UTF-8; invalid bytes become U+FFFD).
    public let name: String
    /// The decoded value.
    public let value: PHPValue

    /// Creates an entry.
    public init(name: String, value: PHPValue) {
        self.name = name
        self.value = value
    }
}

/// Decodes session data written by PHP's `php` serialize handler
/// (`session.serialize_handler = php`, the default): `name|<serialized value>name|…`,
/// with no separators between entries. Names cannot contain `|`.
///
/// Back-references share one slot table across all entries, as in PHP.
/// Unlike PHP, a trailing fragment without `|` is reported as an error
/// (it usually means a truncated read).
public enum PHPSessionDecoder {
    /// Decodes the content of a `sess_<id>` file (or a Redis session value) into its
    /// top-level variables, in file order. Empty input yields no entries.
    ///
    /// - Throws: ``PHPSerializationError`` for malformed input or exceeded limits.
    public static func decode(
        _ bytes: some Collection<UInt8>,
        limits: PHPDecodingLimits = .default
    ) throws(PHPSerializationError) -> [PHPSessionEntry] {
        guard bytes.count <= limits.maxInputBytes else {
            throw PHPSerializationError(offset: 0, reason: .inputTooLarge)
        }
        var parser = try Parser(bytes: Array(bytes), limits: limits)
        var entries: [PHPSessionEntry] = []
        while !parser.atEnd {
            let name = String(decoding: try parser.readSessionName(), as: UTF8.self)
            let value = try parser.parseValue(depth: 0)
            entries.append(PHPSessionEntry(name: name, value: value))
        }
        return entries
    }
}
