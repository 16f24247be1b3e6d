import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The live test MariaDB, configured only through the `EMR_TEST_*` environment that scripts/test.sh exports; shared
/// by every test target.
///
/// - `EMR_TEST_DB_HOST`, `EMR_TEST_DB_PORT`, `EMR_TEST_DB_USER`, `EMR_TEST_DB_PASSWORD`: TCP access (required together).
/// - `EMR_TEST_DB_SOCKET`: the unix socket of the same server (optional).
/// - `EMR_TEST_MARIADB_CTL`: a command to which `stop` / `start` is appended (optional; enables the restart tests).
/// - `EMR_TEST_REQUIRE_DB=1`: a missing database is a failure, not a skip.
public enum TestServer {
    public struct NotConfigured: Error, CustomStringConvertible {
        public var missing: [String]
        public init(missing: [String]) { self.missing = missing }
        public var description: String {
            "EMR_TEST_REQUIRE_DB=1 but the test database is not configured: set \(missing.joined(separator: ", ")) (scripts/test.sh does)"
        }
    }

    public struct ControlFailed: Error, CustomStringConvertible {
        public var command: String
        public var status: Int32
        public var description: String { "`\(command)` exited with status \(status)" }
    }

    private static var environment: [String: String] { ProcessInfo.processInfo.environment }

    public static func value(_ name: String) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }

    public static let host = value("EMR_TEST_DB_HOST")
    public static let port = value("EMR_TEST_DB_PORT").flatMap { Int($0) }
    public static let user = value("EMR_TEST_DB_USER")
    /// May legitimately be empty, so only presence counts.
    public static let password = ProcessInfo.processInfo.environment["EMR_TEST_DB_PASSWORD"]
    public static let socket = value("EMR_TEST_DB_SOCKET")
    public static let controlCommand = value("EMR_TEST_MARIADB_CTL")

    /// True when the TCP settings are all present.
    public static var isConfigured: Bool { host != nil && port != nil && user != nil && password != nil }

    /// `EMR_TEST_REQUIRE_DB=1`: live tests must run (and fail when not configured).
    public static var isRequired: Bool { value("EMR_TEST_REQUIRE_DB") == "1" }

    /// True when a restart test may stop and start the server.
    public static var canControlServer: Bool { controlCommand != nil && (isConfigured || isRequired) }

    /// The variables that are missing.
    public static var missing: [String] {
        [("EMR_TEST_DB_HOST", host != nil), ("EMR_TEST_DB_PORT", port != nil), ("EMR_TEST_DB_USER", user != nil), ("EMR_TEST_DB_PASSWORD", password != nil)]
            .filter { !$0.1 }.map(\.0)
    }

    /// Runs `$EMR_TEST_MARIADB_CTL <action>` (`stop` / `start`).
    ///
    /// Not through Foundation's `Process`: on Linux it learns that the child exited from a descriptor the child
    /// inherits, and the server that `start` leaves running inherits it too, so `start` would never "finish". Here the
    /// shell is spawned with `posix_spawn`, closes every descriptor above stderr before running the command, and is
    /// reaped with `waitpid` on a thread of its own.
    public static func control(_ action: String) async throws {
        guard let controlCommand else { throw NotConfigured(missing: ["EMR_TEST_MARIADB_CTL"]) }
        let command = "\(controlCommand) \(action)"
        let script = #"for f in /proc/$$/fd/*; do n=${f##*/}; if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-"; fi; done; "#
            + "exec \(command) </dev/null >/dev/null"
        let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            Thread.detachNewThread {
                continuation.resume(with: Result { try spawnAndWait(["/bin/bash", "-c", script], command: command) })
            }
        }
        guard status == 0 else { throw ControlFailed(command: command, status: status) }
    }

    /// Stops the server, runs `body`, and starts the server again, also when `body` throws.
    public static func whileStopped<T>(_ body: () async throws -> T) async throws -> T {
        try await control("stop")
        let result: T
        do {
            result = try await body()
        } catch {
            try? await control("start")
            throw error
        }
        try await control("start")
        return result
    }

    /// Blocking `posix_spawn` + `waitpid`; the exit status, or 128 + signal.
    private static func spawnAndWait(_ arguments: [String], command: String) throws -> Int32 {
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, arguments[0], nil, nil, &cArguments, environ)
        guard spawned == 0 else { throw ControlFailed(command: command, status: -spawned) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw ControlFailed(command: command, status: -errno) }
        }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
