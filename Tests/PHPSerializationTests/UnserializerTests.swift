import PHPSerialization
import Testing

@Suite("PHPUnserializer semantics")
struct UnserializerTests {
    func u(_ s: String) throws -> PHPValue {
        try PHPUnserializer.unserialize(s)
    }

    @Test("scalars")
    func scalars() throws {
        #expect(try u("N;") == .null)
        #expect(try u("b:1;") == .bool(true))
        #expect(try u("b:0;") == .bool(false))
        #expect(try u("i:-42;") == .int(-42))
        #expect(try u("d:0.1;") == .double(0.1))
        #expect(try u(#"s:0:"";"#) == .string([]))
    }

    @Test("binary strings keep every byte")
    func binary() throws {
        let raw: [UInt8] = [0, 0x22, 0x3B, 0x7D, 0x7C, 0xFF, 0x0A]
        let input = Array(#"s:7:""#.utf8) + raw + Array(#"";"#.utf8)
        let value = try PHPUnserializer.unserialize(input)
        #expect(value.bytesValue == raw)
        #expect(value.stringValue == nil)
        // Works on any Collection<UInt8>, including a slice with a non-zero start index.
        let padded = [0x41, 0x41] + input
        #expect(try PHPUnserializer.unserialize(padded[2...]) == value)
    }

    @Test("numeric string keys become integer keys like in PHP; others stay strings")
    func keyNormalisation() throws {
        let value = try u(#"a:5:{s:1:"7";s:1:"a";i:7;s:1:"b";s:2:"07";i:1;s:2:"-0";i:2;s:2:"-5";i:3;}"#)
        let array = try #require(value.arrayValue)
        #expect(array.count == 4, "duplicate key 7 replaced in place")
        #expect(array.keys == [.int(7), .string(Array("07".utf8)), .string(Array("-0".utf8)), .int(-5)])
        #expect(array[7] == .string([UInt8(ascii: "b")]))
        #expect(array["7"] == array[7])
        #expect(value["-5"] == .int(3))
        let object = try u(#"O:8:"stdClass":2:{i:7;i:1;s:1:"8";i:2;}"#)
        guard case .object(let name, let props) = object else {
            Issue.record("not an object")
            return
        }
        #expect(name == "stdClass")
        #expect(props.keys == [.string(Array("7".utf8)), .string(Array("8".utf8))])
        #expect(props["7"] == .int(1))
        #expect(object["7"] == nil, "subscript is for arrays")
    }

    @Test("back-references resolve to copies; cycles stay opaque")
    func references() throws {
        let shared = try u(#"a:3:{i:0;s:1:"x";i:1;r:2;i:2;R:2;}"#)
        #expect(shared[1] == .string([UInt8(ascii: "x")]))
        #expect(shared[2] == shared[0])
        let cycle = try u("a:2:{i:0;i:5;i:1;R:1;}")
        #expect(cycle[1] == .reference(1))
        let objCycle = try u(#"O:8:"stdClass":1:{s:4:"self";r:1;}"#)
        guard case .object(_, let props) = objCycle else {
            Issue.record("not an object")
            return
        }
        #expect(props["self"] == .reference(1))
        #expect(throws: PHPSerializationError(offset: 0, reason: .invalidReference)) { try u("R:1;") }
        #expect(throws: PHPSerializationError(offset: 9, reason: .invalidReference)) { try u("a:1:{i:0;r:5;}") }
        #expect(throws: PHPSerializationError(offset: 9, reason: .invalidReference)) { try u("a:1:{i:0;r:0;}") }
    }

    @Test("slots are shared across session variables")
    func sessionReferences() throws {
        // Written by PHP 8.2 for $_SESSION = ['a' => $obj, 'b' => [1, $obj], 'c' => &$s, 'd' => &$s].
        let data = #"a|O:8:"stdClass":1:{s:1:"a";i:1;}b|a:2:{i:0;i:1;i:1;r:1;}c|s:1:"x";d|R:6;"#
        let entries = try PHPSessionDecoder.decode(Array(data.utf8))
        #expect(entries.map(\.name) == ["a", "b", "c", "d"])
        #expect(entries[1].value[1] == entries[0].value)
        #expect(entries[3].value == .string([UInt8(ascii: "x")]))
    }

    @Test("C: payloads are opaque; their inner slots are counted")
    func customObjects() throws {
        // PHP 8.2 output: a C: payload containing serialized data that consumes slots 3-5.
        let data = #"a:3:{i:0;O:8:"stdClass":0:{}i:1;C:3:"Foo":18:{a:1:{i:0;s:1:"z";}}i:2;r:5;}"#
        let value = try u(data)
        #expect(value[1] == .customObject(className: "Foo", payload: Array(#"a:1:{i:0;s:1:"z";}"#.utf8)))
        #expect(value[2] == .string([UInt8(ascii: "z")]))
        // Verbatim PHP 8.2 serialize() output: the payload itself refers to slot 2, and the
        // payload's values (slots 6-8) shift later numbers: R:10 is "shared", r:11 the enum.
        let php = "a:8:{s:1:\"o\";O:8:\"stdClass\":2:{s:1:\"x\";i:1;s:1:\"7\";i:2;}s:1:\"c\";C:4:\"Cust\":22:{a:2:{i:0;r:2;i:1;i:5;}}"
            + "s:2:\"o2\";r:2;s:2:\"r1\";s:6:\"shared\";s:2:\"r2\";R:10;s:1:\"e\";E:11:\"Suit:Hearts\";s:2:\"e2\";r:11;"
            + "s:1:\"u\";O:1:\"U\":3:{s:1:\"a\";i:1;s:4:\"\0*\0b\";i:2;s:4:\"\0U\0c\";i:3;}}"
        let all = try u(php)
        #expect(all["o2"] == all["o"])
        #expect(all["r2"]?.stringValue == "shared")
        #expect(all["e2"] == .enumCase(className: "Suit", caseName: "Hearts"))
        #expect(all["c"] == .customObject(className: "Cust", payload: Array("a:2:{i:0;r:2;i:1;i:5;}".utf8)))
        guard case .object("U", let uProps)? = all["u"] else {
            Issue.record("u is not an object")
            return
        }
        #expect(uProps.keys == [.string(Array("a".utf8)), .string([0, 0x2A, 0, 0x62]), .string([0, 0x55, 0, 0x63])])
        // A payload that is not serialized data: later references cannot be numbered.
        let opaque = try u(#"a:3:{i:0;s:1:"q";i:1;C:3:"Foo":3:{xyz}i:2;r:2;}"#)
        #expect(opaque[1] == .customObject(className: "Foo", payload: Array("xyz".utf8)))
        #expect(opaque[2] == .reference(2))
    }

    @Test("enums")
    func enums() throws {
        #expect(try u(#"E:11:"Suit:Hearts";"#) == .enumCase(className: "Suit", caseName: "Hearts"))
        #expect(throws: PHPSerializationError.self) { try u(#"E:5:"Suit:";"#) }
        #expect(throws: PHPSerializationError.self) { try u(#"E:5:":Suit";"#) }
    }

    @Test("intValue and stringValue conversions")
    func conversions() {
        func s(_ text: String) -> PHPValue { .string(Array(text.utf8)) }
        #expect(s("1").intValue == 1)
        #expect(s("-17").intValue == -17)
        #expect(s("007").intValue == 7)
        #expect(s("9223372036854775807").intValue == .max)
        #expect(s("9223372036854775808").intValue == nil)
        #expect(s("").intValue == nil)
        #expect(s("-").intValue == nil)
        #expect(s("+1").intValue == nil)
        #expect(s(" 1").intValue == nil)
        #expect(s("1 ").intValue == nil)
        #expect(s("1.0").intValue == nil)
        #expect(s("１").intValue == nil, "full-width digit")
        #expect(PHPValue.int(5).intValue == 5)
        #expect(PHPValue.double(5).intValue == nil)
        #expect(PHPValue.bool(true).intValue == nil)
        #expect(PHPValue.int(5).stringValue == nil)
        #expect(s("héllo").stringValue == "héllo")
        #expect(PHPValue.string([0xC3]).stringValue == nil)
    }

    @Test("PHPArrayKey normalisation")
    func arrayKeys() {
        #expect(PHPArrayKey("0") == .int(0))
        #expect(PHPArrayKey("42") == .int(42))
        #expect(PHPArrayKey("-42") == .int(-42))
        #expect(PHPArrayKey("-9223372036854775808") == .int(.min))
        #expect(PHPArrayKey("9223372036854775808") == .string(Array("9223372036854775808".utf8)))
        #expect(PHPArrayKey("042") == .string(Array("042".utf8)))
        #expect(PHPArrayKey("-0") == .string(Array("-0".utf8)))
        #expect(PHPArrayKey("") == .string([]))
        #expect(PHPArrayKey("authUser").stringValue == "authUser")
    }
}
