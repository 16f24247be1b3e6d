import Foundation
import PasswordCrypt
import Testing

/// One line of Vectors/password-vectors.json (see scripts/gen-password-vectors.py).
struct PasswordVector: Decodable, Sendable, CustomTestStringConvertible {
    let format: String
    let password: String
    let hash: String
    let salt: String?
    let producer: String
    let expect: String
    let alsoMatches: [String]

    var testDescription: String {
        "\(format) [\(producer)] pw=\(password.prefix(12))…(\(password.utf8.count)B)"
    }

    var expectedFormat: PasswordHashFormat? {
        switch format {
        case "bcrypt": .bcrypt
        case "legacyBcrypt21": .legacyBcrypt21
        case "sha512Crypt": .sha512Crypt
        case "sha256Crypt": .sha256Crypt
        case "md5Crypt": .md5Crypt
        case "argon2id": .argon2id
        case "argon2i": .argon2i
        case "openEMRSaltedSHA1": .openEMRSaltedSHA1
        case "md5Hex": .md5Hex
        case "sha1Hex": .sha1Hex
        default: nil
        }
    }

    var isBcryptFamily: Bool { format == "bcrypt" || format == "legacyBcrypt21" }

    static let all: [PasswordVector] = {
        guard let url = Bundle.module.url(forResource: "password-vectors", withExtension: "json", subdirectory: "Vectors"),
            let data = try? Data(contentsOf: url),
            let vectors = try? JSONDecoder().decode([PasswordVector].self, from: data)
        else { return [] }
        return vectors
    }()
}

func isUnsupported(_ v: PasswordVerification) -> Bool {
    if case .unsupported = v { return true }
    return false
}

@Suite("Producer vectors")
struct VectorTests {
    @Test func vectorFileLoadsAndCoversEveryFormat() {
        let vectors = PasswordVector.all
        #expect(vectors.count >= 60)
        let formats = Set(vectors.map(\.format))
        for f in [
            "bcrypt", "legacyBcrypt21", "sha512Crypt", "sha256Crypt", "md5Crypt", "argon2id", "argon2i",
            "openEMRSaltedSHA1", "md5Hex", "sha1Hex",
        ] {
            #expect(formats.contains(f), "no vector for \(f)")
        }
        #expect(vectors.allSatisfy { $0.expectedFormat != nil })
        // The vectors must exercise what the brief names explicitly.
        #expect(vectors.contains { $0.hash.hasPrefix("$2y$12$") })
        #expect(vectors.contains { $0.hash.hasPrefix("$6$rounds=100000$") })
        #expect(vectors.contains { $0.hash.hasPrefix("$6$rounds=5000$") })
        #expect(vectors.contains { $0.hash.hasPrefix("$6$") && !$0.hash.contains("rounds=") })
        #expect(vectors.contains { $0.hash.hasPrefix("$2a$05$") && $0.format == "bcrypt" })
        #expect(vectors.contains { $0.hash.hasPrefix("$2b$") })
        #expect(vectors.contains { $0.password.utf8.count > 72 && !$0.alsoMatches.isEmpty })
        #expect(vectors.contains { $0.format == "md5Hex" && $0.hash == $0.hash.uppercased() })
        #expect(vectors.contains { $0.password.unicodeScalars.contains { $0.value > 0xFFFF } })  // emoji
    }

    @Test("detects the producer's format", arguments: PasswordVector.all)
    func detectsFormat(_ v: PasswordVector) {
        #expect(PasswordHashFormat.detect(v.hash) == v.expectedFormat)
        #expect(PasswordHashFormat(storedHash: v.hash) == v.expectedFormat)
    }

    @Test("right password gives the expected result", arguments: PasswordVector.all)
    func rightPassword(_ v: PasswordVector) {
        let result = PasswordCrypt.verify(password: v.password, storedHash: v.hash, salt: v.salt)
        switch v.expect {
        case "match": #expect(result == .match)
        case "unsupported": #expect(isUnsupported(result), "got \(result)")
        default: Issue.record("bad expect \(v.expect)")
        }
        for other in v.alsoMatches {
            // bcrypt ignores everything after byte 72.
            #expect(PasswordCrypt.verify(password: other, storedHash: v.hash, salt: v.salt) == .match)
        }
    }

