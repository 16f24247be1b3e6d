import Foundation
import PHPSerialization
import Testing

@Suite("Malformed and hostile input")
struct MalformedInputTests {
    func expectThrows(
        _ input: [UInt8], _ reason: PHPSerializationError.Reason? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let value = try PHPUnserializer.unserialize(input)
            Issue.record("decoded malformed input to \(value)", sourceLocation: sourceLocation)
        } catch {
            if let reason {
                #expect(error.reason == reason, sourceLocation: sourceLocation)
            }
            #expect(error.offset >= 0 && error.offset <= input.count, sourceLocation: sourceLocation)
        }
    }

    func expectThrows(
        _ input: String, _ reason: PHPSerializationError.Reason? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        expectThrows(Array(input.utf8), reason, sourceLocation: sourceLocation)
    }

    @Test("fixture A truncated at every byte: throws, or stops exactly at an entry boundary")
    func truncatedEverywhere() throws {
        let bytes = try Fixtures.bytes("A-core-namespaced")
        let full = try PHPSessionDecoder.decode(bytes)
        let boundary = try #require(firstRange(of: Array("_sf2_meta|".utf8), in: bytes)).lowerBound
        var accepted: [Int] = []
        for n in 0..<bytes.count {
            do {
                let partial = try PHPSessionDecoder.decode(bytes[0..<n])
                accepted.append(n)
                #expect(Array(full.prefix(partial.count)) == partial)
            } catch {
                #expect(error.offset <= n)
            }
        }
        #expect(accepted == [0, boundary])
    }

    @Test("a truncated single value always throws", arguments: Fixtures.cases)
    func truncatedValue(fixture: String) throws {
        let bytes = try Fixtures.bytes(fixture)
        // The first top-level value, re-serialized by slicing: from after the first '|'
        // to the start of the second name (or the end).
        let entries = try PHPSessionDecoder.decode(bytes)
        let first = try #require(entries.first)
        let start = first.name.utf8.count + 1
        var stop = bytes.count
        if entries.count > 1 {
            let second = Array((entries[1].name + "|").utf8)
            // The second name follows the first value; search after it started.
            var i = start
            while i + second.count <= bytes.count {
                if bytes[i..<(i + second.count)].elementsEqual(second),
                    (try? PHPUnserializer.unserialize(bytes[start..<i])) == first.value
                {
                    stop = i
                    break
                }
                i += 1
            }
        }
        let value = Array(bytes[start..<stop])
        #expect(try PHPUnserializer.unserialize(value) == first.value)
        for n in 0..<value.count {
            expectThrows(Array(value[0..<n]))
        }
    }

    @Test("every string length and element count off by one throws")
    func lengthsOffByOne() throws {
        let bytes = try Fixtures.bytes("A-core-namespaced")
        let sidecar = try Fixtures.sidecar("A-core-namespaced")
        // Raw random values could contain text that looks like a length field; skip them.
        var secretRanges: [Range<Int>] = []
        for key in ["csrf_private_key", "session_database_uuid", "authPass"] {
            let session = try PHPSession(decoding: bytes, sessionName: sidecar.session_name)
            if let raw = session.bytes(key), let r = firstRange(of: raw, in: bytes) { secretRanges.append(r) }
        }
        var mutations = 0
        var i = 0
        while i + 2 < bytes.count {
            defer { i += 1 }
            guard bytes[i] == UInt8(ascii: "s") || bytes[i] == UInt8(ascii: "a"), bytes[i + 1] == UInt8(ascii: ":"),
                !secretRanges.contains(where: { $0.contains(i) })
            else { continue }
            var j = i + 2
            while j < bytes.count, bytes[j] >= UInt8(ascii: "0"), bytes[j] <= UInt8(ascii: "9") { j += 1 }
            guard j > i + 2, j < bytes.count, bytes[j] == UInt8(ascii: ":"),
                let n = Int(String(decoding: bytes[(i + 2)..<j], as: UTF8.self))
            else { continue }
            for delta in [-1, 1] where n + delta >= 0 {
                let mutated = Array(bytes[..<(i + 2)]) + Array(String(n + delta).utf8) + Array(bytes[j...])
                #expect(throws: PHPSerializationError.self) { try PHPSessionDecoder.decode(mutated) }
                mutations += 1
            }
        }
        #expect(mutations > 60)
    }

    @Test("UTF-8 strings are measured in bytes")
    func byteLengths() throws {
        #expect(try PHPUnserializer.unserialize(#"s:6:"pässw";"#).stringValue == "pässw")
        expectThrows(#"s:5:"pässw";"#, .unexpectedByte)
        expectThrows(#"s:7:"pässw";"#)
        #expect(try PHPUnserializer.unserialize(#"s:4:"🦄";"#).stringValue == "🦄")
    }

    @Test("bad lengths and counts")
    func badLengths() {
        expectThrows(#"s:-1:"";"#, .invalidLength)
        expectThrows(#"s:+1:"a";"#, .invalidLength)
        expectThrows(#"s::"";"#, .invalidLength)
        expectThrows(#"s:1a:"a";"#, .invalidLength)
        expectThrows(#"s:100:"short";"#, .lengthPastEnd)
        expectThrows(#"s:99999999999999999999999:"a";"#, .integerOverflow)
        expectThrows(#"s:1:"a""#, .unexpectedEnd)
        expectThrows(#"s:1:"a"}"#, .unexpectedByte)
        expectThrows(#"s:1:'a';"#, .unexpectedByte)
        expectThrows("a:999999999:{", .countExceedsInput)
        expectThrows("a:999999999:{}", .countExceedsInput)
        expectThrows("a:99999999999999999999999:{", .integerOverflow)
        expectThrows("a:-1:{}", .invalidLength)
        expectThrows("a:1:{}", .countExceedsInput)
        expectThrows("a:2:{i:0;N;}", .countExceedsInput)
        expectThrows("a:1:{i:0;N;i:1;N;}", .unexpectedByte)
        expectThrows("a:1:{i:0;N;", .unexpectedEnd)
        expectThrows("a:1:{N;N;N;N;}", .invalidKey)
        expectThrows("a:1:{d:1.5;N;}", .invalidKey)
        expectThrows("a:1:{a:0:{}N;}", .invalidKey)
        expectThrows(#"O:8:"stdClass":999999:{}"#, .countExceedsInput)
        expectThrows(#"O:0:"":0:{}"#, .invalidClassName)
        expectThrows(#"O:5:"a/b.c":0:{}"#, .invalidClassName)
        expectThrows(#"C:3:"Foo":10:{abc}"#, .lengthPastEnd)
        expectThrows(#"E:4:"Suit";"#, .invalidClassName)
    }

    @Test("integers")
    func integers() throws {
        #expect(try PHPUnserializer.unserialize("i:9223372036854775807;") == .int(.max))
        #expect(try PHPUnserializer.unserialize("i:-9223372036854775808;") == .int(.min))
        #expect(try PHPUnserializer.unserialize("i:+5;") == .int(5))
        #expect(try PHPUnserializer.unserialize("i:007;") == .int(7))
        expectThrows("i:9223372036854775808;", .integerOverflow)
        expectThrows("i:-9223372036854775809;", .integerOverflow)
        expectThrows("i:99999999999999999999999999999;", .integerOverflow)
        expectThrows("i:;", .invalidInteger)
        expectThrows("i:-;", .invalidInteger)
        expectThrows("i:1.5;", .unexpectedByte)
        expectThrows("i:1", .unexpectedEnd)
        expectThrows("i:0x10;")
        expectThrows("b:2;", .unexpectedByte)
        expectThrows("b:;", .unexpectedByte)
        expectThrows("N", .unexpectedEnd)
        expectThrows("N:", .unexpectedByte)
    }

    @Test("floats PHP writes decode; others are rejected")
    func floats() throws {
        func d(_ s: String) throws -> Double {
            try #require(try PHPUnserializer.unserialize(s).doubleValue)
        }
        #expect(try d("d:INF;") == .infinity)
        #expect(try d("d:-INF;") == -.infinity)
        #expect(try d("d:NAN;").isNaN)
        let negativeZero = try d("d:-0;")
        #expect(negativeZero == 0 && negativeZero.sign == .minus)
        #expect(try d("d:1.0E+25;") == 1e25)
        #expect(try d("d:1.0E-7;") == 1e-7)
        #expect(try d("d:.5;") == 0.5)
        #expect(try d("d:5.;") == 5)
        #expect(try d("d:+1.5e3;") == 1500)
        #expect(try d("d:1.7976931348623157E+308;") == .greatestFiniteMagnitude)
        #expect(try d("d:1e999;") == .infinity)
        #expect(try PHPUnserializer.unserialize("d:-0;") != .double(0), "sign of zero is kept")
        #expect(try PHPUnserializer.unserialize("d:NAN;") == .double(.nan))
        for bad in ["d:;", "d:.;", "d:1e;", "d:1e+;", "d:e5;", "d:inf;", "d:nan;", "d:Infinity;", "d:0x10;",
                    "d:1.2.3;", "d:1,5;", "d: 1;", "d:--1;", "d:1", "d:" + String(repeating: "1", count: 600) + ";"]
        {
            expectThrows(bad)
        }
    }

    @Test("nesting 10,000 deep throws instead of overflowing the stack")
    func deepNesting() {
        let depth = 10_000
        let input = String(repeating: "a:1:{i:0;", count: depth) + "N;" + String(repeating: "}", count: depth)
        expectThrows(input, .depthLimitExceeded)
        let objects = String(repeating: #"O:8:"stdClass":1:{s:1:"a";"#, count: depth) + "N;" + String(repeating: "}", count: depth)
        expectThrows(objects, .depthLimitExceeded)
        // An unterminated flood of opening arrays.
        expectThrows(String(repeating: "a:1:{i:0;", count: 100_000), .depthLimitExceeded)
    }

    @Test("10,000 nested C: payloads neither recurse without bound nor fail")
    func deepCustomPayloads() throws {
        var value = "N;"
        for _ in 0..<10_000 {
            value = "C:3:\"Foo\":\(value.utf8.count):{\(value)}"
        }
        let input = "a:2:{i:0;s:1:\"x\";i:1;\(value)}"
        let decoded = try PHPUnserializer.unserialize(input)
        guard case .customObject("Foo", let payload)? = decoded[1] else {
            Issue.record("not a C: object")
            return
        }
        #expect(payload.count > 10_000)
    }

    @Test("depth limit boundary")
    func depthBoundary() throws {
        func nested(_ n: Int) -> String {
            String(repeating: "a:1:{i:0;", count: n) + "N;" + String(repeating: "}", count: n)
        }
        #expect(throws: Never.self) { try PHPUnserializer.unserialize(nested(64)) }
        expectThrows(nested(65), .depthLimitExceeded)
        let strict = PHPDecodingLimits(maxDepth: 3)
        #expect(throws: Never.self) { try PHPUnserializer.unserialize(nested(3), limits: strict) }
        #expect(throws: PHPSerializationError(offset: 32, reason: .depthLimitExceeded)) {
            try PHPUnserializer.unserialize(nested(4), limits: strict)
        }
    }

    @Test("input over the size limit is rejected before parsing")
    func sizeLimit() {
        var big = Array(#"s:1048576:""#.utf8) + [UInt8](repeating: 0x41, count: 1 << 20) + Array(#"";"#.utf8)
        #expect(throws: PHPSerializationError(offset: 0, reason: .inputTooLarge)) {
            try PHPUnserializer.unserialize(big)
        }
        #expect(throws: PHPSerializationError(offset: 0, reason: .inputTooLarge)) {
            try PHPSessionDecoder.decode(Array("k|".utf8) + big)
        }
        big = Array(#"s:1000:""#.utf8) + [UInt8](repeating: 0x41, count: 1000) + Array(#"";"#.utf8)
        #expect(throws: Never.self) { try PHPUnserializer.unserialize(big) }
        #expect(throws: PHPSerializationError(offset: 0, reason: .inputTooLarge)) {
            try PHPUnserializer.unserialize(big, limits: PHPDecodingLimits(maxInputBytes: 1000))
        }
    }

    @Test("reference expansion bomb is stopped by the node limit")
    func referenceBomb() {
        // Level k is an array holding two back-references to level k-1; resolving them
        // naively would produce 2^60 nodes.
        var parts = ["a:61:{i:0;a:2:{i:0;i:1;i:1;i:1;}"]
        for k in 1...60 {
            let previous = 2 + 3 * (k - 1)
            parts.append("i:\(k);a:2:{i:0;r:\(previous);i:1;r:\(previous);}")
        }
        parts.append("}")
        expectThrows(parts.joined(), .nodeLimitExceeded)
        // The same structure with few levels is fine and resolved.
        let small = "a:3:{i:0;a:2:{i:0;i:1;i:1;i:2;}i:1;a:2:{i:0;r:2;i:1;r:2;}i:2;R:5;}"
        let value = try? PHPUnserializer.unserialize(small)
        #expect(value?[1]?[1]?[1] == .int(2))
        #expect(value?[2] == value?[1])
    }

    @Test("session data errors")
    func sessionErrors() {
        for bad in ["abc", "name", "a|", "a|s:1:\"x\";b", "a|i:1;|", "a|x;", "a|s:1:\"x\"", "|"] {
            #expect(throws: PHPSerializationError.self, "\(bad)") { try PHPSessionDecoder.decode(Array(bad.utf8)) }
        }
        #expect(throws: PHPSerializationError(offset: 0, reason: .missingNameDelimiter)) {
            try PHPSessionDecoder.decode(Array("garbage".utf8))
        }
        #expect(throws: PHPSerializationError(offset: 6, reason: .missingNameDelimiter)) {
            try PHPSessionDecoder.decode(Array("a|i:1;tail".utf8))
        }
        #expect(throws: PHPSerializationError(offset: 2, reason: .unknownType)) {
            try PHPSessionDecoder.decode(Array("a|x:1;".utf8))
        }
        #expect((try? PHPSessionDecoder.decode([UInt8]())) == [])
    }

    @Test("trailing data after one value is rejected")
    func trailingData() {
        expectThrows("i:1;i:2;", .trailingData)
        expectThrows("N;\n", .trailingData)
        expectThrows("", .unexpectedEnd)
    }

    @Test("errors never contain the input")
    func errorsAreRedacted() {
        let secret = "SuperSecretPasswordHash"
        let input = "authPass|s:99:\"\(secret)\";"
        do {
            _ = try PHPSessionDecoder.decode(Array(input.utf8))
            Issue.record("should throw")
        } catch {
            #expect(!String(describing: error).contains("Secret"))
            #expect(!String(reflecting: error).contains("Secret"))
            #expect(error.reason == .lengthPastEnd)
        }
        let value = PHPValue.string(Array(secret.utf8))
        #expect(!String(describing: value).contains("Secret"))
        #expect(!String(reflecting: value).contains("Secret"))
        #expect(!String(describing: PHPValue.array([0: value])).contains("Secret"))
    }

    @Test("random garbage and random mutations never crash or hang")
    func garbage() throws {
        var rng = SplitMix64(state: 0x5EED)
        let alphabet = Array(#"aisdbNOCErR:;{}"|0123456789-+.E"#.utf8)
        for _ in 0..<3000 {
            let count = Int.random(in: 0..<64, using: &rng)
            let input = (0..<count).map { _ in
                Bool.random(using: &rng) ? alphabet.randomElement(using: &rng) ?? 0 : UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? PHPUnserializer.unserialize(input)
            _ = try? PHPSessionDecoder.decode(input)
        }
        for fixture in Fixtures.cases {
            let bytes = try Fixtures.bytes(fixture)
            for _ in 0..<400 {
                var mutated = bytes
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let i = Int.random(in: 0..<mutated.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: mutated[i] = alphabet.randomElement(using: &rng) ?? 0
                    case 1: mutated.remove(at: i)
                    default: mutated.insert(UInt8.random(in: 0...255, using: &rng), at: i)
                    }
                }
                _ = try? PHPSession(decoding: mutated, sessionName: "OpenEMR")
            }
        }
    }
}
