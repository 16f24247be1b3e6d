import Foundation
import PHPSerialization
import Testing

@Suite("PHP-generated session fixtures")
struct FixtureTests {
    @Test("fixture decodes to exactly the values PHP held", arguments: Fixtures.cases)
    func matchesSidecar(fixture: String) throws {
        let bytes = try Fixtures.bytes(fixture)
        let sidecar = try Fixtures.sidecar(fixture)
        #expect(bytes.count == sidecar.byte_length)
        let entries = try PHPSessionDecoder.decode(bytes)
        #expect(entries.map(\.name) == sidecar.entries.map(\.name))
        #expect(entries.count == sidecar.entries.count)
        for (decoded, expected) in zip(entries, sidecar.entries) {
            let want = try expectedValue(expected.v)
            #expect(decoded.value == want, "mismatch for top-level key \(expected.name)")
            if case .array(let got) = decoded.value, case .array(let exp) = want {
                // Per-key comparison gives a precise failure location.
                #expect(got.keys == exp.keys, "keys of \(expected.name)")
                for (key, value) in exp {
                    #expect(got[key] == value, "\(expected.name)[\(key)]")
                }
            }
        }
    }

    @Test("layout detection", arguments: Fixtures.cases)
    func layout(fixture: String) throws {
        let sidecar = try Fixtures.sidecar(fixture)
        let session = try PHPSession(decoding: Fixtures.bytes(fixture), sessionName: sidecar.session_name)
        #expect(session.layout.rawValue == sidecar.layout)
        #expect(session.sessionName == sidecar.session_name)
        if session.layout == .namespaced {
            #expect(session.topLevel[sidecar.session_name]?.arrayValue == session.attributes)
            #expect(session.metaLastUsed == sidecar.checks["metaLastUsed"]?.int)
            #expect(session.metaCreated == sidecar.checks["metaCreated"]?.int)
            #expect(session.metaCookieLifetime == 0)
            #expect(session["_sf2_meta"] == nil, "meta must not be read as an attribute")
        } else {
            #expect(session.attributes == session.topLevel)
            #expect(session.metaLastUsed == nil)
            #expect(session.metaCreated == nil)
        }
    }

    @Test("the wrong session name never selects the namespaced bag")
    func wrongSessionName() throws {
        let core = try PHPSession(decoding: Fixtures.bytes("A-core-namespaced"), sessionName: "PortalOpenEMR")
        #expect(core.layout == .flat)
        #expect(core.string("authUser") == nil)
        let portal = try PHPSession(decoding: Fixtures.bytes("C-portal-namespaced"), sessionName: "OpenEMR")
        #expect(portal.layout == .flat)
        #expect(portal.int("pid") == nil)
    }

    @Test("core user keys read the same in both layouts", arguments: ["A-core-namespaced", "B-core-flat"])
    func coreKeys(fixture: String) throws {
        let sidecar = try Fixtures.sidecar(fixture)
        let session = try PHPSession(decoding: Fixtures.bytes(fixture), sessionName: PHPSession.coreSessionName)
        #expect(session.string("authUser") == "admin")
        #expect(session.string("authUser") == sidecar.checks["authUser"]?.string)
        let authPass = try #require(session.string("authPass"))
        #expect(authPass == sidecar.checks["authPass"]?.string)
        #expect(authPass.utf8.count == 60)
        #expect(authPass.hasPrefix("$2y$10$"))
        #expect(session.int("authUserID") == 1)
        #expect(session["authUserID"] == .string(Array("1".utf8)), "stored as a string")
        #expect(session.string("authProvider") == "Default")
        #expect(session.string("site_id") == "default")
        #expect(session.string("encounter") == "")
        let csrf = try #require(session.bytes("csrf_private_key"))
        #expect(csrf.count == 32)
        #expect(csrf == (try base64(sidecar.checks["csrf_private_key_b64"])))
        #expect(session.bytes("session_database_uuid")?.count == 16)
        let tabs = try #require(session["default_open_tabs"]?.arrayValue)
        #expect(tabs.count == 2)
        #expect(tabs[1]?["title"]?.stringValue == "Message Inbox")
        #expect(session.string("token_main_php")?.utf8.count == 40)
    }

    @Test("portal pid reads as 7 whether stored as int or string", arguments: ["C-portal-namespaced", "D-portal-flat"])
    func portalKeys(fixture: String) throws {
        let session = try PHPSession(decoding: Fixtures.bytes(fixture), sessionName: PHPSession.portalSessionName)
        #expect(session.int("pid") == 7)
        #expect(session.int("patient_portal_onsite_two") == 1)
        #expect(session.bytes("csrf_private_key")?.count == 32)
        #expect(session.string("ptName") == "John Doe")
        if fixture.hasPrefix("C") {
            #expect(session["pid"] == .int(7))
            #expect(session.string("authUser") == "portal-user")
            #expect(session.layout == .namespaced)
        } else {
            #expect(session["pid"] == .string(Array("7".utf8)))
            #expect(session.string("pid") == "7")
            #expect(session.layout == .flat)
        }
    }

