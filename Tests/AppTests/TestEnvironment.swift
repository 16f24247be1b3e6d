import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MariaDB
import EMRTestSupport
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
    struct CommandFailed: Error, CustomStringConvertible {
        var command: String
        var status: Int32
        var stderr: String
        var description: String { "`\(command)` exited with status \(status): \(stderr.prefix(2000))" }
    }

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

    static let realSchemaDatabase = TestServer.value("EMR_TEST_REAL_SCHEMA_DB")



    /// The repository root: `EMR_TEST_REPO_ROOT`, else three levels above this file (Tests/AppTests/TestEnvironment.swift).
    static let repoRoot: URL = {
        if let root = TestServer.value("EMR_TEST_REPO_ROOT") { return URL(fileURLWithPath: root, isDirectory: true) }
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
        try await MariaDBClient.withClient(configuration: configuration, logger: logger, body)
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

    /// The debug build of the command-line tool (`swift build` makes it before the tests run).
    static var bridgeBinary: String { repoRoot.appendingPathComponent(".build/debug/emr-bridge").path }

    /// What a finished process left.
    struct ProcessOutput: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// Runs `executable` (a path, or a name looked up through `/usr/bin/env`) with `arguments` and `environment` (nil:
    /// this process's), feeding `stdin`, whatever its exit status. Runs on a Dispatch thread, never blocking a Swift
    /// concurrency thread; stdout and stderr are drained at once, so a chatty child cannot block on a full pipe.
    static func execute(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, stdin: Data? = nil) async throws
        -> ProcessOutput
    {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
                    process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
                    if let environment { process.environment = environment }
                    let output = Pipe(), errors = Pipe(), input = Pipe()
                    process.standardOutput = output
                    process.standardError = errors
                    process.standardInput = input
                    try process.run()
                    nonisolated(unsafe) var errorData = Data()
                    let group = DispatchGroup()
                    // The input is written while the output is read: a child that answers line by line (as the checksum
                    // verifier does) would otherwise fill its output pipe and stop reading, and both would wait forever.
                    group.enter()
                    DispatchQueue.global().async {
                        if let stdin { input.fileHandleForWriting.write(stdin) }
                        try? input.fileHandleForWriting.close()
                        group.leave()
                    }
                    group.enter()
                    DispatchQueue.global().async {
                        errorData = errors.fileHandleForReading.readDataToEndOfFile()
                        group.leave()
                    }
                    let data = output.fileHandleForReading.readDataToEndOfFile()
                    group.wait()
                    process.waitUntilExit()
                    continuation.resume(
                        returning: ProcessOutput(status: process.terminationStatus, stdout: data, stderr: String(decoding: errorData, as: UTF8.self))
                    )
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// `execute`, returning stdout; throws on a non-zero exit.
    static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil) async throws -> Data {
        let output = try await execute(executable, arguments, stdin: stdin)
        guard output.status == 0 else {
            throw CommandFailed(
                command: ([executable] + arguments).joined(separator: " ").prefix(300).description, status: output.status, stderr: output.stderr
            )
        }
        return output.stdout
    }

    /// Runs `$EMR_TEST_MARIADB_CTL <action>` (`stop` / `start`).
    static func control(_ action: String) async throws { try await TestServer.control(action) }
}
