import Foundation
public import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Cross-target, cross-process coordination around the shared test MariaDB server.
///
/// Shared by Tests/MariaDBTests and Tests/AppTests (this target). Convention: `flock(2)` on `$TMPDIR/emr-bridge-db-restart.lock` (`/tmp` when TMPDIR
/// is unset). A test that stops/starts the server holds it **exclusively**; every other suite that talks to the server
/// holds it **shared** for its whole run. flock locks belong to open file descriptions, so two `open()`s in the same
/// process (two test targets linked into one `swift test` binary) exclude each other just like two processes.
///
/// Never take the exclusive lock inside a scope that already holds the shared one (that waits forever): put the
/// shared trait on each sibling suite, not on a parent that also contains the restart suite.
public enum DatabaseServerLock {
    public enum Mode: Sendable {
        case shared
        case exclusive
    }

    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    public static var path: String {
        var directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        if directory.isEmpty { directory = "/tmp" }
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
        return directory + "/emr-bridge-db-restart.lock"
    }

    /// Runs `body` holding the lock in `mode`. Polls with `LOCK_NB` (never blocks a concurrency thread); gives up after
    /// `timeout`.
    public static func withLock<Result>(
        _ mode: Mode, timeout: Duration = .seconds(1200), _ body: () async throws -> Result
    ) async throws -> Result {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else { throw Failed(description: "cannot open \(path): errno \(errno)") }
        defer { close(descriptor) }  // closing the descriptor releases the lock
        let operation = (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB
        let deadline = ContinuousClock.now + timeout
        while flock(descriptor, operation) != 0 {
            let error = errno
            guard error == EWOULDBLOCK || error == EAGAIN || error == EINTR else {
                throw Failed(description: "flock(\(path)) failed: errno \(error)")
            }
            guard ContinuousClock.now < deadline else {
                throw Failed(description: "timed out waiting for the \(mode) lock on \(path)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await body()
    }
}

/// Holds `DatabaseServerLock` around a whole suite: `.databaseServer(.shared)` on suites that use the server,
/// `.databaseServer(.exclusive)` on the suite that stops and starts it.
public struct DatabaseServerLockTrait: SuiteTrait, TestTrait, TestScoping {
    public let mode: DatabaseServerLock.Mode

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await DatabaseServerLock.withLock(mode) { try await function() }
    }
}

extension Trait where Self == DatabaseServerLockTrait {
    public static func databaseServer(_ mode: DatabaseServerLock.Mode) -> Self { DatabaseServerLockTrait(mode: mode) }
}
