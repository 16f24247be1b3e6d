import EMRTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import NIOCore
import Testing

@testable import App
@testable import OpenEMR

/// Every AppTests suite that talks to the live MariaDB, in ONE serialized parent suite: no two of them run at once,
/// so the restart suite (which stops the server) cannot break a sibling of this target.
///
/// Order: Swift Testing runs the children of a serialized suite sorted by source location (file ID, then line), so the
/// nested suites run in the alphabetical order of their files: LiveFoundationTests, LiveLoginTests,
/// LiveMigrationTests, LiveSessionBridgeTests, and LiveZZServerRestartTests last.
///
/// Against the other test targets (Tests/MariaDBTests runs in the same `swift test` process, in parallel), every
/// nested suite holds `DatabaseServerLock` shared, and the restart suite holds it exclusively.
@Suite(.serialized, .enabled(if: TestEnvironment.isConfigured || TestEnvironment.isRequired))
struct LiveAppTests {}

// MARK: - A per-suite OpenEMR database

/// A database `emr_app_<random>` with OpenEMR's fixture, the demo data and the service's migrations, plus a MariaDB
/// user of its own with a random (non-default) password, so apps run outside demo mode.
struct LiveDatabase: Sendable {
    let name: String
    let appUser: String
    let appPassword: String
    /// The app connects as a user made for this database with a random password (else: the test user, demo mode).
    let ownUser: Bool
    /// A privileged client on the database for the test's own SQL.
    let client: MariaDBClient

    @TaskLocal static var current: LiveDatabase?

    struct NoDatabase: Error, CustomStringConvertible {
        var description: String { "no LiveDatabase: the suite needs the .liveDatabase() trait" }
    }

    static func require() throws -> LiveDatabase {
        guard let current else { throw NoDatabase() }
        return current
    }

    var logger: Logger { TestEnvironment.logger }

    /// The environment an app of this database reads; `extra` overrides (an empty value removes a key).
    func environment(_ extra: [String: String] = [:]) throws -> [String: String] {
        let settings = try TestEnvironment.requireConfigured()
        var environment = [
            "DB_HOST": settings.host, "DB_PORT": String(settings.port), "DB_USER": appUser, "DB_PASSWORD": appPassword,
            "DB_NAME": name, "DB_SSL_MODE": "DISABLED", "DB_POOL_SIZE": "4", "BRIDGE_SQL_DIR": TestEnvironment.sqlDirectory,
            "LOG_LEVEL": "critical",
        ]
        if !ownUser { environment["BRIDGE_DEMO"] = "1" }
        for (key, value) in extra { environment[key] = value.isEmpty ? nil : value }
        return environment
    }

    func configuration(_ extra: [String: String] = [:]) throws -> AppConfiguration {
        try AppConfiguration.fromEnvironment(environment(extra))
    }

    /// Builds the application (as `main` does, without metrics) and runs `body` against it; `.router` runs the app's
    /// services (the MariaDB client) around the body.
    func withApp<Value: Sendable>(
        _ extra: [String: String] = [:], setup: TestingSetup = .router, _ body: @Sendable (any TestClientProtocol) async throws -> Value
    ) async throws -> Value {
        let app = try await buildApplication(configuration: try configuration(extra), logger: logger)
        return try await app.test(setup, body)
    }

    @discardableResult
    func query(_ query: MariaDBQuery) async throws -> MariaDBResult {
        try await client.query(query, logger: logger)
    }

    func int(_ query: MariaDBQuery) async throws -> Int? {
        try await client.query(query, logger: logger).first?.decode("v", as: Int?.self)
    }

    func string(_ query: MariaDBQuery) async throws -> String? {
        try await client.query(query, logger: logger).first?.decode("v", as: String?.self)
    }

