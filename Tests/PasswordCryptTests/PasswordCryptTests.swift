import NIOPosix
import PasswordCrypt
import Testing

@Suite("Format detection")
struct FormatDetectionTests {
    static let cases: [(String, PasswordHashFormat)] = [
        ("$2y$10$iUcZKGy65LHtTbOvCCWiselUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO", .bcrypt),
        ("$2a$10$iUcZKGy65LHtTbOvCCWiselUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO", .bcrypt),
        ("$2b$31$iUcZKGy65LHtTbOvCCWiselUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO", .bcrypt),
        ("$2a$05$iUcZKGy65LHtTbOvCCWiselUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO", .bcrypt),
        ("$2a$05$iUcZKGy65LHtTbOvCCWis.lUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO", .legacyBcrypt21),
        ("$2y$05$iUcZKGy65LHtTbOvCCWis.lUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO", .bcrypt),
        ("$2a$06$iUcZKGy65LHtTbOvCCWis.lUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO", .bcrypt),
        ("$2x$10$iUcZKGy65LHtTbOvCCWiselUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO", .unknown),
        ("$6$rounds=100000$abcdefghijklmnop$xyz", .sha512Crypt),
        ("$6$abcdefghijklmnop$xyz", .sha512Crypt),
        ("$5$abc$xyz", .sha256Crypt),
        ("$1$abc$xyz", .md5Crypt),
        ("$argon2id$v=19$m=65536,t=4,p=1$c2FsdA$aGFzaA", .argon2id),
        ("$argon2i$v=19$m=65536,t=4,p=1$c2FsdA$aGFzaA", .argon2i),
        ("$argon2d$v=19$m=65536,t=4,p=1$c2FsdA$aGFzaA", .unknown),
        ("$SHA1$" + String(repeating: "a1", count: 20), .openEMRSaltedSHA1),
        ("$SHA1$" + String(repeating: "A1", count: 20), .openEMRSaltedSHA1),
        ("$SHA1$" + String(repeating: "a1", count: 19), .unknown),
        ("$SHA1$" + String(repeating: "g1", count: 20), .unknown),
        ("5f4dcc3b5aa765d61d8327deb882cf99", .md5Hex),
        ("5F4DCC3B5AA765D61D8327DEB882CF99", .md5Hex),
        ("5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", .sha1Hex),
        ("5baa61e4c9b93f3f0682250b6cf8331b7ee68fd", .unknown),
        ("5baa61e4c9b93f3f0682250b6cf8331b7ee68fdz", .unknown),
        ("NoLongerUsed", .unknown),
        ("", .unknown),
        ("*0", .unknown),
    ]

    @Test(arguments: cases)
    func detect(_ hash: String, _ expected: PasswordHashFormat) {
        #expect(PasswordHashFormat.detect(hash) == expected)
        #expect(PasswordCrypt.format(of: hash) == expected)
    }

    @Test func openEMRWhitelist() {
        #expect(PasswordCrypt.isAcceptedByOpenEMR(storedHash: PasswordCrypt.timingDummyHash))
        #expect(PasswordCrypt.isAcceptedByOpenEMR(storedHash: "$2a$05$iUcZKGy65LHtTbOvCCWiselUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO"))
        #expect(PasswordCrypt.isAcceptedByOpenEMR(storedHash: "$6$rounds=100000$abc$def"))
        #expect(PasswordCrypt.isAcceptedByOpenEMR(storedHash: "$argon2id$v=19$x"))
        #expect(PasswordCrypt.isAcceptedByOpenEMR(storedHash: "$argon2i$v=19$x"))
        #expect(!PasswordCrypt.isAcceptedByOpenEMR(storedHash: "$2y$10$short"))
        #expect(!PasswordCrypt.isAcceptedByOpenEMR(storedHash: "$2b$10$iUcZKGy65LHtTbOvCCWiselUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO"))
        #expect(!PasswordCrypt.isAcceptedByOpenEMR(storedHash: "$2a$10$iUcZKGy65LHtTbOvCCWiselUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO"))
        #expect(!PasswordCrypt.isAcceptedByOpenEMR(storedHash: "$6$abc$def"))
        #expect(!PasswordCrypt.isAcceptedByOpenEMR(storedHash: "$5$abc$def"))
        #expect(!PasswordCrypt.isAcceptedByOpenEMR(storedHash: "$1$abc$def"))
        #expect(!PasswordCrypt.isAcceptedByOpenEMR(storedHash: "5f4dcc3b5aa765d61d8327deb882cf99"))
        #expect(!PasswordCrypt.isAcceptedByOpenEMR(storedHash: "$SHA1$" + String(repeating: "a1", count: 20)))
    }
}

@Suite("Garbage and edge cases")
struct GarbageTests {
    static let garbage: [String] = makeGarbage()

