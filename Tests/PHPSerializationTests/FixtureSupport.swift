import Foundation
import PHPSerialization

/// Loads the PHP-generated fixtures (see scripts/gen-php-session-fixtures.php).
enum Fixtures {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static let cases = ["A-core-namespaced", "B-core-flat", "C-portal-namespaced", "D-portal-flat", "E-stress"]

    static func url(_ name: String) throws -> URL {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw Missing(description: "Fixtures folder not in the test bundle")
        }
        return dir.appendingPathComponent(name)
    }

    static func bytes(_ fixture: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url(fixture + ".sess")))
    }

    static func sidecar(_ fixture: String) throws -> Sidecar {
        try JSONDecoder().decode(Sidecar.self, from: Data(contentsOf: url(fixture + ".json")))
    }
}

/// Generic JSON, so the typed descriptions in the sidecars can be walked.
indirect enum JSON: Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSON].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSON].self))
        }
    }

    subscript(key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var int: Int? {
        if case .number(let n) = self { return Int(exactly: n) }
        return nil
    }
}

struct SidecarEntry: Decodable {
    let name: String
    let v: JSON
}

struct Sidecar: Decodable {
    let session_name: String
    let session_id: String
    let source_file: String
    let byte_length: Int
    let layout: String
    let checks: [String: JSON]
    let entries: [SidecarEntry]
}

struct SidecarFormatError: Error, CustomStringConvertible {
    let description: String
}

/// Converts a typed description written by the PHP generator into the expected PHPValue.
func expectedValue(_ json: JSON) throws -> PHPValue {
    guard let type = json["t"]?.string else { throw SidecarFormatError(description: "missing t") }
    switch type {
    case "null":
        return .null
    case "bool":
        guard case .bool(let b)? = json["v"] else { throw SidecarFormatError(description: "bool") }
        return .bool(b)
    case "int":
        guard let s = json["v"]?.string, let n = Int(s) else { throw SidecarFormatError(description: "int") }
        return .int(n)
    case "double":
        guard let hex = json["hex"]?.string, let bits = UInt64(hex, radix: 16) else {
            throw SidecarFormatError(description: "double")
        }
        return .double(Double(bitPattern: bits))
    case "string":
        return .string(try base64(json["b64"]))
    case "array":
        return .array(try expectedTable(json["entries"]))
    case "object":
        guard let cls = json["class"]?.string else { throw SidecarFormatError(description: "object") }
        return .object(className: cls, properties: try expectedTable(json["entries"]))
    case "custom":
        guard let cls = json["class"]?.string else { throw SidecarFormatError(description: "custom") }
        return .customObject(className: cls, payload: try base64(json["b64"]))
    case "enum":
        guard let v = json["v"]?.string, let colon = v.firstIndex(of: ":") else {
            throw SidecarFormatError(description: "enum")
        }
        return .enumCase(className: String(v[..<colon]), caseName: String(v[v.index(after: colon)...]))
    default:
        throw SidecarFormatError(description: "unknown type \(type)")
    }
}

func base64(_ json: JSON?) throws -> [UInt8] {
    guard let s = json?.string, let data = Data(base64Encoded: s) else {
        throw SidecarFormatError(description: "base64")
    }
    return [UInt8](data)
}

func expectedTable(_ json: JSON?) throws -> PHPArray {
    guard case .array(let items)? = json else { throw SidecarFormatError(description: "entries") }
    var table = PHPArray()
    for item in items {
        guard let k = item["k"], let v = item["v"] else { throw SidecarFormatError(description: "entry") }
        let key: PHPArrayKey
        switch try expectedValue(k) {
        case .int(let n): key = .int(n)
        case .string(let bytes): key = .string(bytes)
        default: throw SidecarFormatError(description: "key")
        }
        table.updateValue(try expectedValue(v), forKey: key)
    }
    return table
}

/// Finds `needle` in `haystack`; returns the start offset.
func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
    guard !needle.isEmpty, needle.count <= haystack.count else { return nil }
    for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
        return i..<(i + needle.count)
    }
    return nil
}

/// A small deterministic PRNG for the garbage tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
