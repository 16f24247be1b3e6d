import Synchronization

/// Bounds the sign-ins in progress (waiting for or running a slow password hash).
///
/// Password hashes are deliberately slow, so a burst of sign-ins would otherwise queue without end and every caller
/// would wait longer and longer. Past `limit` sign-ins in progress, a new one is refused at once (503 with
/// `Retry-After`, before any database or hashing work), so the ones admitted finish in bounded time.
public final class SignInGate: Sendable {
    public let limit: Int
    private let inProgress = Atomic<Int>(0)

    public init(limit: Int) { self.limit = max(1, limit) }

    /// Sign-ins in progress now.
    public var current: Int { inProgress.load(ordering: .relaxed) }

    /// Runs `body` when fewer than `limit` sign-ins are in progress; otherwise throws `SignInGate.Busy` at once.
    public func admit<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        let (_, admitted) = inProgress.add(1, ordering: .acquiringAndReleasing)
        guard admitted <= limit else {
            inProgress.subtract(1, ordering: .acquiringAndReleasing)
            throw Busy()
        }
        defer { inProgress.subtract(1, ordering: .acquiringAndReleasing) }
        return try await body()
    }

    public struct Busy: Error, Sendable {}
}
