public import NIOPosix
internal import CCrypt

#if canImport(Glibc)
import Glibc
#endif

/// Runs ``PasswordCrypt/verify(password:storedHash:salt:)`` off the async executors, on a
/// `NIOThreadPool`.
///
/// Password hashing is deliberately slow CPU work (bcrypt cost 12 ≈ 0.25 s, argon2 with
/// 64 MiB). Pass a **dedicated** pool, started, with about as many threads as CPU cores
/// (`System.coreCount`), so that a burst of logins cannot starve file I/O or other blocking
/// work that shares `NIOThreadPool.singleton`, and so the number of concurrent argon2 memory
/// allocations is bounded by the thread count. The caller owns the pool's lifecycle
/// (`start()` / `shutdownGracefully()`).
public struct PasswordVerifier: Sendable {
    /// The pool that runs the blocking verifications.
    public let threadPool: NIOThreadPool

    /// Lower the verifying threads' scheduling priority (Linux `nice` 10), so that request
    /// handling and database work preempt a burst of slow hashes.
    public let backgroundPriority: Bool

    /// Creates a verifier running on `threadPool` (already started; see the type documentation
    /// on sizing).
    public init(threadPool: NIOThreadPool, backgroundPriority: Bool = false) {
        self.threadPool = threadPool
        self.backgroundPriority = backgroundPriority
    }

    /// Sets the calling thread's nice value to 10 (once per thread; a pool thread keeps it).
    private static func lowerCurrentThreadPriority() {
        #if os(Linux)
        let thread = id_t(ccrypt_current_thread_id())
        if getpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread) < 10 {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, 10)
        }
        #endif
    }

    /// Verifies `password` against `storedHash` on the thread pool.
    ///
    /// - Throws: `NIOThreadPoolError.ThreadPoolInactive` if the pool is not running, or
    ///   `CancellationError` if the task was cancelled before the work started.
    public func verify(password: String, storedHash: String, salt: String? = nil) async throws
        -> PasswordVerification
    {
        let lower = backgroundPriority
        return try await threadPool.runIfActive {
            if lower { Self.lowerCurrentThreadPriority() }
            return PasswordCrypt.verify(password: password, storedHash: storedHash, salt: salt)
        }
    }
}
