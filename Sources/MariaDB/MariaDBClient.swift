public import Logging
public import NIOPosix
public import ServiceLifecycle
import Synchronization

/// A pool of MariaDB connections behind an async API, run as a `Service`.
///
/// Every blocking C call runs on the client's own `NIOThreadPool` (one thread per connection), never on an event
/// loop. Add the client to a service group (or run `run()` in a task-group child): `run()` times out waiters,
/// closes idle connections and, on graceful shutdown, drains the pool.
///
/// ```swift
/// let rows = try await client.query("SELECT fname FROM patient_data WHERE pid = \(pid)", logger: logger).rows
/// try await client.withTransaction(logger: logger) { connection in ... }
/// ```
public final class MariaDBClient: Sendable, Service {
    public let configuration: MariaDBConfiguration
    /// The pool of blocking threads that run the C client.
    public let threadPool: NIOThreadPool
    let pool: MariaDBConnectionPool<MariaDBConnectionHandle>
    private let backgroundLogger: Logger
    private let started = Atomic(false)

    /// Creates the client and starts its thread pool. No connection is opened until the first lease.
    public init(configuration: MariaDBConfiguration, backgroundLogger: Logger) {
        self.configuration = configuration
        self.backgroundLogger = backgroundLogger
        let threads = max(1, configuration.options.maximumConnections)
        let threadPool = NIOThreadPool(numberOfThreads: threads)
        threadPool.start()
        self.threadPool = threadPool
        let options = configuration.options
        let logger = backgroundLogger
        self.pool = MariaDBConnectionPool(
            configuration: .init(
                maximumConnections: max(1, options.maximumConnections),
                leaseTimeout: .milliseconds(Int64(options.leaseTimeout * 1000)),
                idleTimeout: .milliseconds(Int64(options.connectionIdleTimeout * 1000)),
                pingAfterIdle: .milliseconds(Int64(options.pingAfterIdle * 1000))
            ),
            open: {
                do {
                    let handle = try await threadPool.runIfActive { try MariaDBConnectionHandle.connect(configuration) }
                    logger.debug("MariaDB connection opened", metadata: [MariaDBLoggingKey.connectionID.rawValue: "\(handle.threadID)"])
                    return handle
                } catch let error as MariaDBError {
                    logger.warning(
                        "MariaDB connection failed",
                        metadata: [
                            MariaDBLoggingKey.error.rawValue: "\(error)",
                            MariaDBLoggingKey.errorNumber.rawValue: "\(error.serverErrorNumber ?? 0)",
                        ]
                    )
                    throw error
                } catch {
                    throw Self.mapThreadPoolError(error)
                }
            },
            check: { handle in
                let alive = (try? await threadPool.runIfActive { handle.ping() }) ?? false
                if !alive {
                    logger.notice("MariaDB connection failed its ping; replacing it", metadata: [MariaDBLoggingKey.connectionID.rawValue: "\(handle.threadID)"])
                }
                return alive
            },
            close: { handle in
                logger.debug("MariaDB connection closed", metadata: [MariaDBLoggingKey.connectionID.rawValue: "\(handle.threadID)"])
                do {
                    try await threadPool.runIfActive { handle.close() }
                } catch {
                    handle.close()
                }
            }
        )
    }

