@testable import MariaDB
import Synchronization
import Testing

/// A pooled connection without a server.
final class MockConnection: MariaDBPoolable {
    let id: Int
    private let broken = Atomic(false)

    init(id: Int) { self.id = id }

    var isBroken: Bool { broken.load(ordering: .relaxed) }
    func breakIt() { broken.store(true, ordering: .relaxed) }
}

struct OpenFailure: Error, Equatable {}

/// Counting open/check/close closures.
final class MockBackend: Sendable {
    struct State {
        var nextID = 0
        var opened: [Int] = []
        var closed: [Int] = []
        var checked: [Int] = []
        var failingOpens = 0
        var checkResult = true
    }

    let state = Mutex(State())

    var opened: [Int] { state.withLock { $0.opened } }
    var closed: [Int] { state.withLock { $0.closed } }
    var checked: [Int] { state.withLock { $0.checked } }

    func failNextOpens(_ count: Int) { state.withLock { $0.failingOpens = count } }
    func setCheckResult(_ alive: Bool) { state.withLock { $0.checkResult = alive } }

    func makePool(
        maximum: Int, leaseTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(3600), pingAfterIdle: Duration = .seconds(3600)
    ) -> MariaDBConnectionPool<MockConnection> {
        MariaDBConnectionPool(
            configuration: .init(maximumConnections: maximum, leaseTimeout: leaseTimeout, idleTimeout: idleTimeout, pingAfterIdle: pingAfterIdle),
            open: {
                await Task.yield()
                return try self.state.withLock { state in
                    if state.failingOpens > 0 {
                        state.failingOpens -= 1
                        throw OpenFailure()
                    }
                    state.nextID += 1
                    state.opened.append(state.nextID)
                    return MockConnection(id: state.nextID)
                }
            },
            check: { connection in
                await Task.yield()
                return self.state.withLock { state in
                    state.checked.append(connection.id)
                    return state.checkResult
                }
            },
            close: { connection in
                await Task.yield()
                self.state.withLock { $0.closed.append(connection.id) }
            }
        )
    }
}

typealias PoolStatistics = MariaDBConnectionPool<MockConnection>.Statistics

private func stats(total: Int, idle: Int, leased: Int, waiters: Int) -> PoolStatistics {
    PoolStatistics(total: total, idle: idle, leased: leased, waiters: waiters)
}

