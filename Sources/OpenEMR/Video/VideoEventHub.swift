public import Logging
import MariaDB
public import ServiceLifecycle
import Synchronization

/// What an event stream receives from the hub.
public enum VideoStreamEvent: Sendable, Equatable {
    /// The visit changed.
    case change(VideoVisitChange)
    /// The stream's bridge token no longer opens anything (revoked, expired, refused by OpenEMR): the stream ends.
    case closed(TokenStore.Ended)
}

/// Live readiness for waiting patients, one poller per replica (issue 16).
///
/// Every `interval` the hub runs ONE query (`VideoVisitService.changes(since:)`) for all its waiters together, reading
/// the visits whose change number is above the last one it saw, and fans each change out to the waiters of that
/// encounter in this process. In the same round it runs ONE more statement for the bridge tokens of its open streams
/// (`TokenStore.changes(revokedSince:new:)`), whose cost does not grow with the number of streams either: the tokens
/// revoked since the last round (on any replica: tokens live in MariaDB; an index range, usually empty), and the
/// expiry of tokens it does not know yet (a stream normally brings its token's expiry from its sign-in check). A
/// stream whose token was revoked gets `.closed` and ends within one interval; a token's expiry never changes, so
/// the hub ends its streams by the clock when it comes (a task of its own, every interval), also while the database
/// is unreachable or a database round hangs. Every `accountCheck` (5 s) that round's statement is instead the whole rule every
/// request applies, for all the streams' tokens (`TokenStore.states(of:)`): a token OpenEMR now refuses (user
/// deactivated, password changed, …) ends its streams within that time, and anything a round missed is caught.
///
/// The number of queries does not grow with the number of waiters; with no waiters it queries nothing. Change numbers
/// are taken under a row lock until commit (migration 0006), so the last seen number is a complete cursor: after a
/// MariaDB restart the poller simply retries with the same cursor and loses nothing (an unreachable database never
/// ends a stream). On graceful shutdown every stream ends.
public final class VideoEventHub: Service, Sendable {
    public typealias Stream = AsyncStream<VideoStreamEvent>

    let service: VideoVisitService
    let tokens: TokenStore?
    let interval: Duration
    let overdueInterval: Duration
    /// How often the token check also applies OpenEMR's account rules (a round's one statement, not an extra one).
    let accountCheck: Duration
    let logger: Logger

    struct Waiter {
        var continuation: Stream.Continuation
        /// Nil: not tied to a token.
        var token: TokenStore.Key?
    }

    struct WatchedToken {
        /// Open streams opened with this token.
        var streams = 0
        /// When it expires (on this process's clock); nil until the first check that saw it.
        var deadline: ContinuousClock.Instant?
    }

    struct State {
        var nextID: UInt64 = 0
        var waiters: [Int: [UInt64: Waiter]] = [:]
        var count = 0
        var tokens: [TokenStore.Key: WatchedToken] = [:]
        var cursor: Int64?
        var finished = false
        var lastAccountCheck: ContinuousClock.Instant?
        /// The database's clock at the last token round (the next one reads the revocations since then).
        var tokenClock: MariaDBDateTime?

        /// Forgets one waiter; its continuation when it was still here.
        mutating func detach(encounter: Int, id: UInt64) -> Stream.Continuation? {
            guard let waiter = waiters[encounter]?.removeValue(forKey: id) else { return nil }
            count -= 1
            if waiters[encounter]?.isEmpty == true { waiters[encounter] = nil }
            if let token = waiter.token {
                tokens[token]?.streams -= 1
                if tokens[token]?.streams ?? 0 <= 0 { tokens[token] = nil }
            }
            return waiter.continuation
        }
    }
    private let state = Mutex(State())
    private let queryCount = Atomic<Int>(0)
    private let tokenQueryCount = Atomic<Int>(0)

    /// `tokens`: where the streams' bridge tokens are checked every interval (nil: never, for tests of the fan-out);
    /// `accountCheck`: how often that check is the whole rule for every token.
    public init(
        service: VideoVisitService, tokens: TokenStore?, interval: Duration = .milliseconds(250), overdueInterval: Duration = .seconds(30),
        accountCheck: Duration = .seconds(5), logger: Logger
    ) {
        self.service = service
        self.tokens = tokens
        self.interval = interval
        self.overdueInterval = overdueInterval
        self.accountCheck = accountCheck
        self.logger = logger
    }

    /// Change queries the poller has run (for tests and the benchmark).
    public var pollQueries: Int { queryCount.load(ordering: .relaxed) }

    /// Token-check statements the poller has run (at most one per interval, for all streams together).
    public var tokenQueries: Int { tokenQueryCount.load(ordering: .relaxed) }

    /// Open event streams in this process.
    public var waiterCount: Int { state.withLock { $0.count } }

