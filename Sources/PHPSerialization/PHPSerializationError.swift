/// An error thrown when bytes are not valid PHP `serialize()` / `php` session data,
/// or when they exceed the configured ``PHPDecodingLimits``.
///
/// The error carries only a byte offset and a reason, never any part of the input:
/// session files hold password hashes and CSRF keys, and errors end up in logs.
public struct PHPSerializationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why decoding stopped.
    public enum Reason: String, Sendable, Equatable, CaseIterable {
        /// The input is larger than ``PHPDecodingLimits/maxInputBytes``.
        case inputTooLarge
        /// The input ended in the middle of a value.
        case unexpectedEnd
        /// A byte other than the one the grammar requires was found (e.g. a missing `;`, `:` or `"`).
        case unexpectedByte
        /// The type tag is not one of `N b i d s a O C E r R`.
        case unknownType
        /// A length or element count is not a plain unsigned decimal number.
        case invalidLength
        /// A string length points past the end of the input.
        case lengthPastEnd
        /// An array or object claims more elements than the remaining input could hold.
        case countExceedsInput
        /// An integer is not of the form `[+-]?[0-9]+`.
        case invalidInteger
        /// An integer (or length) does not fit in `Int`.
        case integerOverflow
        /// A float is not of the form PHP writes (`1.5`, `-0`, `1.0E+25`, `INF`, `-INF`, `NAN`).
        case invalidDouble
        /// An array key is neither an integer nor a string.
        case invalidKey
        /// A class or enum name is empty or contains characters PHP never allows.
        case invalidClassName
        /// A back-reference (`r:`/`R:`) points to a value that does not exist.
        case invalidReference
        /// Arrays/objects are nested deeper than ``PHPDecodingLimits/maxDepth``.
        case depthLimitExceeded
        /// The decoded value (including resolved references) has more nodes than ``PHPDecodingLimits/maxNodes``.
        case nodeLimitExceeded
        /// Session data has a trailing part with no `|` after the variable name.
        case missingNameDelimiter
        /// Bytes remain after a complete top-level value.
        case trailingData
    }

    /// Byte offset (0-based) in the input where the problem was detected.
    public let offset: Int
    /// What was wrong.
    public let reason: Reason

    /// Creates an error.
    public init(offset: Int, reason: Reason) {
        self.offset = offset
        self.reason = reason
    }

    /// A log-safe description: offset and reason only.
    public var description: String {
        "invalid PHP serialized data at byte \(offset): \(reason.rawValue)"
    }
}

/// Resource limits applied while decoding untrusted serialized data.
public struct PHPDecodingLimits: Sendable, Equatable {
    /// Maximum input size in bytes. Default: 1 MiB.
    public var maxInputBytes: Int
    /// Maximum nesting of arrays/objects. Default: 64.
    public var maxDepth: Int
    /// Maximum number of values produced, counting every copy made when a
    /// back-reference is resolved (guards against "billion laughs" inputs). Default: 1,048,576.
    public var maxNodes: Int

    /// Creates limits; the defaults suit OpenEMR session files (a few KiB, depth < 10).
    public init(maxInputBytes: Int = 1 << 20, maxDepth: Int = 64, maxNodes: Int = 1 << 20) {
        self.maxInputBytes = maxInputBytes
        self.maxDepth = maxDepth
        self.maxNodes = maxNodes
    }

    /// The default limits: 1 MiB, depth 64, 1,048,576 nodes.
    public static let `default` = PHPDecodingLimits()
}
