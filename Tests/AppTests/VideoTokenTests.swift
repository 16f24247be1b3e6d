import Crypto
import Foundation
import MariaDB
import Testing
import _CryptoExtras

@testable import App
@testable import OpenEMR

/// PyJWT (from PyPI, in a throwaway virtualenv made by scripts/pyjwt-venv.sh) judging tokens by Prosody's rules
/// (scripts/pyjwt-check.py): the independent decoder of issue 16.
enum PyJWT {
    static let python: Task<String, any Error> = Task {
        let script = TestEnvironment.repoRoot.appendingPathComponent("scripts/pyjwt-venv.sh").path
        let output = try await TestEnvironment.run("/bin/bash", [script])
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Case: Encodable {
        var token: String
        var key: String
        var alg = "HS256"
        var issuers: [String]
        var audiences: [String]
        var room: String?
        var sub: String?
        var now: Int?
    }

    /// One verdict per case: `ok`, `reason`, `header`, `claims`, `moderator`.
    static func judge(_ cases: [Case]) async throws -> [JSONValue] {
        let python = try await python.value
        let checker = TestEnvironment.repoRoot.appendingPathComponent("scripts/pyjwt-check.py").path
        let output = try await TestEnvironment.run(python, [checker], stdin: try JSONEncoder().encode(cases))
        let verdicts = try #require(try JSONValue.parse(output).array)
        try #require(verdicts.count == cases.count)
        return verdicts
    }
}

/// Tokens, rooms, windows and settings without a database (issue 16).
@Suite struct VideoTokenTests {
    static let secret = "s3cr3t-" + String(repeating: "0123456789", count: 4)

    static func settings(_ algorithm: JitsiAlgorithm = .hs256) throws -> JitsiSettings {
        var settings = JitsiSettings()
        settings.domain = "meet.example.com"
        settings.appID = algorithm == .jaas ? "vpaas-magic-cookie-0123abcd" : "emrbridge"
        settings.appSecret = secret
        settings.sub = "meet.jitsi"
        settings.algorithm = algorithm
        if algorithm != .hs256 {
            settings.keyID = algorithm == .jaas ? settings.appID + "/key1" : "emrbridge-key-1"
            settings.privateKeyPEM = rsaKey.pemRepresentation
        }
        return settings
    }

    static let rsaKey: _RSA.Signing.PrivateKey = {
        do { return try _RSA.Signing.PrivateKey(keySize: .bits2048) } catch { preconditionFailure("RSA key: \(error)") }
    }()

    static func claims(room: String = "v-abcdefghijklmnopqrstuvwxyz234567", moderator: Bool, now: Int, closes: Int) -> JitsiClaims {
        JitsiClaims(
            room: room, user: JitsiUser(id: "u-1", name: moderator ? "Emily Smith" : "Pat Ient", moderator: moderator), issuedAt: now,
            notBefore: JitsiClaims.notBefore(windowOpens: now - 300, now: now), expiresAt: min(now + 3600, closes),
            features: JitsiClaims.features(moderator: moderator, recording: true)
        )
    }

    // MARK: Tokens judged by PyJWT