@Suite("MariaDBConnectionPool (mock connections)", .timeLimit(.minutes(1)))
struct MariaDBConnectionPoolTests {
    @Test func lendsUpToMaximumThenWaiterGetsReleasedConnection() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 3)
        let a = try await pool.lease()
        let b = try await pool.lease()
        let c = try await pool.lease()
        #expect(Set([a.id, b.id, c.id]).count == 3)
        #expect(backend.opened.count == 3)
        #expect(pool.statistics == stats(total: 3, idle: 0, leased: 3, waiters: 0))

        let fourth = Task { try await pool.lease() }
        await eventually("fourth lease waiting") { pool.statistics.waiters == 1 }
        #expect(pool.statistics == stats(total: 3, idle: 0, leased: 3, waiters: 1))

        await pool.release(b)
        let handed = try await fourth.value
        #expect(handed === b)
        #expect(backend.opened.count == 3, "no connection opened beyond the maximum")
        #expect(pool.statistics == stats(total: 3, idle: 0, leased: 3, waiters: 0))

        for connection in [a, c, handed] { await pool.release(connection) }
        #expect(pool.statistics == stats(total: 3, idle: 3, leased: 0, waiters: 0))
        #expect(backend.closed.isEmpty)
    }

    @Test func idleConnectionIsReusedWithoutOpening() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 2)
        let a = try await pool.lease()
        await pool.release(a)
        let again = try await pool.lease()
        #expect(again === a)
        #expect(backend.opened == [1])
        #expect(backend.checked.isEmpty, "a connection idle less than pingAfterIdle is not pinged")
        await pool.release(again)
    }

    @Test func waitersAreServedInFIFOOrder() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 1)
        let held = try await pool.lease()
        let order = Recorder<Int>()
        var tasks: [Task<Void, any Error>] = []
        for waiter in 1...4 {
            tasks.append(Task {
                let connection = try await pool.lease()
                order.append(waiter)
                await pool.release(connection)
            })
            // Enqueue strictly one after the other.
            await eventually("waiter \(waiter) enqueued") { pool.statistics.waiters == waiter }
        }
        await pool.release(held)
        for task in tasks { try await task.value }
        #expect(order.values == [1, 2, 3, 4])
        #expect(backend.opened == [1])
        #expect(pool.statistics == stats(total: 1, idle: 1, leased: 0, waiters: 0))
    }

    @Test func leaseTimesOutAfterSweepPastDeadline() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 1, leaseTimeout: .milliseconds(50))
        let held = try await pool.lease()
        let clock = ContinuousClock()
        let started = clock.now
        let waiter = Task { try await pool.lease() }
        await eventually("waiter enqueued") { pool.statistics.waiters == 1 }
        let sweeper = Task {
            while !Task.isCancelled {
                await pool.sweep()
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        defer { sweeper.cancel() }
        let error = try await #require(throws: MariaDBError.self) { try await waiter.value }
        #expect(error.code == .leaseTimeout)
        #expect(error.isUnavailable)
        #expect(clock.now - started >= .milliseconds(50), "not failed before its deadline")
        #expect(pool.statistics == stats(total: 1, idle: 0, leased: 1, waiters: 0))
        await pool.release(held)
        #expect(pool.statistics == stats(total: 1, idle: 1, leased: 0, waiters: 0))
    }

    @Test func sweepBeforeDeadlineKeepsWaiter() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 1, leaseTimeout: .seconds(60))
        let held = try await pool.lease()
        let waiter = Task { try await pool.lease() }
        await eventually("waiter enqueued") { pool.statistics.waiters == 1 }
        await pool.sweep()
        await pool.sweep()
        #expect(pool.statistics.waiters == 1)
        await pool.release(held)
        #expect(try await waiter.value === held)
        await pool.release(held)
    }

    @Test func waitingTaskCancellationThrowsAndLeavesCountsRight() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 1)
        let held = try await pool.lease()
        let waiter = Task { try await pool.lease() }
        await eventually("waiter enqueued") { pool.statistics.waiters == 1 }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(pool.statistics == stats(total: 1, idle: 0, leased: 1, waiters: 0))

        // The released connection goes idle (nobody is waiting any more) and is lent again.
        await pool.release(held)
        #expect(pool.statistics == stats(total: 1, idle: 1, leased: 0, waiters: 0))
        let next = try await pool.lease()
        #expect(next === held)
        await pool.release(next)
        #expect(backend.opened == [1])
    }

    @Test func alreadyCancelledTaskDoesNotWait() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 1)
        let held = try await pool.lease()
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await pool.lease()
        }
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(pool.statistics == stats(total: 1, idle: 0, leased: 1, waiters: 0))
        await pool.release(held)
    }

    @Test func brokenConnectionIsClosedAndSlotGoesToWaiter() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 1)
        let held = try await pool.lease()
        let waiter = Task { try await pool.lease() }
        await eventually("waiter enqueued") { pool.statistics.waiters == 1 }

        held.breakIt()
        await pool.release(held)
        let fresh = try await waiter.value
        #expect(fresh !== held)
        #expect(backend.closed == [held.id])
        #expect(backend.opened == [1, 2])
        #expect(pool.statistics == stats(total: 1, idle: 0, leased: 1, waiters: 0))
        await pool.release(fresh)
        #expect(pool.statistics == stats(total: 1, idle: 1, leased: 0, waiters: 0))
    }

    @Test func brokenConnectionWithoutWaiterShrinksPool() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 2)
        let a = try await pool.lease()
        a.breakIt()
        await pool.release(a)
        #expect(backend.closed == [1])
        #expect(pool.statistics == stats(total: 0, idle: 0, leased: 0, waiters: 0))
    }

    @Test func openFailureFreesTheSlot() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 1)
        backend.failNextOpens(1)
        await #expect(throws: OpenFailure.self) { try await pool.lease() }
        #expect(pool.statistics == stats(total: 0, idle: 0, leased: 0, waiters: 0))
        let connection = try await pool.lease()
        #expect(pool.statistics == stats(total: 1, idle: 0, leased: 1, waiters: 0))
        await pool.release(connection)
    }

    @Test func openFailureForAWaiterPassesTheSlotOn() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 1)
        let held = try await pool.lease()
        let first = Task { try await pool.lease() }
        await eventually("first waiter") { pool.statistics.waiters == 1 }
        let second = Task { try await pool.lease() }
        await eventually("second waiter") { pool.statistics.waiters == 2 }

        backend.failNextOpens(1)
        held.breakIt()
        await pool.release(held)
        await #expect(throws: OpenFailure.self) { try await first.value }
        let connection = try await second.value
        #expect(connection.id == 2)
        #expect(pool.statistics == stats(total: 1, idle: 0, leased: 1, waiters: 0))
        await pool.release(connection)
        #expect(pool.statistics == stats(total: 1, idle: 1, leased: 0, waiters: 0))
    }

    @Test func idleCheckFailureReplacesTheConnection() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 1, pingAfterIdle: .zero)
        let first = try await pool.lease()
        await pool.release(first)

        backend.setCheckResult(false)
        let replacement = try await pool.lease()
        #expect(replacement !== first)
        #expect(backend.checked == [first.id])
        #expect(backend.closed == [first.id])
        #expect(backend.opened == [1, 2])
        #expect(pool.statistics == stats(total: 1, idle: 0, leased: 1, waiters: 0))
        await pool.release(replacement)

        backend.setCheckResult(true)
        let same = try await pool.lease()
        #expect(same === replacement)
        #expect(backend.checked == [1, 2])
        await pool.release(same)
    }

    @Test func idleCheckFailureThenOpenFailureFreesSlot() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 1, pingAfterIdle: .zero)
        await pool.release(try await pool.lease())
        backend.setCheckResult(false)
        backend.failNextOpens(1)
        await #expect(throws: OpenFailure.self) { try await pool.lease() }
        #expect(pool.statistics == stats(total: 0, idle: 0, leased: 0, waiters: 0))
    }

    @Test func sweepClosesIdleConnectionsPastIdleTimeout() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 2, idleTimeout: .milliseconds(20))
        let a = try await pool.lease()
        let b = try await pool.lease()
        await pool.release(a)
        try await Task.sleep(for: .milliseconds(40))
        await pool.sweep()
        #expect(backend.closed == [a.id])
        #expect(pool.statistics == stats(total: 1, idle: 0, leased: 1, waiters: 0))
        await pool.release(b)
    }

    @Test func shutdownFailsWaitersAndDrainsAfterLeasedReturn() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 3)
        let a = try await pool.lease()
        let b = try await pool.lease()
        let c = try await pool.lease()
        await pool.release(c)  // idle
        let w1 = Task { try await pool.lease() }
        let w2 = Task { try await pool.lease() }
        // c is idle, so w1 takes it; w2 waits.
        #expect(try await w1.value === c)
        await eventually("w2 waiting") { pool.statistics.waiters == 1 }
        await pool.release(c)
        _ = try await w2.value
        let w3 = Task { try await pool.lease() }
        await eventually("w3 waiting") { pool.statistics.waiters == 1 }

        await pool.shutdown()
        let error = try await #require(throws: MariaDBError.self) { try await w3.value }
        #expect(error.code == .poolClosed)
        #expect(!pool.drained)
        let late = try await #require(throws: MariaDBError.self) { try await pool.lease() }
        #expect(late.code == .poolClosed)

        await pool.release(a)
        #expect(backend.closed == [a.id])
        #expect(!pool.drained)
        b.breakIt()
        await pool.release(b)
        #expect(!pool.drained)
        await pool.release(c)
        #expect(pool.drained)
        #expect(Set(backend.closed) == Set([a.id, b.id, c.id]))
        #expect(pool.statistics == stats(total: 0, idle: 0, leased: 0, waiters: 0))
    }

    @Test func shutdownClosesIdleConnections() async throws {
        let backend = MockBackend()
        let pool = backend.makePool(maximum: 2)
        let a = try await pool.lease()
        let b = try await pool.lease()
        await pool.release(a)
        await pool.release(b)
        #expect(!pool.drained)
        await pool.shutdown()
        #expect(pool.drained)
        #expect(Set(backend.closed) == [1, 2])
    }

    @Test func statisticsStayConsistentUnderConcurrency() async throws {
        let backend = MockBackend()
        let maximum = 5
        let pool = backend.makePool(maximum: maximum)
        let inUse = Counter()
        let peak = Counter()
        let violations = Counter()
        let broken = Counter()

        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let connection = try await pool.lease()
                    let now = inUse.increment()
                    peak.raise(to: now)
                    let statistics = pool.statistics
                    if statistics.total > maximum || statistics.leased > statistics.total
                        || statistics.leased + statistics.idle > statistics.total || statistics.idle < 0
                    {
                        violations.increment()
                    }
                    if index % 3 == 0 { await Task.yield() }
                    if index % 17 == 0 {
                        connection.breakIt()
                        broken.increment()
                    }
                    inUse.decrement()
                    await pool.release(connection)
                }
            }
            try await group.waitForAll()
        }

        #expect(peak.current <= maximum)
        #expect(violations.current == 0)
        let statistics = pool.statistics
        #expect(statistics.leased == 0)
        #expect(statistics.waiters == 0)
        #expect(statistics.total == statistics.idle)
        #expect(statistics.total <= maximum)
        #expect(backend.closed.count == broken.current)
        #expect(backend.opened.count - backend.closed.count == statistics.total)
        await pool.shutdown()
        #expect(pool.drained)
    }
}