    /// Runs housekeeping until graceful shutdown or cancellation, then drains the pool and stops the thread pool.
    /// May be called once.
    public func run() async throws {
        let (exchanged, _) = started.compareExchange(expected: false, desired: true, ordering: .relaxed)
        precondition(exchanged, "MariaDBClient.run() may be called only once")
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: .milliseconds(100))
                await self.pool.sweep()
            }
        }
        await pool.shutdown()
        // Leased connections are closed as they come back (each C call is bounded by the read/write timeouts).
        await pool.waitUntilDrained()
        try? await threadPool.shutdownGracefully()
    }

    /// Creates a client, runs it (its `run()` in a task-group child) for the duration of `body`, and shuts it down on
    /// every path: for command-line tools and tests that are not a service group.
    public static func withClient<Result: Sendable>(
        configuration: MariaDBConfiguration, logger: Logger, _ body: (MariaDBClient) async throws -> Result
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

    /// Leases a connection for the closure. The connection must not escape it.
    public func withConnection<Result: Sendable>(
        logger: Logger, _ body: (MariaDBConnection) async throws -> Result
    ) async throws -> Result {
        let handle: MariaDBConnectionHandle
        do {
            handle = try await pool.lease()
        } catch let error as MariaDBError {
            if error.code == .leaseTimeout {
                logger.warning("MariaDB pool exhausted", metadata: [MariaDBLoggingKey.leased.rawValue: "\(pool.statistics.leased)"])
            }
            throw error
        }
        let connection = MariaDBConnection(handle: handle, threadPool: threadPool, logger: logger)
        do {
            let result = try await body(connection)
            await pool.release(handle)
            return result
        } catch {
            if handle.isBroken {
                logger.notice("MariaDB connection lost; it will be replaced", metadata: [MariaDBLoggingKey.connectionID.rawValue: "\(handle.threadID)"])
            }
            await pool.release(handle)
            throw error
        }
    }

    /// Runs the closure in a transaction: commits when it returns, rolls back when it throws. A connection whose
    /// rollback fails is closed (the server then rolls back), never reused.
    /// With `consistentSnapshot`, the transaction is REPEATABLE READ and its read view is taken when it starts: its
    /// reads never see what other transactions wrote after that (InnoDB's `START TRANSACTION WITH CONSISTENT
    /// SNAPSHOT`), whatever the server's default isolation level.
    public func withTransaction<Result: Sendable>(
        logger: Logger, consistentSnapshot: Bool = false, _ body: (MariaDBConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection(logger: logger) { connection in
            try await connection.withTransaction(consistentSnapshot: consistentSnapshot, body)
        }
    }

    /// Runs one statement on a pooled connection.
    @discardableResult
    public func query(_ query: MariaDBQuery, logger: Logger) async throws -> MariaDBResult {
        try await withConnection(logger: logger) { try await $0.query(query) }
    }

    /// Pool counts (open, idle, leased, waiting).
    public var poolStatistics: (total: Int, idle: Int, leased: Int, waiters: Int) {
        let statistics = pool.statistics
        return (statistics.total, statistics.idle, statistics.leased, statistics.waiters)
    }

    static func mapThreadPoolError(_ error: any Error) -> any Error {
        if error is CancellationError { return error }
        if error is MariaDBError { return error }
        return MariaDBError(code: .threadPoolInactive, serverMessage: "\(type(of: error))")
    }
}

/// A leased connection. Valid only inside the `withConnection`/`withTransaction` closure that received it.
public struct MariaDBConnection: Sendable {
    let handle: MariaDBConnectionHandle
    let threadPool: NIOThreadPool
    /// The logger of the operation that leased the connection.
    public let logger: Logger

    /// Runs one prepared statement and materialises its rows.
    @discardableResult
    public func query(_ query: MariaDBQuery) async throws -> MariaDBResult {
        logger.trace("MariaDB query", metadata: [MariaDBLoggingKey.connectionID.rawValue: "\(handle.threadID)"])
        let handle = self.handle
        do {
            return try await threadPool.runIfActive { try handle.execute(query) }
        } catch {
            throw MariaDBClient.mapThreadPoolError(error)
        }
    }

    /// Runs several statements in one hop to the thread pool (fewer context switches on hot paths). Stops at the
    /// first error.
    @discardableResult
    public func queries(_ queries: [MariaDBQuery]) async throws -> [MariaDBResult] {
        let handle = self.handle
        do {
            return try await threadPool.runIfActive { try queries.map { try handle.execute($0) } }
        } catch {
            throw MariaDBClient.mapThreadPoolError(error)
        }
    }

    /// Runs the closure in a transaction on this connection (which must not be in one): commits when it returns,
    /// rolls back when it throws. For work that needs a statement in autocommit mode before its transaction.
    public func withTransaction<Result: Sendable>(
        consistentSnapshot: Bool = false, _ body: (MariaDBConnection) async throws -> Result
    ) async throws -> Result {
        try await begin(consistentSnapshot: consistentSnapshot)
        let result: Result
        do {
            result = try await body(self)
        } catch {
            await rollbackOrDiscard()
            throw error
        }
        do {
            try await commit()
        } catch {
            await rollbackOrDiscard()
            throw error
        }
        return result
    }

    /// Runs `body` holding MariaDB's named lock `name` (`GET_LOCK`, waiting at most `timeout` seconds), and releases it
    /// afterwards whatever happens. Named locks belong to the connection, so every replica's callers take turns.
    /// When the lock is not granted in time, throws what `busy()` makes and does not run `body`.
    public func withNamedLock<Result: Sendable>(
        _ name: String, timeout: Int, busy: () -> any Error, _ body: () async throws -> Result
    ) async throws -> Result {
        let granted = try await query("SELECT GET_LOCK(\(name), \(timeout)) AS granted").first?.decode("granted", as: Int?.self)
        guard granted == 1 else { throw busy() }
        do {
            let result = try await body()
            try await query("SELECT RELEASE_LOCK(\(name))")
            return result
        } catch {
            _ = try? await query("SELECT RELEASE_LOCK(\(name))")
            throw error
        }
    }

    func begin(consistentSnapshot: Bool = false) async throws {
        let handle = self.handle
        do {
            try await threadPool.runIfActive {
                if consistentSnapshot {
                    try handle.control("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    try handle.control("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                } else {
                    try handle.control("START TRANSACTION")
                }
            }
        } catch {
            throw MariaDBClient.mapThreadPoolError(error)
        }
    }

    func commit() async throws {
        let handle = self.handle
        do {
            try await threadPool.runIfActive { try handle.control("COMMIT") }
        } catch {
            // Unknown outcome: never reuse this connection.
            handle.markBroken()
            throw MariaDBClient.mapThreadPoolError(error)
        }
    }

    func rollbackOrDiscard() async {
        let handle = self.handle
        do {
            try await threadPool.runIfActive { try handle.control("ROLLBACK") }
        } catch {
            handle.markBroken()
        }
    }
}