    /// Result a wrong password must give: `.mismatch`, except that a `$2a$05$` hash with `.` at
    /// index 28 falls through to OpenEMR's legacy retry, which libxcrypt rejects.
    func expectWrong(_ r: PasswordVerification, _ v: PasswordVector, _ label: String) {
        #expect(r != .match, "\(label) matched")
        if v.format == "legacyBcrypt21" {
            #expect(isUnsupported(r), "\(label): \(r)")
        } else {
            #expect(r == .mismatch, "\(label): \(r)")
        }
    }

    @Test("wrong passwords never match", arguments: PasswordVector.all)
    func wrongPasswords(_ v: PasswordVector) {
        let truncates = v.isBcryptFamily && v.password.utf8.count >= 72
        let wrongs: [String] = [
            "wrong" + v.password,
            String(v.password.dropLast()),
            v.password.uppercased() == v.password ? v.password.lowercased() : v.password.uppercased(),
        ].filter { w in
            // For bcrypt only the first 72 bytes count: a "wrong" password must differ there.
            !w.isEmpty && (truncates ? Array(w.utf8.prefix(72)) != Array(v.password.utf8.prefix(72)) : w != v.password)
        }
        #expect(!wrongs.isEmpty)
        for wrong in wrongs {
            expectWrong(PasswordCrypt.verify(password: wrong, storedHash: v.hash, salt: v.salt), v, wrong.debugDescription)
        }
        // Password plus one character: a mismatch, except for bcrypt past 72 bytes.
        let plusOne = PasswordCrypt.verify(password: v.password + "x", storedHash: v.hash, salt: v.salt)
        if truncates {
            #expect(plusOne == PasswordCrypt.verify(password: v.password, storedHash: v.hash, salt: v.salt))
        } else {
            expectWrong(plusOne, v, "password+x")
        }
        #expect(PasswordCrypt.verify(password: "", storedHash: v.hash, salt: v.salt) == .mismatch)
        #expect(PasswordCrypt.verify(password: v.password, storedHash: "", salt: v.salt) == .mismatch)
    }

    @Test("$SHA1$ needs its salt", arguments: PasswordVector.all.filter { $0.format == "openEMRSaltedSHA1" })
    func saltedSHA1NeedsSalt(_ v: PasswordVector) {
        #expect(isUnsupported(PasswordCrypt.verify(password: v.password, storedHash: v.hash)))
        #expect(isUnsupported(PasswordCrypt.verify(password: v.password, storedHash: v.hash, salt: "")))
        // A different salt, or the salt without its "$SHA1$" prefix, is a mismatch.
        if let salt = v.salt {
            #expect(PasswordCrypt.verify(password: v.password, storedHash: v.hash, salt: String(salt.dropFirst(6))) == .mismatch)
            #expect(PasswordCrypt.verify(password: v.password, storedHash: v.hash, salt: salt + "x") == .mismatch)
            // It is not sha1(password).
            #expect(PasswordCrypt.verify(password: v.password, storedHash: String(v.hash.dropFirst(6))) == .mismatch)
            // Uppercase hex of the salted digest still matches (case-insensitive hex).
            let upper = "$SHA1$" + v.hash.dropFirst(6).uppercased()
            #expect(PasswordCrypt.verify(password: v.password, storedHash: upper, salt: salt) == .match)
        }
    }

    @Test("tampered hashes do not match", arguments: PasswordVector.all.filter { $0.expect == "match" })
    func tamperedHash(_ v: PasswordVector) {
        // Flip the last character of the hash to another character of the same alphabet.
        var chars = Array(v.hash)
        guard let last = chars.last else { return }
        chars[chars.count - 1] = last == "a" ? "b" : (last == "A" ? "B" : "a")
        let r = PasswordCrypt.verify(password: v.password, storedHash: String(chars), salt: v.salt)
        #expect(r != .match)
    }
}