    /// A stream of the changes of `encounter`, from now on, for a caller signed in with the bridge token whose hash
    /// is `tokenHash` (empty: not tied to a token) and which expires at `tokenExpires` (nil: the next round reads
    /// it). It ends when the consumer stops iterating, `cancel` is called, the token ends (after a `.closed` event),
    /// or the hub shuts down.
    public func subscribe(
        encounter: Int, tokenHash: [UInt8], tokenExpires: ContinuousClock.Instant? = nil
    ) -> (stream: Stream, cancel: @Sendable () -> Void) {
        let (stream, continuation) = Stream.makeStream(bufferingPolicy: .bufferingNewest(16))
        let token = tokenHash.isEmpty ? nil : TokenStore.Key(tokenHash)
        let id: UInt64? = state.withLock { state in
            guard !state.finished else { return nil }
            state.nextID += 1
            state.waiters[encounter, default: [:]][state.nextID] = Waiter(continuation: continuation, token: token)
            state.count += 1
            if let token {
                state.tokens[token, default: WatchedToken()].streams += 1
                if let tokenExpires, state.tokens[token]?.deadline == nil { state.tokens[token]?.deadline = tokenExpires }
            }
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
        _ = state.withLock { $0.detach(encounter: encounter, id: id) }
    }

    /// Ends every stream of the tokens in `ended` with a `.closed` event.
    private func close(_ ended: [TokenStore.Key: TokenStore.Ended]) {
        guard !ended.isEmpty else { return }
        let closing = state.withLock { state -> [(Stream.Continuation, TokenStore.Ended)] in
            var closing: [(Stream.Continuation, TokenStore.Ended)] = []
            for (encounter, waiters) in state.waiters {
                for (id, waiter) in waiters {
                    guard let token = waiter.token, let reason = ended[token], let continuation = state.detach(encounter: encounter, id: id) else { continue }
                    closing.append((continuation, reason))
                }
            }
            return closing
        }
        for (continuation, reason) in closing {
            continuation.yield(.closed(reason))
            continuation.finish()
        }
    }

    /// Ends the streams whose token expired by the clock (no database needed).
    public func closeExpired(now: ContinuousClock.Instant = .now) {
        let expired = state.withLock { state in
            state.tokens.filter { $0.value.deadline.map { $0 <= now } ?? false }.mapValues { _ in TokenStore.Ended.expired }
        }
        close(expired)
    }

    /// One statement for the tokens of all open streams: the revocations since the last round and the expiry of new
    /// tokens, or, every `accountCheck`, the whole rule for every token. Ends the streams of the tokens that ended.
    public func checkTokens() async throws {
        guard let tokens else { return }
        let start = ContinuousClock.now
        let (all, new, since, accounts) = state.withLock { state in
            (
                Array(state.tokens.keys), state.tokens.filter { $0.value.deadline == nil }.map(\.key), state.tokenClock,
                state.lastAccountCheck.map { start - $0 >= accountCheck } ?? true
            )
        }
        guard !all.isEmpty else { return }
        tokenQueryCount.add(1, ordering: .relaxed)
        var ended: [TokenStore.Key: TokenStore.Ended] = [:]
        var states: [TokenStore.Key: TokenStore.State]
        if accounts {
            states = try await tokens.states(of: all, logger: logger)
            state.withLock { $0.lastAccountCheck = start }
        } else {
            let changes = try await tokens.changes(revokedSince: since, new: new, logger: logger)
            states = changes.states
            for key in changes.revoked { ended[key] = .revoked }
            state.withLock { $0.tokenClock = changes.now }
        }
        state.withLock { state in
            for (key, tokenState) in states {
                switch tokenState {
                case .live(let remaining): state.tokens[key]?.deadline = start + remaining
                case .ended(let reason): ended[key] = reason
                }
            }
        }
        // Revocations of tokens no stream here uses are the usual case: skip the walk over the waiters for them.
        close(state.withLock { state in ended.filter { state.tokens[$0.key] != nil } })
    }

    /// One round: streams of expired tokens end, the tokens are checked, then the changes since the cursor are
    /// fanned out. Public for tests; `run()` calls it every interval.
    public func pollOnce() async throws {
        let cursor = state.withLock { $0.cursor }
        guard let cursor else {
            queryCount.add(1, ordering: .relaxed)
            let latest = try await service.latestVersion(logger: logger)
            state.withLock { $0.cursor = $0.cursor ?? latest }
            return
        }
        guard waiterCount > 0 else { return }
        closeExpired()
        try await checkTokens()
        queryCount.add(1, ordering: .relaxed)
        let changes = try await service.changes(since: cursor, logger: logger)
        guard let last = changes.last else { return }
        state.withLock { state in
            for change in changes {
                for waiter in state.waiters[change.encounter]?.values ?? [:].values { waiter.continuation.yield(.change(change)) }
            }
            state.cursor = max(state.cursor ?? 0, last.version)
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                // The clock: the streams of an expiring token end on time even while a database round hangs (a query
                // to a server that went away can wait out its read timeout, and libmariadb retries that read).
                group.addTask {
                    while !Task.isCancelled {
                        self.closeExpired()
                        try? await Task.sleep(for: self.interval)
                    }
                }
                group.addTask { await self.pollLoop() }
            }
        }
        finishAll()
    }

    private func pollLoop() async {
        var failing = false
        var sinceOverdue = ContinuousClock.now
        while !Task.isCancelled {
            do {
                try await pollOnce()
                if ContinuousClock.now - sinceOverdue >= overdueInterval {
                    sinceOverdue = ContinuousClock.now
                    try await service.endOverdue(logger: logger)
                }
                if failing {
                    logger.info("video events: database reachable again")
                    failing = false
                }
            } catch is CancellationError {
                break
            } catch {
                // Logged once per outage; the cursor is kept, so nothing is lost, and no stream is ended for it.
                if !failing { logger.warning("video events: poll failed; retrying", metadata: ["error": "\(LogSafe.text(error))"]) }
                failing = true
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Ends every stream (shutdown).
    public func finishAll() {
        let continuations = state.withLock { state -> [Stream.Continuation] in
            state.finished = true
            let all = state.waiters.values.flatMap(\.values).map(\.continuation)
            state.waiters = [:]
            state.tokens = [:]
            state.count = 0
            return all
        }
        for continuation in continuations { continuation.finish() }
    }
}
