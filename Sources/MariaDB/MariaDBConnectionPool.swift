import Synchronization

/// Something the pool can lend: it only needs to say whether it is still usable.
protocol MariaDBPoolable: AnyObject, Sendable {
    /// A broken connection is closed on release instead of being reused.
    var isBroken: Bool { get }
}

extension MariaDBConnectionHandle: MariaDBPoolable {}

/// A bounded pool of connections with FIFO waiters, a lease timeout and idle liveness checks.
///
/// The pool is pure logic around three closures (open, check, close), so it is tested with mock connections and
/// no server. State lives behind one `Mutex`; no I/O happens while the lock is held.
final class MariaDBConnectionPool<Connection: MariaDBPoolable>: Sendable {
    struct Configuration: Sendable {
        var maximumConnections: Int
        var leaseTimeout: Duration
        var idleTimeout: Duration
        var pingAfterIdle: Duration
    }

    /// What a waiter is handed: a connection, or the right to open one in a freed slot.
    private enum Grant: Sendable {
        case connection(Connection)
        case openSlot
    }

    private struct Waiter {
        var id: UInt64
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Grant, any Error>
    }

    private enum LeaseAction {
        case reuse(IdleConnection)
        case openNew
        case wait
    }

    private struct IdleConnection {
        var connection: Connection
        var since: ContinuousClock.Instant
    }

    private struct State {
        var idle: [IdleConnection] = []
        /// Open connections plus slots being opened.
        var total = 0
        var leased = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var closed = false
        /// `waitUntilDrained()` callers, resumed when closed and every connection is gone.
        var drainWaiters: [CheckedContinuation<Void, Never>] = []

        /// Takes the drain waiters once the pool is closed and empty.
        mutating func takeDrainWaitersIfDrained() -> [CheckedContinuation<Void, Never>] {
            guard closed, total == 0, !drainWaiters.isEmpty else { return [] }
            defer { drainWaiters = [] }
            return drainWaiters
        }

        mutating func removeWaiter(_ id: UInt64) -> Waiter? {
            guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return waiters.remove(at: index)
        }
    }

    /// Counts for logs, metrics and tests.
    struct Statistics: Sendable, Equatable {
        var total: Int
        var idle: Int
        var leased: Int
        var waiters: Int
    }

    let configuration: Configuration
    private let open: @Sendable () async throws -> Connection
    private let check: @Sendable (Connection) async -> Bool
    private let close: @Sendable (Connection) async -> Void
    private let state = Mutex(State())
    private let clock = ContinuousClock()

    init(
        configuration: Configuration, open: @escaping @Sendable () async throws -> Connection,
        check: @escaping @Sendable (Connection) async -> Bool, close: @escaping @Sendable (Connection) async -> Void
    ) {
        self.configuration = configuration
        self.open = open
        self.check = check
        self.close = close
    }

    var statistics: Statistics {
        state.withLock { Statistics(total: $0.total, idle: $0.idle.count, leased: $0.leased, waiters: $0.waiters.count) }
    }

    /// Lends a connection: an idle one (pinged first when it sat idle too long), a new one while under the maximum,
    /// or the next one released, waiting at most `leaseTimeout` (then `MariaDBError.leaseTimeout`).
    func lease() async throws -> Connection {
        let action: LeaseAction = try state.withLock { state in
            if state.closed { throw MariaDBError(code: .poolClosed) }
            if let idle = state.idle.popLast() {
                state.leased += 1
                return .reuse(idle)
            }
            if state.total < configuration.maximumConnections {
                state.total += 1
                state.leased += 1
                return .openNew
            }
            return .wait
        }
        switch action {
        case .reuse(let idle):
            if clock.now - idle.since < configuration.pingAfterIdle { return idle.connection }
            if await check(idle.connection) { return idle.connection }
            await close(idle.connection)
            return try await openInSlot()
        case .openNew:
            return try await openInSlot()
        case .wait:
            switch try await waitForGrant() {
            case .connection(let connection): return connection
            case .openSlot: return try await openInSlot()
            }
        }
    }

