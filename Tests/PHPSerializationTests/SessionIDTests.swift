import PHPSerialization
import Testing

@Suite("Session id validation (OpenEMR 8.2 rule)")
struct SessionIDTests {
    @Test("accepts ids PHP generated for the fixtures", arguments: Fixtures.cases)
    func fixtureIDs(fixture: String) throws {
        #expect(PHPSession.isValidSessionID(try Fixtures.sidecar(fixture).session_id))
    }

    @Test("accepts the documented shapes")
    func accepts() {
        #expect(PHPSession.isValidSessionID("5f0c2b9e8d7a41c3b6e2f1a09d8c7b6e"))
        #expect(PHPSession.isValidSessionID("Qm3x-Zr8,Kp2LwT9vB0nYc7Hd1Fg6Js4Ua5Xe,Ri-Ot2Mk8Vq"))
        #expect(PHPSession.isValidSessionID(String(repeating: "a", count: 22)))
        #expect(PHPSession.isValidSessionID(String(repeating: "Z", count: 250)))
        #expect(PHPSession.isValidSessionID(String(repeating: ",-", count: 11)))
    }

    @Test(
        "rejects hostile or malformed ids",
        arguments: [
            "../etc/passwd", "abc", "", "../../../../../../../../etc/passwd",
            "aaaaaaaaaaaaaaaaaaaaa.b", "aaaaaaaaaaaaaaaaaaaaaaaa/b", "aaaaaaaaaaaaaaaaaaaaaaaa\0",
            "\0aaaaaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaa aaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaaa\n",
            "aaaaaaaaaaaaaaaaaaaaaaaa\\", "aaaaaaaaaaaaaaaaaaaaaaa_", "aaaaaaaaaaaaaaaaaaaaaaaé",
            "aaaaaaaaaaaaaaaaaaaaaa１", "aaaaaaaaaaaaaaaaaaaaaaa|", "aaaaaaaaaaaaaaaaaaaaaa%2e",
            String(repeating: "a", count: 21), String(repeating: "a", count: 251),
            String(repeating: "a", count: 10_000),
        ])
    func rejects(id: String) {
        #expect(!PHPSession.isValidSessionID(id))
    }
}