    static func makeGarbage() -> [String] {
        var junk = ""
        var x: UInt32 = 12345
        for _ in 0..<10_240 {
            x = x &* 1_103_515_245 &+ 12345
            junk.append(Character(Unicode.Scalar(UInt8(33 + (x >> 16) % 94))))
        }
        return [
            "$2y$10$short", "$2y$", "$2y$10$", "$2a$05$", "$2a$05$abc.", "$2y$99$iUcZKGy65LHtTbOvCCWiselUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO",
            "*0", "*1", "$6$", "$6$rounds=$", "$6$rounds=abc$salt$", "$5$", "$1$",
            "$argon2id$v=19$garbage", "$argon2id$", "$argon2i$v=19$m=65536,t=4,p=1$$",
            "$argon2id$v=19$m=65536,t=4,p=1$c2FsdHNhbHQ$!!!!", "$SHA1$", "$SHA1$" + String(repeating: "0", count: 40),
            junk, "$2y$10$" + junk, "$6$" + junk, "$argon2id$" + junk,
            "пароль-хеш-мусор-😀😀😀", "$2y$10$ünïcødé-junk-ünïcødé-junk-ünïcødé-junk-ünïcødé-jun",
            "$6$ßalt$ÿÿÿ", "\u{0}\u{1}\u{2}", "$2y$10$iUcZKGy65LHtTbOvCCWis\u{0}lUYY8O1WSf2/ThZ2YUM1aBSXRoTm4KO",
            String(repeating: "a", count: 32) + " ", " 5f4dcc3b5aa765d61d8327deb882cf99",
        ]
    }

    @Test("garbage is never a match", arguments: garbage)
    func garbageNeverMatches(_ hash: String) {
        for pw in ["hunter2-Secret", "", "pässwörd 🦄", String(repeating: "x", count: 600)] {
            let r = PasswordCrypt.verify(password: pw, storedHash: hash, salt: "$SHA1$abc")
            #expect(r != .match)
            if case .unsupported(let reason) = r {
                #expect(!reason.isEmpty)
                #expect(!reason.contains(hash) || hash.count < 3)
                #expect(pw.isEmpty || !reason.contains(pw))
            }
        }
    }

    @Test func specificGarbageResults() {
        #expect(isUnsupported(PasswordCrypt.verify(password: "pw", storedHash: "$2y$10$short")))
        #expect(isUnsupported(PasswordCrypt.verify(password: "pw", storedHash: "*0")))
        #expect(isUnsupported(PasswordCrypt.verify(password: "pw", storedHash: "$argon2id$v=19$garbage")))
        #expect(isUnsupported(PasswordCrypt.verify(password: "pw", storedHash: "NoLongerUsed")))
        let r = PasswordCrypt.verify(password: "pw", storedHash: "$6$")
        #expect(r == .mismatch || isUnsupported(r))
    }

    @Test func emptyInputsAreMismatch() {
        #expect(PasswordCrypt.verify(password: "", storedHash: "") == .mismatch)
        #expect(PasswordCrypt.verify(password: "", storedHash: PasswordCrypt.timingDummyHash) == .mismatch)
        #expect(PasswordCrypt.verify(password: "x", storedHash: "") == .mismatch)
        #expect(PasswordCrypt.verify(password: "", storedHash: "garbage") == .mismatch)
    }

    @Test func nulInPasswordNeverMatchesCryptHash() throws {
        // A C-string API would truncate at NUL: "password\0junk" must not match crypt("password").
        let cryptVectors = PasswordVector.all.filter {
            ["bcrypt", "sha512Crypt", "sha256Crypt", "md5Crypt"].contains($0.format) && $0.expect == "match"
        }
        try #require(!cryptVectors.isEmpty)
        for v in cryptVectors {
            #expect(PasswordCrypt.verify(password: v.password + "\u{0}junk", storedHash: v.hash) == .mismatch)
            #expect(PasswordCrypt.verify(password: v.password + "\u{0}", storedHash: v.hash) == .mismatch)
        }
    }

    @Test func timingDummyHashesAreWellFormedAndUnguessable() {
        #expect(PasswordCrypt.timingDummyHash.hasPrefix("$2y$10$"))
        #expect(PasswordCrypt.timingDummyHash.utf8.count == 60)
        #expect(PasswordCrypt.timingDummyHashCost12.hasPrefix("$2y$12$"))
        #expect(PasswordCrypt.timingDummyHashCost12.utf8.count == 60)
        for pw in ["password", "admin", "pass", "x"] {
            #expect(PasswordCrypt.verify(password: pw, storedHash: PasswordCrypt.timingDummyHash) == .mismatch)
        }
    }

