import PHPSerialization
import Testing

/// The example session files of REFERENCE.md §3.6, with each placeholder replaced by raw
/// bytes of the stated length. The replacement bytes deliberately contain `"`, `;`, `}`,
/// `|`, NUL and bytes that are not UTF-8.
@Suite("REFERENCE.md §3.6 examples")
struct ReferenceExampleTests {
    static let csrf: [UInt8] = [0x22, 0x3B, 0x7D, 0x7C, 0x00, 0xFF, 0xFE, 0x80] + (0..<24).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 5) }
    static let uuid: [UInt8] = [0x00, 0x7C, 0x22, 0x3B, 0x7D, 0xC3] + (0..<10).map { UInt8(truncatingIfNeeded: 200 &+ $0) }

    static func fill(_ template: String) -> [UInt8] {
        var out: [UInt8] = []
        var rest = Substring(template)
        let csrfMark = "<32 raw random bytes>"
        let uuidMark = "<16 raw uuid bytes>"
        while !rest.isEmpty {
            if rest.hasPrefix(csrfMark) {
                out += csrf
                rest = rest.dropFirst(csrfMark.count)
            } else if rest.hasPrefix(uuidMark) {
                out += uuid
                rest = rest.dropFirst(uuidMark.count)
            } else {
                out += Array(String(rest.prefix(1)).utf8)
                rest = rest.dropFirst()
            }
        }
        return out
    }

    static let exampleA = #"OpenEMR|a:14:{s:7:"site_id";s:7:"default";s:15:"language_choice";s:1:"1";s:18:"language_direction";s:3:"ltr";s:8:"authUser";s:5:"admin";s:8:"authPass";s:60:"$2y$10$Q5uOeJkS8d0u2bXyZ1cW3eH7m8n9o0p1q2r3s4t5u6v7w8x9y0z1a";s:10:"authUserID";s:1:"1";s:12:"authProvider";s:7:"Default";s:14:"userauthorized";s:1:"1";s:34:"enable_database_connection_pooling";b:0;s:16:"csrf_private_key";s:32:"<32 raw random bytes>";s:21:"session_database_uuid";s:16:"<16 raw uuid bytes>";s:9:"encounter";s:0:"";s:17:"default_open_tabs";a:2:{i:0;a:3:{s:9:"option_id";s:3:"cal";s:5:"title";s:8:"Calendar";s:5:"notes";s:28:"interface/main/main_info.php";}i:1;a:3:{s:9:"option_id";s:3:"msg";s:5:"title";s:13:"Message Inbox";s:5:"notes";s:50:"interface/main/messages/messages.php?form_active=1";}}s:14:"token_main_php";s:40:"Xy3kq9LmN0pQ2rS4tU6vW8xZ1aB3cD5eF7gH9iJ0";}_sf2_meta|a:3:{s:1:"u";i:1782910000;s:1:"c";i:1782909990;s:1:"l";i:0;}"#

    static let exampleB = #"site_id|s:7:"default";language_choice|s:1:"1";language_direction|s:3:"ltr";authUser|s:5:"admin";authPass|s:60:"$2y$10$Q5uOeJkS8d0u2bXyZ1cW3eH7m8n9o0p1q2r3s4t5u6v7w8x9y0z1a";authUserID|s:1:"1";authProvider|s:7:"Default";userauthorized|s:1:"1";csrf_private_key|s:32:"<32 raw random bytes>";session_database_uuid|s:16:"<16 raw uuid bytes>";encounter|s:0:"";default_open_tabs|a:2:{i:0;a:3:{s:9:"option_id";s:3:"cal";s:5:"title";s:8:"Calendar";s:5:"notes";s:28:"interface/main/main_info.php";}i:1;a:3:{s:9:"option_id";s:3:"msg";s:5:"title";s:13:"Message Inbox";s:5:"notes";s:50:"interface/main/messages/messages.php?form_active=1";}}token_main_php|s:40:"Xy3kq9LmN0pQ2rS4tU6vW8xZ1aB3cD5eF7gH9iJ0";"#

    static let exampleC = #"PortalOpenEMR|a:13:{s:7:"site_id";s:7:"default";s:15:"language_choice";i:1;s:15:"portal_username";s:5:"jdoe1";s:21:"portal_login_username";s:4:"jdoe";s:16:"csrf_private_key";s:32:"<32 raw random bytes>";s:3:"pid";i:7;s:25:"patient_portal_onsite_two";i:1;s:12:"providerName";s:10:"Jane Smith";s:13:"providerUName";s:6:"jsmith";s:11:"sessionUser";s:9:"-patient-";s:10:"providerId";i:4;s:6:"ptName";s:8:"John Doe";s:8:"authUser";s:11:"portal-user";}_sf2_meta|a:3:{s:1:"u";i:1782910000;s:1:"c";i:1782909990;s:1:"l";i:0;}"#

    static let exampleD = #"site_id|s:7:"default";language_choice|i:1;portal_username|s:5:"jdoe1";portal_login_username|s:4:"jdoe";csrf_private_key|s:32:"<32 raw random bytes>";pid|s:1:"7";patient_portal_onsite_two|i:1;providerName|s:10:"Jane Smith";providerUName|s:6:"jsmith";sessionUser|s:9:"-patient-";providerId|s:1:"4";ptName|s:8:"John Doe";"#

    @Test("example A: core, 8.2 namespaced")
    func exampleACore() throws {
        let session = try PHPSession(decoding: Self.fill(Self.exampleA), sessionName: "OpenEMR")
        #expect(session.entries.map(\.name) == ["OpenEMR", "_sf2_meta"])
        #expect(session.layout == .namespaced)
        #expect(session.attributes.count == 14)
        #expect(session.string("authUser") == "admin")
        #expect(session.string("authPass") == "$2y$10$Q5uOeJkS8d0u2bXyZ1cW3eH7m8n9o0p1q2r3s4t5u6v7w8x9y0z1a")
        #expect(session.int("authUserID") == 1)
        #expect(session.bytes("csrf_private_key") == Self.csrf)
        #expect(session.string("csrf_private_key") == nil, "not valid UTF-8")
        #expect(session.bytes("session_database_uuid") == Self.uuid)
        #expect(session["enable_database_connection_pooling"] == .bool(false))
        #expect(session.metaLastUsed == 1_782_910_000)
        #expect(session.metaCreated == 1_782_909_990)
        #expect(session.metaCookieLifetime == 0)
        #expect(session["default_open_tabs"]?[0]?["notes"]?.stringValue == "interface/main/main_info.php")
    }

    @Test("example B: core, flat")
    func exampleBCore() throws {
        let session = try PHPSession(decoding: Self.fill(Self.exampleB), sessionName: "OpenEMR")
        #expect(session.layout == .flat)
        #expect(session.entries.count == 13)
        #expect(session.string("authUser") == "admin")
        #expect(session.string("authPass")?.utf8.count == 60)
        #expect(session.int("authUserID") == 1)
        #expect(session.bytes("csrf_private_key") == Self.csrf)
        #expect(session.bytes("session_database_uuid") == Self.uuid)
        #expect(session.string("token_main_php") == "Xy3kq9LmN0pQ2rS4tU6vW8xZ1aB3cD5eF7gH9iJ0")
        #expect(session.metaLastUsed == nil)
    }

    @Test("example C: portal, 8.2 namespaced")
    func exampleCPortal() throws {
        let session = try PHPSession(decoding: Self.fill(Self.exampleC), sessionName: "PortalOpenEMR")
        #expect(session.layout == .namespaced)
        #expect(session.attributes.count == 13)
        #expect(session["pid"] == .int(7))
        #expect(session.int("pid") == 7)
        #expect(session.int("providerId") == 4)
        #expect(session.string("authUser") == "portal-user")
        #expect(session.bytes("csrf_private_key") == Self.csrf)
        #expect(session.metaCreated == 1_782_909_990)
    }

    @Test("example D: portal, flat")
    func exampleDPortal() throws {
        let session = try PHPSession(decoding: Self.fill(Self.exampleD), sessionName: "PortalOpenEMR")
        #expect(session.layout == .flat)
        #expect(session.entries.count == 12)
        #expect(session["pid"] == .string([UInt8(ascii: "7")]))
        #expect(session.int("pid") == 7)
        #expect(session.int("patient_portal_onsite_two") == 1)
        #expect(session.bytes("csrf_private_key") == Self.csrf)
    }

    @Test("placeholder lengths are what the s: prefixes claim")
    func placeholderLengths() {
        #expect(Self.csrf.count == 32)
        #expect(Self.uuid.count == 16)
    }
}
