import Foundation
import Testing

@testable import App
@testable import OpenEMR

/// The fast reader of transcription bodies (`TranscriptionInput(fastJSON:)`) against `JSONDecoder`, the reference:
/// whatever the fast path accepts, JSONDecoder decodes to the same value; and it accepts the common well-formed bodies
/// (otherwise it would be no fast path at all).
@Suite struct FastJSONTests {
    static func reference(_ text: String) -> TranscriptionInput? {
        try? JSONCoding.keyedDecoder.decode(TranscriptionInput.self, from: Data(text.utf8))
    }

    static func fast(_ text: String) -> TranscriptionInput? {
        Array(text.utf8).withUnsafeBytes { TranscriptionInput(fastJSON: $0) }
    }

    /// A JSON string literal, with the escapes a client may use (`\u` included, surrogate pairs for astral characters).
    static func quote(_ text: String, escapeAll: Bool, using random: inout some RandomNumberGenerator) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "/": out += Bool.random(using: &random) ? "\\/" : "/"
            default:
                if scalar.value < 0x20 || (escapeAll && scalar.value > 0x7E) {
                    for unit in String(scalar).utf16 { out += String(format: "\\u%04x", unit) }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static let words = ["Patient", "reports", "mild", "headache", "Zoë", "niño", "日本語", "🙂", "a\"quote", "back\\slash", "tab\there", "line\nbreak", "/path/", "\u{1}", ""]

    static func value(_ kind: Int, _ random: inout some RandomNumberGenerator) -> String {
        switch kind {
        case 0: return "null"
        case 1: return String(Int.random(in: -5...1_000_000, using: &random))
        case 2: return quote(words.randomElement(using: &random)!, escapeAll: Bool.random(using: &random), using: &random)
        case 3: return ["0.5", "1", "0", "1e-1", "0.95", "-0.0", "2.5E0", "1.0"].randomElement(using: &random)!
        case 4: return "[1,{\"x\":[true,false,null]},\"s\"]"
        default: return "{\"nested\":{\"deep\":[1,2,{\"k\":\"v\"}]}}"
        }
    }

    /// Mostly well-typed bodies, with nulls, unknown keys, odd spacing, escapes and, now and then, a wrong type.
    static func body(_ random: inout some RandomNumberGenerator, wellTyped: Bool) -> String {
        func space() -> String { ["", " ", "\n  ", "\t", "\r\n"].randomElement(using: &random)! }
        func typed(_ expected: Int) -> String {
            if !wellTyped && Int.random(in: 0..<6, using: &random) == 0 { return value(Int.random(in: 0...5, using: &random), &random) }
            if Int.random(in: 0..<8, using: &random) == 0 { return "null" }
            return value(expected, &random)
        }
        var members: [String] = []
        for key in ["pid", "encounter", "provider_id", "duration_ms"] where Int.random(in: 0..<4, using: &random) > 0 {
            members.append("\"\(key)\":\(space())\(typed(1))")
        }
        if Bool.random(using: &random) { members.append("\"language\":\(typed(2))") }
        if Int.random(in: 0..<5, using: &random) == 0 { members.append("\"unknown_\(Int.random(in: 0...9, using: &random))\":\(value(Int.random(in: 0...5, using: &random), &random))") }
        if Int.random(in: 0..<6, using: &random) > 0 {
            var segments: [String] = []
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                var fields: [String] = []
                for key in ["order", "start_ms", "end_ms"] where Int.random(in: 0..<6, using: &random) > 0 { fields.append("\"\(key)\":\(typed(1))") }
                for key in ["speaker", "text"] where Int.random(in: 0..<6, using: &random) > 0 { fields.append("\"\(key)\":\(typed(2))") }
                if Bool.random(using: &random) { fields.append("\"confidence\":\(typed(3))") }
                if Int.random(in: 0..<8, using: &random) == 0 { fields.append("\"extra\":\(value(5, &random))") }
                fields.shuffle(using: &random)
                segments.append("{" + fields.joined(separator: "," + space()) + "}")
            }
            members.append("\"segments\":\(space())[" + segments.joined(separator: ",") + "]")
        }
        members.shuffle(using: &random)
        return space() + "{" + space() + members.joined(separator: "," + space()) + space() + "}" + space()
    }

    @Test func agreesWithJSONDecoderOnRandomBodies() {
        var random = SystemRandomNumberGenerator()
        var accepted = 0
        for round in 0..<4_000 {
            let text = Self.body(&random, wellTyped: round % 2 == 0)
            let reference = Self.reference(text)
            guard let fast = Self.fast(text) else { continue }
            accepted += 1
            #expect(reference == fast, "\(text)")
        }
        // Well-typed bodies are half the rounds; nearly all of them must take the fast path (those with `1.0`-style
        // numbers where integers belong do not).
        #expect(accepted > 1_500)
    }

    @Test func refusesWhatItShouldLeaveToJSONDecoder() {
        let cases = [
            #"{"pid":1,"pid":2}"#,  // repeated key
            #"{"pid":1.0}"#,  // an integer written as a fraction
            #"{"pid":"1"}"#,  // a string where a number belongs
            #"{"pid":1,}"#,  // trailing comma
            #"{"segments":[{"text":"a"},]}"#,
            #"{"segments":[{"text":"\ud800"}]}"#,  // lone surrogate
            #"{"segments":[{"text":"\x"}]}"#,  // bad escape
            "{\"language\":\"a\u{1}b\"}",  // raw control character
            #"{"pid":99999999999999999999}"#,  // overflow
            #"{"pid":1} x"#,  // trailing garbage
            #"[]"#,
            #"{"pid":01}"#,
            #"{"segments":{}}"#,
        ]
        for text in cases {
            #expect(Self.fast(text) == nil, "\(text)")
        }
        // Bytes that are not UTF-8 inside a string.
        let invalid: [UInt8] = Array(#"{"language":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(invalid.withUnsafeBytes { TranscriptionInput(fastJSON: $0) } == nil)
    }

    @Test func readsEscapesAndNumbersExactly() throws {
        let text = #"{"pid":7,"encounter":-3,"duration_ms":null,"language":"es\u002DMX","segments":[{"order":0,"text":"\ud83d\ude42 \"x\"\\\/\b\f\n\r\t","confidence":9.5e-1}],"u":[{"a":[]},{}]}"#
        let fast = try #require(Self.fast(text))
        #expect(fast == Self.reference(text))
        #expect(fast.sentDuration && fast.durationMs == nil)
        #expect(fast.language == "es-MX")
        #expect(fast.segments?.first?.text == "🙂 \"x\"\\/\u{8}\u{c}\n\r\t")
        #expect(fast.segments?.first?.confidence == 0.95)
    }

    @Test func trimsASCIIByteByByte() {
        #expect("  a b \t".trimmingCharacters(in: " \t") == "a b")
        #expect("\n text\r\n\n".trimmingCharacters(in: " \t\r\n") == "text")
        #expect("   ".trimmingCharacters(in: " ") == "")
        #expect("é ".trimmingCharacters(in: " ") == "é")
        #expect("[\"x\"]".trimmingCharacters(in: " \t\"[]") == "x")
    }
}
