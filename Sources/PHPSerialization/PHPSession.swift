/// An OpenEMR PHP session, decoded and with its layout detected (REFERENCE §3.3).
///
/// OpenEMR 6.0 – 8.0 keep every key at the top level of `$_SESSION` (``Layout/flat``);
/// 8.1+/8.2 use a Symfony `AttributeBag` stored under the session name
/// (`OpenEMR` or `PortalOpenEMR`) next to `_sf2_meta` (``Layout/namespaced``).
/// Detection: if the top level has a key equal to the session name whose value is an
/// array, that array holds the attributes; otherwise the top level does.
public struct PHPSession: Sendable, Equatable {
    /// Where the session attributes live.
    public enum Layout: String, Sendable, Equatable {
        /// Keys at the top level of `$_SESSION` (OpenEMR 6.0 – 8.0).
        case flat
        /// Keys in an array under the session name, plus `_sf2_meta` (OpenEMR 8.1+).
        case namespaced
    }

    /// Session (cookie) name of the core UI: `OpenEMR`.
    public static let coreSessionName = "OpenEMR"
    /// Session (cookie) name of the patient portal: `PortalOpenEMR`.
    public static let portalSessionName = "PortalOpenEMR"

    /// The session name used for layout detection.
    public let sessionName: String
    /// The top-level variables in file order.
    public let entries: [PHPSessionEntry]
    /// The top level as a PHP array (a repeated name keeps its first position and last value, as in PHP).
    public let topLevel: PHPArray
    /// The detected layout.
    public let layout: Layout
    /// The session attributes (the namespaced bag or the top level, per ``layout``).
    public let attributes: PHPArray

    /// Builds a session from already-decoded top-level entries.
    public init(entries: [PHPSessionEntry], sessionName: String) {
        self.sessionName = sessionName
        self.entries = entries
        let top = PHPArray(entries.map { (key: PHPArrayKey($0.name), value: $0.value) })
        self.topLevel = top
        if case .array(let bag)? = top[sessionName] {
            layout = .namespaced
            attributes = bag
        } else {
            layout = .flat
            attributes = top
        }
    }

    /// Decodes `php`-handler session data (the bytes of `sess_<id>`) and detects the layout.
    ///
    /// - Parameter sessionName: `OpenEMR` (``coreSessionName``) or `PortalOpenEMR` (``portalSessionName``).
    /// - Throws: ``PHPSerializationError`` for malformed input or exceeded limits.
    public init(
        decoding bytes: some Collection<UInt8>,
        sessionName: String,
        limits: PHPDecodingLimits = .default
    ) throws(PHPSerializationError) {
        self.init(entries: try PHPSessionDecoder.decode(bytes, limits: limits), sessionName: sessionName)
    }

    /// The attribute `key`, or nil.
    public subscript(key: String) -> PHPValue? {
        attributes[key]
    }

    /// The attribute `key` as UTF-8 text (nil if missing, not a string, or not valid UTF-8).
    public func string(_ key: String) -> String? {
        attributes[key]?.stringValue
    }

    /// The attribute `key` as an integer; accepts `i:` values and decimal strings such as `"1"`.
    public func int(_ key: String) -> Int? {
        attributes[key]?.intValue
    }

    /// The raw bytes of string attribute `key` (e.g. the 32-byte `csrf_private_key`).
    public func bytes(_ key: String) -> [UInt8]? {
        attributes[key]?.bytesValue
    }

    /// The top-level `_sf2_meta` array written by Symfony's MetadataBag, if present.
    public var meta: PHPArray? {
        topLevel["_sf2_meta"]?.arrayValue
    }

    /// `_sf2_meta['u']`: last-used Unix time (seconds), when present.
    public var metaLastUsed: Int? {
        meta?["u"]?.intValue
    }

    /// `_sf2_meta['c']`: creation Unix time (seconds), when present.
    public var metaCreated: Int? {
        meta?["c"]?.intValue
    }

    /// `_sf2_meta['l']`: cookie lifetime in seconds, when present.
    public var metaCookieLifetime: Int? {
        meta?["l"]?.intValue
    }

    /// OpenEMR 8.2's session id rule, `^[a-zA-Z0-9,-]{22,250}$`.
    ///
    /// Accepts PHP's 48-character `[0-9a-zA-Z,-]` ids and 32-character hex ids, and rejects
    /// anything containing `.`, `/`, NUL, whitespace or non-ASCII, so a file path built
    /// from an accepted id (`sess_<id>`) can never escape the session directory.
    public static func isValidSessionID(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard utf8.count >= 22, utf8.count <= 250 else { return false }
        return utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "-")
        }
    }
}
