import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MariaDB
import Testing

/// The only place the AppTests read their environment (set by scripts/test.sh):
///
/// - `EMR_TEST_DB_HOST`, `EMR_TEST_DB_PORT`, `EMR_TEST_DB_USER`, `EMR_TEST_DB_PASSWORD`: TCP access to a MariaDB server
///   whose user may create databases and users (required together).
/// - `EMR_TEST_DB_SOCKET`: the unix socket of the same server (optional).
/// - `EMR_TEST_MARIADB_CTL`: a command to which ` stop` / ` start` is appended (optional; enables the restart suite).
/// - `EMR_TEST_REQUIRE_DB=1`: a missing database is a failure, not a skip.
/// - `EMR_TEST_REPO_ROOT`: the checkout (default: found from this file's path).
/// - `EMR_TEST_REAL_SCHEMA_DB`: a database holding OpenEMR's real install schema (only when ../shared is present).
enum TestEnvironment {
    struct NotConfigured: Error, CustomStringConvertible {
        var missing: [String]
        var description: String {
            "the live test database is not configured: set \(missing.joined(separator: ", ")) (scripts/test.sh does)"
        }
    }

    struct CommandFailed: Error, CustomStringConvertible {
        var command: String
        var status: Int32
        var stderr: String
        var description: String { "`\(command)` exited with status \(status): \(stderr.prefix(2000))" }
    }

    private static let environment = ProcessInfo.processInfo.environment

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
    static let realSchemaDatabase = value("EMR_TEST_REAL_SCHEMA_DB")

    /// True when the TCP settings are all present.
    static var isConfigured: Bool { host != nil && port != nil && user != nil && password != nil }

    /// `EMR_TEST_REQUIRE_DB=1`: live tests must run (and fail when not configured).
    static var isRequired: Bool { value("EMR_TEST_REQUIRE_DB") == "1" }

    /// The restart suite may stop and start the server.
    static var canControlServer: Bool { controlCommand != nil && (isConfigured || isRequired) }

    /// The repository root: `EMR_TEST_REPO_ROOT`, else three levels above this file (Tests/AppTests/TestEnvironment.swift).
    static let repoRoot: URL = {
        if let root = value("EMR_TEST_REPO_ROOT") { return URL(fileURLWithPath: root, isDirectory: true) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }()

    static var sqlDirectory: String { repoRoot.appendingPathComponent("sql").path }

    /// `../shared/openemr/database.sql` relative to the repository root (scripts/test.sh then loads it).
    static var realSchemaSQLFile: URL {
        repoRoot.deletingLastPathComponent().appendingPathComponent("shared/openemr/database.sql")
    }

    static let logger: Logger = {
        var logger = Logger(label: "AppTests")
        logger.logLevel = .critical
        return logger
    }()

    static func requireConfigured() throws -> (host: String, port: Int, user: String, password: String) {
        guard let host, let port, let user, let password else {
            var missing: [String] = []
            if host == nil { missing.append("EMR_TEST_DB_HOST") }
            if port == nil { missing.append("EMR_TEST_DB_PORT") }
            if user == nil { missing.append("EMR_TEST_DB_USER") }
            if password == nil { missing.append("EMR_TEST_DB_PASSWORD") }
            throw NotConfigured(missing: missing)
        }
        return (host, port, user, password)
    }

    /// A client configuration for `database` ("" = none) as the privileged test user.
    static func adminConfiguration(database: String) throws -> MariaDBConfiguration {
        let settings = try requireConfigured()
        var options = MariaDBConfiguration.Options()
        options.connectTimeout = 5
        options.maximumConnections = 2
        options.leaseTimeout = 30
        options.connectionInitStatements = ["SET SESSION sql_mode = ''"]
        return MariaDBConfiguration(
            host: settings.host, port: settings.port, username: settings.user, password: settings.password, database: database,
            tls: .disabled, options: options
        )
    }

    /// Runs `body` with a client whose `run()` runs in a task-group child; the client is shut down on every path.
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
            try? await group.waitForAll()
            return result
        }
    }

    /// A short-lived privileged client with no default database.
    static func withAdmin<Result: Sendable>(_ body: (MariaDBClient) async throws -> Result) async throws -> Result {
        try await withClient(try adminConfiguration(database: ""), body)
    }

    /// `prefix` + 12 random lowercase hex digits.
    static func randomName(_ prefix: String) -> String {
        prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
    }

    static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    static func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

    /// Runs `executable` with `arguments`, feeding `stdin`, and returns its stdout; throws on a non-zero exit.
    /// Runs on a Dispatch thread, never blocking a Swift concurrency thread.
    static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil) async throws -> Data {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
                    process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
                    let output = Pipe(), errors = Pipe(), input = Pipe()
                    process.standardOutput = output
                    process.standardError = errors
                    process.standardInput = input
                    try process.run()
                    if let stdin { input.fileHandleForWriting.write(stdin) }
                    try? input.fileHandleForWriting.close()
                    // Drain stderr concurrently so a chatty child cannot block on a full pipe.
                    nonisolated(unsafe) var errorData = Data()
                    let group = DispatchGroup()
                    group.enter()
                    DispatchQueue.global().async {
                        errorData = errors.fileHandleForReading.readDataToEndOfFile()
                        group.leave()
                    }
                    let data = output.fileHandleForReading.readDataToEndOfFile()
                    group.wait()
                    process.waitUntilExit()
                    guard process.terminationStatus == 0 else {
                        throw CommandFailed(
                            command: ([executable] + arguments).joined(separator: " ").prefix(300).description, status: process.terminationStatus,
                            stderr: String(decoding: errorData, as: UTF8.self)
                        )
                    }
                    continuation.resume(returning: data)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Runs `$EMR_TEST_MARIADB_CTL <action>` (`stop` / `start`).
    ///
    /// Not through Foundation's `Process`: it detects the child's exit through a socket the child inherits, and the
    /// server that `start` leaves running inherits it too, so `Process` would wait for the server to exit. Here the
    /// shell is spawned with `posix_spawn`, closes every descriptor above 2 before running the command (so the
    /// server keeps none of ours), and is reaped with `waitpid`.
    static func control(_ action: String) async throws {
        guard let controlCommand else { throw NotConfigured(missing: ["EMR_TEST_MARIADB_CTL"]) }
        let command = "\(controlCommand) \(action)"
        let script = #"for f in /proc/$$/fd/*; do n=${f##*/}; if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-"; fi; done; "#
            + "exec \(command) </dev/null >/dev/null"
        let status = try await spawnAndWait(["/bin/bash", "-c", script])
        guard status == 0 else { throw CommandFailed(command: command, status: status, stderr: "(see the command's own log)") }
    }

    /// `posix_spawn` + `waitpid` on a Dispatch thread; returns the exit status (128 + signal when killed).
    static func spawnAndWait(_ arguments: [String]) async throws -> Int32 {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
                defer { for pointer in cArguments { free(pointer) } }
                var pid = pid_t()
                let spawned = posix_spawn(&pid, arguments[0], nil, nil, &cArguments, environ)
                guard spawned == 0 else {
                    continuation.resume(throwing: CommandFailed(command: arguments.joined(separator: " "), status: spawned, stderr: "posix_spawn failed"))
                    return
                }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 {
                    guard errno == EINTR else {
                        continuation.resume(throwing: CommandFailed(command: arguments.joined(separator: " "), status: -1, stderr: "waitpid failed"))
                        return
                    }
                }
                let exited = status & 0x7f == 0
                continuation.resume(returning: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f))
            }
        }
    }
}