    @Test("stress fixture details")
    func stressDetails() throws {
        let session = try PHPSession(decoding: Fixtures.bytes("E-stress"), sessionName: "OpenEMR")
        #expect(session.layout == .flat, "OpenEMR key holds a string, not an array")
        #expect(session.string("unicode") == "pässwörd – Ωμέγα – 日本語 – 👩‍⚕️🩺")
        #expect(session.string("emoji") == "🦄")
        #expect(session.string("empty") == "")
        #expect(session["null"] == .null)
        #expect(session.int("int_min") == Int.min)
        #expect(session.int("int_max") == Int.max)
        #expect(session.int("numeric_string") == 12345)
        #expect(session.int("neg_numeric_string") == -17)
        #expect(session.int("not_numeric") == nil)
        #expect(session.int("float_string") == nil)
        #expect(session.string("invalid_utf8") == nil)
        #expect(session.bytes("invalid_utf8") == [0xC3, 0x28, 0xA0, 0xA1])
        #expect(session.bytes("binary") == [0, 1, 2, 0xFF, 0xFE, 0, 0x7C, 0x22, 0x7D, 0x3B, 0])
        #expect(session.string("punct") == "a|b;c\"d}e{f:g\\h\ni|s:3:\"x\";")

        let floats = try #require(session["floats"]?.arrayValue).values.compactMap(\.doubleValue)
        #expect(floats.count == 12)
        #expect(floats[0] == 1.5)
        #expect(floats[1] == 0 && floats[1].sign == .minus)
        #expect(floats[2] == 0 && floats[2].sign == .plus)
        #expect(floats[3] == 1e25)
        #expect(floats[6] == .infinity)
        #expect(floats[7] == -.infinity)
        #expect(floats[8].isNaN)
        #expect(floats[9] == .greatestFiniteMagnitude)
        #expect(floats[10] == .leastNonzeroMagnitude)

        var node = try #require(session["deep"])
        var depth = 0
        while let child = node["child"] {
            depth += 1
            #expect(node["level"]?.intValue == depth)
            node = child
        }
        #expect(depth == 20)
        #expect(node.stringValue == "bottom")

        let keys = try #require(session["mixed_keys"]?.arrayValue)
        #expect(keys[7]?.stringValue == "numeric string key")
        #expect(keys["7"]?.stringValue == "numeric string key")
        #expect(keys["07"]?.stringValue == "leading zero")
        #expect(keys[-3]?.stringValue == "negative")
        #expect(keys["-0"]?.stringValue == "minus zero")
        #expect(keys["9223372036854775808"]?.stringValue == "too big for int")
        #expect(keys[""]?.stringValue == "empty key")
        #expect(keys[Int.min]?.stringValue == "min key")

        // Objects and back-references.
        guard case .object(let cls, let props)? = session["std"] else {
            Issue.record("std is not an object")
            return
        }
        #expect(cls == "stdClass")
        #expect(props["7"]?.stringValue == "numeric property name")
        #expect(props.keys.contains(.string(Array("7".utf8))), "object property names stay strings")
        #expect(session["std_again"] == session["std"])
        #expect(session["after_custom_std"] == session["std"], "slot numbering survives a C: payload")
        #expect(session["ref_b"] == session["ref_a"])
        #expect(session["nested_refs"]?["x"]?.stringValue == "referenced string")
        #expect(session["nested_refs"]?["z"]?[0]?.stringValue == "referenced string")
        #expect(session["nested_refs"]?["y"] == session["std"])
        guard case .object("FixtureUser", let userProps)? = session["user"] else {
            Issue.record("user is not a FixtureUser object")
            return
        }
        #expect(userProps[PHPArrayKey.string(Array("\0*\0role".utf8))]?.stringValue == "protected-prop")
        #expect(userProps[PHPArrayKey.string(Array("\0FixtureUser\0secret".utf8))]?.bytesValue == Array("private\0prop".utf8))
        guard case .customObject("FixtureCustom", let payload)? = session["custom"] else {
            Issue.record("custom is not a C: object")
            return
        }
        #expect(payload.first == UInt8(ascii: "a"))
        #expect(session["enum"] == .enumCase(className: "FixtureSuit", caseName: "Hearts"))
    }

    @Test("sidecar session ids pass the 8.2 rule and name the copied file", arguments: Fixtures.cases)
    func sessionIDs(fixture: String) throws {
        let sidecar = try Fixtures.sidecar(fixture)
        #expect(PHPSession.isValidSessionID(sidecar.session_id))
        #expect(sidecar.source_file == "sess_" + sidecar.session_id)
    }
}
