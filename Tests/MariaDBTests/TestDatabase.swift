import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import MariaDB
import Testing

/// The live test database, configured only through the `EMR_TEST_*` environment (see scripts/test.sh).
///
/// - `EMR_TEST_DB_HOST`, `EMR_TEST_DB_PORT`, `EMR_TEST_DB_USER`, `EMR_TEST_DB_PASSWORD`: TCP access (required together).
/// - `EMR_TEST_DB_SOCKET`: the unix socket of the same server (optional).
/// - `EMR_TEST_MARIADB_CTL`: a command to which `stop` / `start` is appended (optional; enables the restart test).
/// - `EMR_TEST_REQUIRE_DB=1`: a missing database is a failure, not a skip.
enum TestDatabase {
    struct NotConfigured: Error, CustomStringConvertible {
        var missing: [String]
        var description: String {
            "EMR_TEST_REQUIRE_DB=1 but the test database is not configured: set \(missing.joined(separator: ", ")) (scripts/test.sh does)"
        }
    }

    struct ControlFailed: Error, CustomStringConvertible {
        var command: String
        var status: Int32
        var description: String { "`\(command)` exited with status \(status)" }
    }

    private static var environment: [String: String] { ProcessInfo.processInfo.environment }

    private static func value(_ name: String) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }

    static let host = value("EMR_TEST_DB_HOST")
    static let port = value("EMR_TEST_DB_PORT").flatMap { Int($0) }
    static let user = value("EMR_TEST_DB_USER")
    /// May legitimately be empty, so only presence counts.
    static let password = environment["EMR_TEST_DB_PASSWORD"]
    static let socket = value("EMR_TEST_DB_SOCKET")
    static let controlCommand = value("EMR_TEST_MARIADB_CTL")

    /// True when the TCP settings are all present.
    static var isConfigured: Bool { host != nil && port != nil && user != nil && password != nil }

    /// `EMR_TEST_REQUIRE_DB=1`: live tests must run (and fail when not configured).
    static var isRequired: Bool { value("EMR_TEST_REQUIRE_DB") == "1" }

    /// True when the restart test may stop and start the server.
    static var canControlServer: Bool { controlCommand != nil && (isConfigured || isRequired) }

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
        let client = MariaDBClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            let result: Result
            do {
                result = try await body(client)
            } catch {
                group.cancelAll()
                try? await group.waitForAll()
                throw error
            }
            group.cancelAll()
            try await group.waitForAll()
            return result
        }
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

    /// Runs `$EMR_TEST_MARIADB_CTL <action>` (`stop` / `start`) without blocking a cooperative thread.
    ///
    /// Not through Foundation's `Process`: on Linux it learns that the child exited from a pipe the child inherits, and
    /// the server that `start` leaves running inherits it too, so `start` would never "finish". Here the command is
    /// spawned with every descriptor above stderr closed and reaped with `waitpid`.
    static func control(_ action: String) async throws {
        guard let controlCommand else { throw NotConfigured(missing: ["EMR_TEST_MARIADB_CTL"]) }
        let command = "\(controlCommand) \(action)"
        let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            Thread.detachNewThread {
                continuation.resume(with: Result { try spawnAndWait(command + " >/dev/null </dev/null") })
            }
        }
        guard status == 0 else { throw ControlFailed(command: command, status: status) }
    }

    /// `bash -c command`, blocking until it exits; returns its exit status. bash first closes every descriptor above
    /// stderr, so a server the command leaves running holds none of this process's sockets.
    private static func spawnAndWait(_ command: String) throws -> Int32 {
        #if canImport(Glibc)
        let script = """
            if [ -d /proc/$$/fd ]; then for fd in $(ls /proc/$$/fd); do case $fd in 0|1|2) ;; *) eval "exec $fd>&-" ;; esac; done; fi
            \(command)
            """
        let shell = FileManager.default.isExecutableFile(atPath: "/bin/bash") ? "/bin/bash" : "/usr/bin/bash"
        let arguments: [UnsafeMutablePointer<CChar>?] = [shell, "-c", script].map { (text: String) in strdup(text) }
        defer { arguments.forEach { free($0) } }
        var argv = arguments + [nil]
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, shell, nil, nil, &argv, environ)
        guard spawned == 0 else { throw ControlFailed(command: command, status: -spawned) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw ControlFailed(command: command, status: -errno) }
        }
        // WIFEXITED ? WEXITSTATUS : 128 + WTERMSIG
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        #else
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
        #endif
    }
}
