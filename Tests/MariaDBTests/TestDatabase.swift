import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import MariaDB
import EMRTestSupport
import Testing

/// The live test database, configured only through the `EMR_TEST_*` environment (see scripts/test.sh).
///
/// - `EMR_TEST_DB_HOST`, `EMR_TEST_DB_PORT`, `EMR_TEST_DB_USER`, `EMR_TEST_DB_PASSWORD`: TCP access (required together).
/// - `EMR_TEST_DB_SOCKET`: the unix socket of the same server (optional).
/// - `EMR_TEST_MARIADB_CTL`: a command to which `stop` / `start` is appended (optional; enables the restart test).
/// - `EMR_TEST_REQUIRE_DB=1`: a missing database is a failure, not a skip.
enum TestDatabase {
    typealias NotConfigured = TestServer.NotConfigured

    static var host: String? { TestServer.host }
    static var port: Int? { TestServer.port }
    static var user: String? { TestServer.user }
    /// May legitimately be empty, so only presence counts.
    static var password: String? { TestServer.password }
    static var socket: String? { TestServer.socket }
    static var controlCommand: String? { TestServer.controlCommand }
    static var isConfigured: Bool { TestServer.isConfigured }
    static var isRequired: Bool { TestServer.isRequired }
    static var canControlServer: Bool { TestServer.canControlServer }

    /// Runs `$EMR_TEST_MARIADB_CTL <action>` (`stop` / `start`).
    static func control(_ action: String) async throws { try await TestServer.control(action) }

    static let logger: Logger = {
        var logger = Logger(label: "MariaDBTests")
        logger.logLevel = .critical
        return logger
    }()

    /// Options small enough for tests.
    static func defaultOptions() -> MariaDBConfiguration.Options {
        var options = MariaDBConfiguration.Options()
        options.connectTimeout = 5
        options.maximumConnections = 4
        options.leaseTimeout = 10
        return options
    }

    /// The configuration for `database` (empty: no default database), over TCP or the unix socket.
    static func configuration(
        database: String, options: MariaDBConfiguration.Options = defaultOptions(), useSocket: Bool = false, password: String? = nil
    ) throws -> MariaDBConfiguration {
        guard let host, let port, let user, let storedPassword = self.password else {
            var missing: [String] = []
            if self.host == nil { missing.append("EMR_TEST_DB_HOST") }
            if self.port == nil { missing.append("EMR_TEST_DB_PORT") }
            if self.user == nil { missing.append("EMR_TEST_DB_USER") }
            if self.password == nil { missing.append("EMR_TEST_DB_PASSWORD") }
            throw NotConfigured(missing: missing)
        }
        var unixSocket: String? = nil
        if useSocket {
            guard let socket else { throw NotConfigured(missing: ["EMR_TEST_DB_SOCKET"]) }
            unixSocket = socket
        }
        return MariaDBConfiguration(
            host: host, port: port, unixSocket: unixSocket, username: user, password: password ?? storedPassword, database: database,
            tls: .disabled, options: options
        )
    }

    /// `emr_t_<8 hex digits>`.
    static func randomDatabaseName() -> String {
        "emr_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8).lowercased()
    }

    /// Runs `body` with a client whose `run()` runs in a task-group child; the client is always shut down (the group
    /// is cancelled and awaited) on success and on error.
    static func withClient<Result: Sendable>(
        _ configuration: MariaDBConfiguration, _ body: (MariaDBClient) async throws -> Result
    ) async throws -> Result {
        try await MariaDBClient.withClient(configuration: configuration, logger: logger, body)
    }

    /// Creates `emr_t_<uuid8>`, runs `body` with a client on it, and drops the database afterwards (also on error).
    static func withTestClient<Result: Sendable>(
        options: MariaDBConfiguration.Options = defaultOptions(), useSocket: Bool = false,
        _ body: (MariaDBClient, String) async throws -> Result
    ) async throws -> Result {
        let name = randomDatabaseName()
        _ = try await admin { try await $0.query("CREATE DATABASE \(unescaped: name) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", logger: logger) }
        let result: Result
        do {
            result = try await withClient(try configuration(database: name, options: options, useSocket: useSocket)) { client in
                try await body(client, name)
            }
        } catch {
            try? await dropDatabase(name)
            throw error
        }
        try await dropDatabase(name)
        return result
    }

    /// A short-lived client with no default database.
    static func admin<Result: Sendable>(_ body: (MariaDBClient) async throws -> Result) async throws -> Result {
        var options = defaultOptions()
        options.maximumConnections = 1
        return try await withClient(try configuration(database: "", options: options), body)
    }

    static func dropDatabase(_ name: String) async throws {
        _ = try await admin { try await $0.query("DROP DATABASE IF EXISTS \(unescaped: name)", logger: logger) }
    }
}