    /// Returns a leased connection. Broken connections are closed and their slot passed on.
    func release(_ connection: Connection) async {
        if connection.isBroken {
            await close(connection)
            releaseSlot()
            return
        }
        let now = clock.now
        let closeIt: Bool = state.withLock { state in
            if state.closed {
                state.leased -= 1
                return true
            }
            if !state.waiters.isEmpty {
                let waiter = state.waiters.removeFirst()
                waiter.continuation.resume(returning: .connection(connection))
                return false
            }
            state.leased -= 1
            state.idle.append(IdleConnection(connection: connection, since: now))
            return false
        }
        if closeIt {
            await close(connection)
            let waiters = state.withLock { state in
                state.total -= 1
                return state.takeDrainWaitersIfDrained()
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Fails waiters past their deadline and closes connections idle past `idleTimeout`. Called periodically by
    /// the client's `run()`.
    func sweep() async {
        let now = clock.now
        let (expired, stale): ([Waiter], [Connection]) = state.withLock { state in
            var expired: [Waiter] = []
            state.waiters.removeAll { waiter in
                guard waiter.deadline <= now else { return false }
                expired.append(waiter)
                return true
            }
            var stale: [Connection] = []
            state.idle.removeAll { idle in
                guard now - idle.since >= configuration.idleTimeout else { return false }
                stale.append(idle.connection)
                return true
            }
            state.total -= stale.count
            return (expired, stale)
        }
        for waiter in expired { waiter.continuation.resume(throwing: MariaDBError(code: .leaseTimeout)) }
        for connection in stale { await close(connection) }
    }

    /// Stops lending: fails every waiter with `poolClosed` and closes idle connections. Leased connections are
    /// closed as they come back; `drained` tells when all are gone.
    func shutdown() async {
        let (waiters, idle): ([Waiter], [IdleConnection]) = state.withLock { state in
            state.closed = true
            let waiters = state.waiters
            let idle = state.idle
            state.waiters = []
            state.idle = []
            state.total -= idle.count
            return (waiters, idle)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: MariaDBError(code: .poolClosed)) }
        for connection in idle { await close(connection.connection) }
    }

    /// True once shut down and every connection is closed.
    var drained: Bool { state.withLock { $0.closed && $0.total == 0 } }

    /// Returns once the pool is shut down and every leased connection has come back and been closed. Not
    /// cancellable on purpose: `run()` must not stop the thread pool under a connection that is still in use.
    func waitUntilDrained() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready: Bool = state.withLock { state in
                if state.closed && state.total == 0 { return true }
                state.drainWaiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    // MARK: Internals

    private func openInSlot() async throws -> Connection {
        do {
            return try await open()
        } catch {
            releaseSlot()
            throw error
        }
    }

    /// A slot became free: hand it to the first waiter, or shrink.
    private func releaseSlot() {
        let drainWaiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            if !state.closed, !state.waiters.isEmpty {
                let waiter = state.waiters.removeFirst()
                waiter.continuation.resume(returning: .openSlot)
                return []
            }
            state.total -= 1
            state.leased -= 1
            return state.takeDrainWaitersIfDrained()
        }
        for waiter in drainWaiters { waiter.resume() }
    }

    private func waitForGrant() async throws -> Grant {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let deadline = clock.now + configuration.leaseTimeout
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let immediate: Result<Grant, any Error>? = state.withLock { state in
                    if state.closed { return .failure(MariaDBError(code: .poolClosed)) }
                    if let idle = state.idle.popLast() { return .success(.connection(idle.connection)) }
                    if state.total < configuration.maximumConnections {
                        state.total += 1
                        return .success(.openSlot)
                    }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters.append(Waiter(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                // `leased` is counted when the grant is made: here for an immediate one, in release()/releaseSlot()
                // a waiter inherits the releaser's lease.
                if let immediate {
                    if case .success = immediate { state.withLock { $0.leased += 1 } }
                    continuation.resume(with: immediate)
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.removeWaiter(id) }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }
}