    /// Sets (or with nil removes) an OpenEMR global at `gl_index` 0.
    func setGlobal(_ name: String, _ value: String?) async throws {
        if let value {
            try await query(
                "INSERT INTO globals (gl_name, gl_index, gl_value) VALUES (\(name), 0, \(value)) ON DUPLICATE KEY UPDATE gl_value = \(value)"
            )
        } else {
            try await query("DELETE FROM globals WHERE gl_name = \(name) AND gl_index = 0")
        }
    }

    // MARK: Setup and teardown

    enum Content: Sendable {
        /// No tables at all.
        case empty
        /// sql/openemr/fixture.sql only.
        case fixture
        /// fixture + sql/demo/demo-data.sql.
        case demo
        /// fixture + demo data + migrations.
        case migrated
    }

    /// Runs every statement of a repository SQL script on one connection of `client`.
    static func load(_ relativePath: String, into client: MariaDBClient) async throws {
        let url = TestEnvironment.repoRoot.appendingPathComponent(relativePath)
        let script = try String(contentsOf: url, encoding: .utf8)
        let statements = MariaDBScript.statements(in: script)
        try #require(!statements.isEmpty, "no statements in \(url.path)")
        try await client.withConnection(logger: TestEnvironment.logger) { connection in
            for statement in statements {
                try await connection.query(MariaDBQuery(unsafeSQL: statement))
            }
        }
    }

    static func migrator(_ client: MariaDBClient) -> Migrator {
        Migrator(client: client, directory: TestEnvironment.sqlDirectory, logger: TestEnvironment.logger)
    }

    /// Creates a fresh database with `content`, runs `body` with a privileged client on it, and drops it on every path.
    static func withScratchDatabase<Result: Sendable>(
        _ content: Content, _ body: (MariaDBClient, String) async throws -> Result
    ) async throws -> Result {
        let name = TestEnvironment.randomName("emr_app_")
        _ = try await TestEnvironment.withAdmin { admin in
            try await admin.query(
                "CREATE DATABASE \(unescaped: name) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", logger: TestEnvironment.logger
            )
        }
        do {
            let result = try await TestEnvironment.withClient(try TestEnvironment.adminConfiguration(database: name)) { client async throws in
                if content != .empty { try await load("sql/openemr/fixture.sql", into: client) }
                if content == .demo || content == .migrated { try await load("sql/demo/demo-data.sql", into: client) }
                if content == .migrated {
                    let report = try await migrator(client).run(checkOnly: false)
                    try #require(report.missingTables.isEmpty, "fixture lacks \(report.missingTables)")
                }
                return try await body(client, name)
            }
            try await dropDatabase(name)
            return result
        } catch {
            try? await dropDatabase(name)
            throw error
        }
    }

    static func dropDatabase(_ name: String) async throws {
        _ = try await TestEnvironment.withAdmin { admin in
            try await admin.query("DROP DATABASE IF EXISTS \(unescaped: name)", logger: TestEnvironment.logger)
        }
    }

    /// A migrated demo database plus its own MariaDB user, published as `LiveDatabase.current` around `body`.
    ///
    /// When the test user may not grant (scripts/test.sh grants WITH GRANT OPTION), apps fall back to the test user
    /// in demo mode (`ownUser` false).
    static func withNew(_ body: () async throws -> Void) async throws {
        try await withScratchDatabase(.migrated) { client, name in
            let user = TestEnvironment.randomName("emr_app_")
            let password = "pw-" + TestEnvironment.randomHex(bytes: 16)
            var database: LiveDatabase
            do {
                try await TestEnvironment.withAdmin { admin in
                    for host in ["127.0.0.1", "localhost"] {
                        try await admin.query(
                            "CREATE USER '\(unescaped: user)'@'\(unescaped: host)' IDENTIFIED BY '\(unescaped: password)'", logger: TestEnvironment.logger
                        )
                        try await admin.query(
                            "GRANT ALL PRIVILEGES ON `\(unescaped: name)`.* TO '\(unescaped: user)'@'\(unescaped: host)'", logger: TestEnvironment.logger
                        )
                    }
                }
                database = LiveDatabase(name: name, appUser: user, appPassword: password, ownUser: true, client: client)
            } catch let error as MariaDBError where error.serverErrorNumber == 1044 || error.serverErrorNumber == 1045 || error.serverErrorNumber == 1227 {
                try? await dropUser(user)
                let settings = try TestEnvironment.requireConfigured()
                database = LiveDatabase(name: name, appUser: settings.user, appPassword: settings.password, ownUser: false, client: client)
            }
            do {
                try await $current.withValue(database) { try await body() }
            } catch {
                if database.ownUser { try? await dropUser(user) }
                throw error
            }
            if database.ownUser { try await dropUser(user) }
        }
    }

