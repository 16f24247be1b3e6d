public import NIOPosix
internal import CCrypt


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

    /// Run the verifying threads in Linux's `SCHED_IDLE` class: they take every core that request handling and
    /// the database leave idle, and yield at once when those need it (a login burst cannot slow health checks).
    public let backgroundPriority: Bool

    /// Creates a verifier running on `threadPool` (already started; see the type documentation
    /// on sizing).
    public init(threadPool: NIOThreadPool, backgroundPriority: Bool = false) {
        self.threadPool = threadPool
        self.backgroundPriority = backgroundPriority
    }

    /// Moves the calling pool thread to SCHED_IDLE (idempotent; a pool thread keeps it).
    private static func moveCurrentThreadToIdleClass() {
        #if os(Linux)
        _ = ccrypt_make_current_thread_idle()
        #endif
    }

    /// Verifies `password` against `storedHash` on the thread pool.
    ///
    /// - Throws: `NIOThreadPoolError.ThreadPoolInactive` if the pool is not running, or
    ///   `CancellationError` if the task was cancelled before the work started.
    public func verify(password: String, storedHash: String, salt: String? = nil) async throws
        -> PasswordVerification
    {
        let idle = backgroundPriority
        return try await threadPool.runIfActive {
            if idle { Self.moveCurrentThreadToIdleClass() }
            return PasswordCrypt.verify(password: password, storedHash: storedHash, salt: salt)
        }
    }
}