    @Test(arguments: [JitsiAlgorithm.hs256, .rs256, .jaas])
    func tokensPassPyJWTUnderProsodyRules(_ algorithm: JitsiAlgorithm) async throws {
        let settings = try Self.settings(algorithm)
        let signer = try JitsiSigner(settings: settings)
        let now = Int(Date().timeIntervalSince1970)
        let provider = try signer.mint(Self.claims(moderator: true, now: now, closes: now + 1800))
        let patient = try signer.mint(Self.claims(moderator: false, now: now, closes: now + 1800))
        let key = algorithm == .hs256 ? Self.secret : try #require(signer.publicKeyPEM)
        let issuer = algorithm == .jaas ? "chat" : "emrbridge"
        let audience = "jitsi"
        let sub = algorithm == .jaas ? settings.appID : "meet.jitsi"
        let room = "v-abcdefghijklmnopqrstuvwxyz234567"
        var cases = [provider, patient].map {
            PyJWT.Case(token: $0, key: key, alg: algorithm.jwtAlgorithm, issuers: [issuer], audiences: [audience], room: room, sub: sub, now: now)
        }
        // The same tokens at exp (refused: no leeway) and one second before nbf (the window opened 300 s ago: refused).
        cases.append(PyJWT.Case(token: provider, key: key, alg: algorithm.jwtAlgorithm, issuers: [issuer], audiences: [audience], room: room, sub: sub, now: now + 1800))
        cases.append(PyJWT.Case(token: provider, key: key, alg: algorithm.jwtAlgorithm, issuers: [issuer], audiences: [audience], room: room, sub: sub, now: now - 301))
        cases.append(PyJWT.Case(token: provider, key: key, alg: algorithm.jwtAlgorithm, issuers: [issuer], audiences: [audience], room: room, sub: sub, now: now + 1799))
        let verdicts = try await PyJWT.judge(cases)
        #expect(verdicts[0]["ok"].bool == true, "\(verdicts[0])")
        #expect(verdicts[1]["ok"].bool == true, "\(verdicts[1])")
        #expect(verdicts[2]["reason"].string == "Not acceptable by exp")
        #expect(verdicts[3]["reason"].string == "Not acceptable by nbf")
        #expect(verdicts[4]["ok"].bool == true)
        for (index, verdict) in verdicts.prefix(2).enumerated() {
            let header = verdict["header"], claims = verdict["claims"]
            #expect(header["typ"].string == "JWT")
            #expect(header["alg"].string == algorithm.jwtAlgorithm)
            #expect((header["kid"].string != nil) == (algorithm != .hs256))
            if algorithm == .jaas { #expect(header["kid"].string?.hasPrefix(settings.appID + "/") == true) }
            #expect(claims["iss"].string == issuer)
            #expect(claims["aud"].string == audience)
            #expect(claims["sub"].string == sub)
            #expect(claims["room"].string == room)
            for name in ["iat", "nbf", "exp"] { #expect(claims[name].int != nil, "\(name) is an integer") }
            #expect(claims["nbf"].int! <= now - 60)
            let user = claims["context"]["user"]
            #expect(verdict["moderator"].bool == (index == 0))
            #expect(user["moderator"].bool == (index == 0))
            #expect(user["email"].isNull, "no e-mail unless configured")
            #expect(user["avatar"].isNull)
            let features = try #require(claims["context"]["features"].object)
            #expect(features["recording"] == .bool(index == 0))
            if index == 1 { #expect(features.values.allSatisfy { $0 == .bool(false) }, "a patient gets every feature false") }
        }
    }

    /// The signer writes the token into the string's storage in place (benchmark 6): byte for byte what the
    /// straightforward encoding gives (Foundation's base64, swift-crypto's one-shot HMAC or RSA verification), for
    /// every payload length modulo 3 and for names that need escaping.
    @Test func mintingInPlaceEqualsTheStraightforwardEncoding() throws {
        func base64url(_ bytes: some Sequence<UInt8>) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let names = ["", "A", "Jo", "Émile Zoë", "Dr \"Quote\" \\ Back", "Tab\tNew\nLine", "名前", String(repeating: "x", count: 257)]
        for algorithm in [JitsiAlgorithm.hs256, .rs256, .jaas] {
            let settings = try Self.settings(algorithm)
            let signer = try JitsiSigner(settings: settings)
            for (index, name) in names.enumerated() {
                for email in [nil, "someone+\(index)@example.org"] {
                    var claims = Self.claims(moderator: index % 2 == 0, now: 1_700_000_000 + index, closes: 1_700_003_600)
                    claims.user.name = name
                    claims.user.email = email
                    let token = try signer.mint(claims)
                    let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                    try #require(parts.count == 3)
                    var header = #"{"alg":"\#(algorithm.jwtAlgorithm)","typ":"JWT""#
                    if algorithm != .hs256 { header += #","kid":"\#(settings.keyID)""# }
                    #expect(parts[0] == base64url(Array((header + "}").utf8)))
                    #expect(parts[1] == base64url(signer.payload(claims)))
                    let input = Array((parts[0] + "." + parts[1]).utf8)
                    if algorithm == .hs256 {
                        let mac = HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: Array(Self.secret.utf8)))
                        #expect(parts[2] == base64url(Array(mac)))
                    } else {
                        let signature = try #require(Base64URL.decode(Substring(parts[2])))
                        #expect(Self.rsaKey.publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: input, padding: .insecurePKCS1v1_5))
                    }
                    let payload = try JSONSerialization.jsonObject(with: Data(try #require(Base64URL.decode(Substring(parts[1]))))) as? [String: Any]
                    let user = (payload?["context"] as? [String: Any])?["user"] as? [String: Any]
                    #expect(user?["name"] as? String == name)
                    #expect(user?["email"] as? String == email)
                }
            }
        }
    }

    @Test func rs256VerifiesOnlyWithItsPublicKey() async throws {
        let signer = try JitsiSigner(settings: try Self.settings(.rs256))
        let now = Int(Date().timeIntervalSince1970)
        let token = try signer.mint(Self.claims(moderator: true, now: now, closes: now + 600))
        let other = try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey.pemRepresentation
        let verdicts = try await PyJWT.judge([
            .init(token: token, key: try #require(signer.publicKeyPEM), alg: "RS256", issuers: ["emrbridge"], audiences: ["jitsi"], room: nil, sub: "meet.jitsi", now: now),
            .init(token: token, key: other, alg: "RS256", issuers: ["emrbridge"], audiences: ["jitsi"], room: nil, sub: "meet.jitsi", now: now),
        ])
        #expect(verdicts[0]["ok"].bool == true, "\(verdicts[0])")
        #expect(verdicts[1]["reason"].string == "Invalid signature")
    }

    // MARK: Negative vectors: the Swift rule checker and PyJWT agree with Prosody

    /// An HS256 token of arbitrary header and body JSON text.
    static func forge(header: String, body: String, secret: String = secret) -> String {
        let input = Base64URL.encode(Array(header.utf8)) + [UInt8(ascii: ".")] + Base64URL.encode(Array(body.utf8))
        let mac = Array(HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: Array(secret.utf8))))
        return String(decoding: input + [UInt8(ascii: ".")] + Base64URL.encode(mac), as: UTF8.self)
    }

    @Test func negativeVectorsAreRefusedByBothCheckers() async throws {
        let now = Int(Date().timeIntervalSince1970)
        let room = "v-room"
        func body(_ replace: [String: String] = [:], drop: Set<String> = []) -> String {
            var fields: [(String, String)] = [
                ("iss", "\"emrbridge\""), ("aud", "\"jitsi\""), ("sub", "\"meet.jitsi\""), ("room", "\"\(room)\""), ("iat", "\(now)"), ("nbf", "\(now - 60)"),
                ("exp", "\(now + 600)"), ("context", #"{"user":{"id":"u","name":"n","moderator":false}}"#),
            ]
            fields = fields.filter { !drop.contains($0.0) }.map { ($0.0, replace[$0.0] ?? $0.1) }
            return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        }
        let good = #"{"alg":"HS256","typ":"JWT"}"#
        let vectors: [(String, String, String)] = [
            ("valid", forgeOK(good, body()), ""),
            ("no typ", Self.forge(header: #"{"alg":"HS256"}"#, body: body()), "Invalid typ"),
            ("typ jwt", Self.forge(header: #"{"alg":"HS256","typ":"jwt"}"#, body: body()), "Invalid typ"),
            ("HS512 header", Self.forge(header: #"{"alg":"HS512","typ":"JWT"}"#, body: body()), "Invalid or incorrect alg"),
            ("wrong secret", Self.forge(header: good, body: body(), secret: "another-secret-of-enough-length-0000"), "Invalid signature"),
            ("expired (exp == now)", Self.forge(header: good, body: body(["exp": "\(now)"])), "Not acceptable by exp"),
            ("not yet valid", Self.forge(header: good, body: body(["nbf": "\(now + 5)"])), "Not acceptable by nbf"),
            ("string exp", Self.forge(header: good, body: body(["exp": "\"\(now + 600)\""])), "exp must be number"),
            ("wrong iss", Self.forge(header: good, body: body(["iss": "\"other\""])), "invalid 'iss' claim"),
            ("array aud", Self.forge(header: good, body: body(["aud": "[\"jitsi\"]"])), "invalid 'aud' claim"),
            ("missing room", Self.forge(header: good, body: body(drop: ["room"])), "room claim is missing"),
            ("missing sub", Self.forge(header: good, body: body(drop: ["sub"])), "sub claim is missing"),
            ("wrong sub", Self.forge(header: good, body: body(["sub": "\"meet.example.com\""])), "room-mismatch"),
            ("other room", Self.forge(header: good, body: body(["room": "\"v-other\""])), "room-name-does-not-match"),
            ("non-ASCII uppercase room", Self.forge(header: good, body: body(["room": "\"ТЕСТ\""])), "room-name-does-not-match"),
        ]
        let check = ProsodyCheck(
            {
                var configuration = ProsodyCheck.Configuration(algorithm: "HS256", secret: Array(Self.secret.utf8), acceptedIssuers: ["emrbridge"])
                configuration.acceptedAudiences = ["jitsi"]
                configuration.mucDomainBase = "meet.jitsi"
                return configuration
            }()
        )
        let verdicts = try await PyJWT.judge(
            vectors.map { .init(token: $0.1, key: Self.secret, issuers: ["emrbridge"], audiences: ["jitsi"], room: room, sub: "meet.jitsi", now: now) }
        )
        for ((name, token, reason), python) in zip(vectors, verdicts) {
            let swift = check.check(token, now: now, roomNode: room)
            if reason.isEmpty {
                #expect(swift.accepted, "\(name): \(String(describing: swift.refusal))")
                #expect(python["ok"].bool == true, "\(name): \(python)")
            } else {
                #expect(swift.refusal?.message.hasPrefix(reason) == true, "\(name): swift \(String(describing: swift.refusal))")
                #expect(python["reason"].string == reason, "\(name): pyjwt \(python["reason"])")
            }
        }
    }

    private func forgeOK(_ header: String, _ body: String) -> String { Self.forge(header: header, body: body) }

    @Test func mintedTokensPassTheSwiftRuleCheckerAndTheRoomIsItsOwnNode() throws {
        for algorithm in JitsiAlgorithm.allCases {
            let settings = try Self.settings(algorithm)
            let signer = try JitsiSigner(settings: settings)
            let now = Int(Date().timeIntervalSince1970)
            let room = VideoRoom.random()
            let token = try signer.mint(Self.claims(room: room, moderator: false, now: now, closes: now + 60))
            let verdict = ProsodyCheck(.init(settings: settings, publicKeyPEM: signer.publicKeyPEM)).check(token, now: now)
            #expect(verdict.accepted, "\(algorithm): \(String(describing: verdict.refusal))")
            #expect(!verdict.moderator)
            #expect(ProsodyCheck.roomNode(fromURLPath: room) == room)
        }
    }

    // MARK: Rooms

    @Test func roomsAreLowercaseURLSafeAndUnguessable() {
        let rooms = (0..<1000).map { _ in VideoRoom.random() }
        #expect(Set(rooms).count == 1000)
        for room in rooms {
            #expect(VideoRoom.isValid(room))
            #expect(room.count == 34, "v- and 32 base32 characters: 160 random bits")
        }
    }

    @Test func base64URLRoundTrips() {
        for length in 0..<40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains(UInt8(ascii: "=")) && !encoded.contains(UInt8(ascii: "+")) && !encoded.contains(UInt8(ascii: "/")))
            #expect(Base64URL.decode(Substring(String(decoding: encoded, as: UTF8.self))) == bytes)
            #expect(Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "") == String(decoding: encoded, as: UTF8.self))
        }
    }

    // MARK: Join window

    static func utc(_ text: String) -> Date {
        let value = MariaDBDateTimeParse.parse(text)
        return value
    }

    @Test func windowEdgesToTheSecond() throws {
        // 10:00 in New York (EST, UTC-5) on 2026-01-15: opens 09:50, closes 10:30 local.
        let window = try #require(
            JoinWindow.of(
                encounterDate: .init(year: 2026, month: 1, day: 15, hour: 10, minute: 0, second: 0), appointment: nil, timeZone: "America/New_York",
                before: 600, after: 1800
            )
        )
        #expect(window.source == .encounter)
        #expect(window.start == Self.utc("2026-01-15 15:00:00"))
        #expect(window.opens == Self.utc("2026-01-15 14:50:00"))
        #expect(window.closes == Self.utc("2026-01-15 15:30:00"))
        #expect(!window.contains(window.opens - 1))
        #expect(window.contains(window.opens))
        #expect(window.contains(window.opens + 1))
        #expect(window.contains(window.closes - 1))
        #expect(window.contains(window.closes))
        #expect(!window.contains(window.closes + 1))
        // A visit in two days is outside today.
        #expect(!window.contains(window.start - 2 * 86400))
    }

    @Test func dateOnlyEncounterSpansItsWholeDay() throws {
        let window = try #require(
            JoinWindow.of(encounterDate: .date(year: 2026, month: 3, day: 2), appointment: nil, timeZone: "Europe/Berlin", before: 600, after: 1800)
        )
        #expect(window.source == .encounterDay)
        // Midnight in Berlin (CET, UTC+1) is 23:00 UTC the day before.
        #expect(window.opens == Self.utc("2026-03-01 22:50:00"))
        #expect(window.closes == Self.utc("2026-03-02 23:30:00"))
        #expect(!window.contains(window.opens - 1) && window.contains(window.opens + 1))
        #expect(window.contains(window.closes - 1) && !window.contains(window.closes + 1))
        #expect(window.contains(Self.utc("2026-03-02 12:00:00")))
        // OpenEMR's midnight date-time is a date-only encounter too.
        let midnight = JoinWindow.of(encounterDate: .init(year: 2026, month: 3, day: 2), appointment: nil, timeZone: "Europe/Berlin", before: 600, after: 1800)
        #expect(midnight == window)
    }

    @Test func appointmentThatDayGivesTheStart() throws {
        let encounter = MariaDBDateTime(year: 2026, month: 6, day: 1, hour: 8, minute: 0, second: 0)
        let appointment = (date: MariaDBDateTime.date(year: 2026, month: 6, day: 1), time: Optional(MariaDBTime(hours: 14, minutes: 30, seconds: 0)), allDay: false)
        let window = try #require(JoinWindow.of(encounterDate: encounter, appointment: appointment, timeZone: "UTC", before: 600, after: 1800))
        #expect(window.source == .appointment)
        #expect(window.opens == Self.utc("2026-06-01 14:20:00"))
        #expect(window.closes == Self.utc("2026-06-01 15:00:00"))
        #expect(!window.contains(Self.utc("2026-06-01 08:00:00")), "the encounter's own time does not count when an appointment matches")
        #expect(!window.contains(window.opens - 1) && window.contains(window.opens) && window.contains(window.closes) && !window.contains(window.closes + 1))
        let allDay = try #require(
            JoinWindow.of(encounterDate: encounter, appointment: (appointment.date, nil, true), timeZone: "UTC", before: 0, after: 0)
        )
        #expect(allDay.opens == Self.utc("2026-06-01 00:00:00") && allDay.closes == Self.utc("2026-06-02 00:00:00"))
    }

    @Test func tokenExpiryNeverPassesTheWindow() {
        let now = 1_800_000_000
        let claims = Self.claims(moderator: true, now: now, closes: now + 120)
        #expect(claims.expiresAt == now + 120)
        #expect(JitsiClaims.notBefore(windowOpens: now + 600, now: now) == now - 60, "never later than a minute before minting")
        #expect(JitsiClaims.notBefore(windowOpens: now - 600, now: now) == now - 600)
    }

    // MARK: Settings

    @Test func weakSecretsAndWrongKeysStopServe() throws {
        func environment(_ extra: [String: String]) -> [String: String] {
            ["DB_PASSWORD": "a-real-db-password", "JITSI_DOMAIN": "meet.example.com", "JITSI_APP_ID": "emrbridge", "JITSI_APP_SECRET": Self.secret]
                .merging(extra) { $1 }
        }
        func problem(_ extra: [String: String]) -> String? {
            do {
                try AppConfiguration.fromEnvironment(environment(extra)).validateSecrets()
                return nil
            } catch let error as ConfigurationError {
                return error.key
            } catch {
                return "\(error)"
            }
        }
        #expect(problem([:]) == nil)
        #expect(problem(["JITSI_APP_SECRET": ""]) == "JITSI_APP_SECRET")
        #expect(problem(["JITSI_APP_SECRET": "short-secret"]) == "JITSI_APP_SECRET")
        #expect(problem(["JITSI_APP_SECRET": "my_jitsi_app_secret"]) == "JITSI_APP_SECRET")
        #expect(problem(["JITSI_DOMAIN": "", "JITSI_APP_ID": "", "JITSI_APP_SECRET": ""]) == nil, "no JITSI_* at all: video off")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.randomName("jitsi-"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let rsa = directory.appendingPathComponent("rsa.pem"), ec = directory.appendingPathComponent("ec.pem")
        try Self.rsaKey.pemRepresentation.write(to: rsa, atomically: true, encoding: .utf8)
        try P256.Signing.PrivateKey().pemRepresentation.write(to: ec, atomically: true, encoding: .utf8)
        #expect(problem(["JITSI_JWT_ALGORITHM": "RS256", "JITSI_PRIVATE_KEY_FILE": rsa.path, "JITSI_KEY_ID": "k1"]) == nil)
        #expect(problem(["JITSI_JWT_ALGORITHM": "RS256", "JITSI_PRIVATE_KEY_FILE": ec.path, "JITSI_KEY_ID": "k1"]) == "JITSI_PRIVATE_KEY_FILE")
        #expect(problem(["JITSI_JWT_ALGORITHM": "RS256", "JITSI_PRIVATE_KEY_FILE": directory.appendingPathComponent("none").path, "JITSI_KEY_ID": "k1"]) == "JITSI_PRIVATE_KEY_FILE")
        #expect(problem(["JITSI_JWT_ALGORITHM": "RS256", "JITSI_PRIVATE_KEY_FILE": rsa.path]) == "JITSI_KEY_ID")
        #expect(problem(["JITSI_PRIVATE_KEY_FILE": rsa.path]) == "JITSI_PRIVATE_KEY_FILE", "a key with HS256")
        #expect(problem(["JITSI_JWT_ALGORITHM": "JAAS", "JITSI_PRIVATE_KEY_FILE": rsa.path, "JITSI_KEY_ID": "other/k1", "JITSI_DOMAIN": ""]) == "JITSI_KEY_ID")
        #expect(problem(["JITSI_JWT_ALGORITHM": "ES256"]) == "JITSI_JWT_ALGORITHM")
        // Demo mode: the weak secret is allowed, a missing one becomes the demo secret.
        #expect(problem(["BRIDGE_DEMO": "1", "JITSI_APP_SECRET": "short"]) == nil)
        let demo = try AppConfiguration.fromEnvironment(environment(["BRIDGE_DEMO": "1", "JITSI_APP_SECRET": ""]))
        #expect(demo.jitsi.appSecret == JitsiSettings.demoSecret)
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
enum MariaDBDateTimeParse {
    static func parse(_ text: String) -> Date {
        UTCTime.date(MariaDBDateTime(parsing: text)) ?? Date.distantPast
    }
}