    @Test func longPasswordsAgainstNonBcrypt() {
        let long = String(repeating: "p", count: 4096)
        let sha512 = PasswordVector.all.first { $0.format == "sha512Crypt" }
        if let sha512 { #expect(PasswordCrypt.verify(password: long, storedHash: sha512.hash) == .mismatch) }
        let argon = PasswordVector.all.first { $0.format == "argon2id" }
        if let argon { #expect(PasswordCrypt.verify(password: long, storedHash: argon.hash) == .mismatch) }
    }
}

@Suite("PasswordVerifier on NIOThreadPool")
struct VerifierTests {
    @Test func concurrentVerificationsAreCorrect() async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let verifier = PasswordVerifier(threadPool: pool)
        let vectors = PasswordVector.all.filter {
            $0.expect == "match" && $0.format != "legacyBcrypt21" && !$0.hash.hasPrefix("$2y$12$")
        }
        try #require(vectors.count >= 16)
        // 16 parallel right-password and 16 parallel wrong-password checks over different formats.
        let jobs: [(PasswordVector, Bool)] = (0..<32).map { i in (vectors[(i * 7) % vectors.count], i % 2 == 0) }
        let results = try await withThrowingTaskGroup(of: (Int, PasswordVerification).self) { group in
            for (i, (v, right)) in jobs.enumerated() {
                group.addTask {
                    let pw = right ? v.password : v.password + "!"
                    return (i, try await verifier.verify(password: pw, storedHash: v.hash, salt: v.salt))
                }
            }
            var out = [Int: PasswordVerification]()
            for try await (i, r) in group { out[i] = r }
            return out
        }
        #expect(results.count == jobs.count)
        for (i, (v, right)) in jobs.enumerated() {
            let expected: PasswordVerification
            if right || (v.isBcryptFamily && v.password.utf8.count >= 72) {
                expected = .match
            } else {
                expected = .mismatch
            }
            #expect(results[i] == expected, "job \(i) \(v.testDescription)")
        }
        try await pool.shutdownGracefully()
    }

    @Test func inactivePoolThrows() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        let verifier = PasswordVerifier(threadPool: pool)  // never started
        await #expect(throws: (any Error).self) {
            _ = try await verifier.verify(password: "x", storedHash: PasswordCrypt.timingDummyHash)
        }
    }

    @Test func dummyHashThroughVerifier() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let verifier = PasswordVerifier(threadPool: pool)
        let r = try await verifier.verify(password: "nobody", storedHash: PasswordCrypt.timingDummyHash)
        #expect(r == .mismatch)
        try await pool.shutdownGracefully()
    }
}

@Suite("Digest")
struct DigestTests {
    // Known answers from Python hashlib / hmac.
    @Test func sha256KnownAnswers() {
        #expect(Digest.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.hex(Digest.sha256(Array("abc".utf8))) == Digest.sha256Hex("abc"))
        #expect(Digest.sha256("abc".utf8).count == 32)
        #expect(Digest.sha256([UInt8]()) == Digest.sha256("".utf8))
    }

    @Test func sha3_512KnownAnswers() {
        #expect(
            Digest.sha3_512Hex("abc")
                == "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"
        )
        #expect(
            Digest.sha3_512Hex("")
                == "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26"
        )
    }

    @Test func sha1AndMD5KnownAnswers() {
        #expect(Digest.sha1Hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Digest.md5Hex("abc") == "900150983cd24fb0d6963f7d28e17f72")
        #expect(Digest.md5Hex("pässwörd") == "12841e4ba5e37d2fbfc78458c6714ade")
    }

    @Test func hmacKnownAnswers() {
        // RFC 4231 test case 2.
        #expect(
            Digest.hex(Digest.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // Empty key and message: hmac.new(b"", b"", sha256).hexdigest()
        #expect(
            Digest.hex(Digest.hmacSHA256(key: [UInt8](), message: [UInt8]()))
                == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
        // Key longer than the block size.
        let longKey = [UInt8](repeating: 0xAA, count: 131)
        #expect(
            Digest.hex(Digest.hmacSHA256(key: longKey, message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func hexEncoding() {
        #expect(Digest.hex([]) == "")
        #expect(Digest.hex([0x00, 0x0f, 0xf0, 0xff, 0x12, 0xab]) == "000ff0ff12ab")
    }

    @Test func randomBytes() {
        #expect(Digest.randomBytes(count: 0).isEmpty)
        let a = Digest.randomBytes(count: 32)
        let b = Digest.randomBytes(count: 32)
        #expect(a.count == 32)
        #expect(a != b)
        #expect(Digest.randomBytes(count: 3_000_000).count == 3_000_000)
    }

    @Test func constantTimeEquals() {
        #expect(Digest.constantTimeEquals([1, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
        #expect(!Digest.constantTimeEquals([1, 2, 3] as [UInt8], [1, 2, 4] as [UInt8]))
        #expect(!Digest.constantTimeEquals([1, 2, 3] as [UInt8], [1, 2] as [UInt8]))
        #expect(!Digest.constantTimeEquals([0x80] as [UInt8], [0x00] as [UInt8]))
        #expect(Digest.constantTimeEquals([UInt8](), [UInt8]()))
        #expect(Digest.constantTimeEquals("token", "token"))
        #expect(!Digest.constantTimeEquals("token", "Token"))
        #expect(!Digest.constantTimeEquals("token", "token "))
        #expect(Digest.constantTimeEquals("pässwörd", "pässwörd"))
        #expect(Digest.constantTimeEquals("abc".utf8, [0x61, 0x62, 0x63] as [UInt8]))
    }
}
