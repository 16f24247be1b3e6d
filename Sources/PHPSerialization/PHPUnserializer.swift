/// Decodes one value written by PHP's `serialize()`.
///
/// Works on bytes, by byte length (never assumes UTF-8), with the bounds in ``PHPDecodingLimits``.
/// No PHP class is ever instantiated: objects come back as opaque ``PHPValue/object(className:properties:)``.
public enum PHPUnserializer {
    /// Decodes exactly one serialized value; trailing bytes are an error.
    ///
    /// - Throws: ``PHPSerializationError`` for malformed input or exceeded limits.
    public static func unserialize(
        _ bytes: some Collection<UInt8>,
        limits: PHPDecodingLimits = .default
    ) throws(PHPSerializationError) -> PHPValue {
        guard bytes.count <= limits.maxInputBytes else {
            throw PHPSerializationError(offset: 0, reason: .inputTooLarge)
        }
        var parser = try Parser(bytes: Array(bytes), limits: limits)
        let value = try parser.parseValue(depth: 0)
        guard parser.atEnd else { throw PHPSerializationError(offset: parser.pos, reason: .trailingData) }
        return value
    }

    /// Decodes a serialized value given as a string (its UTF-8 bytes).
    public static func unserialize(
        _ string: String,
        limits: PHPDecodingLimits = .default
    ) throws(PHPSerializationError) -> PHPValue {
        try unserialize(Array(string.utf8), limits: limits)
    }
}
