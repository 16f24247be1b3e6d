public import Logging
public import ServiceLifecycle
import Synchronization

/// Live readiness for waiting patients, one poller per replica (issue 16).
///
/// Every `interval` the hub runs ONE query (`VideoVisitService.changes(since:)`) for all its waiters together, reading
/// the visits whose change number is above the last one it saw, and fans each change out to the waiters of that
/// encounter in this process. The number of queries does not grow with the number of waiters; with no waiters it
/// queries nothing. Change numbers are taken under a row lock until commit (migration 0006), so the last seen number
/// is a complete cursor: after a MariaDB restart the poller simply retries with the same cursor and loses nothing.
/// On graceful shutdown every stream ends.
public final class VideoEventHub: Service, Sendable {
    public typealias Stream = AsyncStream<VideoVisitChange>

    let service: VideoVisitService
    let interval: Duration
    let overdueInterval: Duration
    let logger: Logger

    struct State {
        var nextID: UInt64 = 0
        var waiters: [Int: [UInt64: Stream.Continuation]] = [:]
        var count = 0
        var cursor: Int64?
        var finished = false
    }
    private let state = Mutex(State())
    private let queryCount = Atomic<Int>(0)

    public init(service: VideoVisitService, interval: Duration = .milliseconds(250), overdueInterval: Duration = .seconds(30), logger: Logger) {
        self.service = service
        self.interval = interval
        self.overdueInterval = overdueInterval
        self.logger = logger
    }

    /// Database queries the poller has run (for tests and the benchmark).
    public var pollQueries: Int { queryCount.load(ordering: .relaxed) }

    /// Open event streams in this process.
    public var waiterCount: Int { state.withLock { $0.count } }

    /// A stream of the changes of `encounter`, from now on. It ends when the consumer stops iterating, `cancel` is
    /// called, or the hub shuts down.
    public func subscribe(encounter: Int) -> (stream: Stream, cancel: @Sendable () -> Void) {
        let (stream, continuation) = Stream.makeStream(bufferingPolicy: .bufferingNewest(16))
        let id: UInt64? = state.withLock { state in
            guard !state.finished else { return nil }
            state.nextID += 1
            state.waiters[encounter, default: [:]][state.nextID] = continuation
            state.count += 1
            return state.nextID
        }
        guard let id else {
            continuation.finish()
            return (stream, {})
        }
        continuation.onTermination = { [weak self] _ in self?.remove(encounter: encounter, id: id) }
        return (stream, { continuation.finish() })
    }

    private func remove(encounter: Int, id: UInt64) {
        state.withLock { state in
            guard state.waiters[encounter]?.removeValue(forKey: id) != nil else { return }
            state.count -= 1
            if state.waiters[encounter]?.isEmpty == true { state.waiters[encounter] = nil }
        }
    }

    /// One poll: the changes since the cursor, fanned out. Public for tests; `run()` calls it every interval.
    public func pollOnce() async throws {
        let cursor = state.withLock { $0.cursor }
        guard let cursor else {
            queryCount.add(1, ordering: .relaxed)
            let latest = try await service.latestVersion(logger: logger)
            state.withLock { $0.cursor = $0.cursor ?? latest }
            return
        }
        guard waiterCount > 0 else { return }
        queryCount.add(1, ordering: .relaxed)
        let changes = try await service.changes(since: cursor, logger: logger)
        guard let last = changes.last else { return }
        state.withLock { state in
            for change in changes {
                for continuation in state.waiters[change.encounter]?.values ?? [:].values { continuation.yield(change) }
            }
            state.cursor = max(state.cursor ?? 0, last.version)
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            var sinceOverdue = ContinuousClock.now
            while !Task.isCancelled {
                do {
                    try await self.pollOnce()
                    if ContinuousClock.now - sinceOverdue >= self.overdueInterval {
                        sinceOverdue = ContinuousClock.now
                        try await self.service.endOverdue(logger: self.logger)
                    }
                    if failing {
                        self.logger.info("video events: database reachable again")
                        failing = false
                    }
                } catch is CancellationError {
                    break
                } catch {
                    // Logged once per outage; the cursor is kept, so nothing is lost.
                    if !failing { self.logger.warning("video events: poll failed; retrying", metadata: ["error": "\(LogSafe.text(error))"]) }
                    failing = true
                }
                try? await Task.sleep(for: self.interval)
            }
        }
        finishAll()
    }

    /// Ends every stream (shutdown).
    public func finishAll() {
        let continuations = state.withLock { state -> [Stream.Continuation] in
            state.finished = true
            let all = state.waiters.values.flatMap(\.values)
            state.waiters = [:]
            state.count = 0
            return all
        }
        for continuation in continuations { continuation.finish() }
    }
}