    static func dropUser(_ user: String) async throws {
        try await TestEnvironment.withAdmin { admin in
            for host in ["127.0.0.1", "localhost"] {
                try await admin.query("DROP USER IF EXISTS '\(unescaped: user)'@'\(unescaped: host)'", logger: TestEnvironment.logger)
            }
        }
    }
}

/// Suite trait: holds `DatabaseServerLock` (shared unless told otherwise) and gives the suite its own migrated demo
/// database (`LiveDatabase.current`), dropped at the end.
struct LiveDatabaseTrait: SuiteTrait, TestScoping {
    let lock: DatabaseServerLock.Mode

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await DatabaseServerLock.withLock(lock) {
            try await LiveDatabase.withNew { try await function() }
        }
    }
}

extension Trait where Self == LiveDatabaseTrait {
    static func liveDatabase(lock: DatabaseServerLock.Mode = .shared) -> Self { LiveDatabaseTrait(lock: lock) }
}

// MARK: - HTTP helpers

extension TestClientProtocol {
    /// Sends `body` (JSON text) with `Content-Type: application/json`.
    func send(
        _ method: HTTPRequest.Method, _ uri: String, json body: String? = nil, headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = headers
        if body != nil && headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }

    func login(_ username: String, _ password: String, path: String = "/api/auth/login/") async throws -> TestResponse {
        try await send(.post, path, json: JSONValue.object(["username": .string(username), "password": .string(password)]).text)
    }

    /// Logs in and returns the token (records an issue and throws when the login fails).
    func token(_ username: String, _ password: String, path: String = "/api/auth/login/", sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> String
    {
        let response = try await login(username, password, path: path)
        try #require(response.status == .ok, "login \(username): \(response.status) \(response.text)", sourceLocation: sourceLocation)
        return try #require(response.json["token"].string, sourceLocation: sourceLocation)
    }

    func currentUser(_ token: String, scheme: String = "Bearer") async throws -> TestResponse {
        try await send(.get, "/api/auth/user/", headers: [.authorization: "\(scheme) \(token)"])
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
    /// `error.code` of the JSON error shape.
    var errorCode: String? { json["error"]["code"].string }
}

/// A parsed JSON document, comparable in `#expect`.
enum JSONValue: Sendable, Equatable, CustomStringConvertible, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    static func parse(_ buffer: ByteBuffer) throws -> JSONValue {
        try parse(Data(buffer.readableBytesView))
    }

    static func parse(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    subscript(key: String) -> JSONValue {
        if case .object(let object) = self { return object[key] ?? .null }
        return .null
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var int: Int? { if case .number(let n) = self, n == n.rounded() { return Int(n) } else { return nil } }
    var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var object: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }
    var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    var isNull: Bool { self == .null }

    /// Compact JSON text (for request bodies).
    var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
        case .string(let s):
            let data = try? JSONEncoder().encode(s)
            return data.map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        case .array(let a): return "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let o): return "{" + o.keys.sorted().map { JSONValue.string($0).text + ":" + o[$0]!.text }.joined(separator: ",") + "}"
        }
    }

    var description: String { text }
}

/// Lowercase hex of bytes.
func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

/// A token as the service hands it out: 64 lowercase hex digits.
func isTokenShaped(_ token: String?) -> Bool {
    guard let token else { return false }
    return token.count == 64 && token.allSatisfy { "0123456789abcdef".contains($0) }
}
