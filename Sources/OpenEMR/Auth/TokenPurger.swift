public import Logging
public import ServiceLifecycle

/// Deletes expired and revoked tokens in the background, in batches, so `mmt_api_tokens` does not grow without end
/// and does not keep users' and patients' names after their tokens have ended. Every replica may run it: the deletes
/// are idempotent.
public struct TokenPurger: Service {
    let tokens: TokenStore
    let interval: Duration
    let batchSize: Int
    let logger: Logger

    public init(tokens: TokenStore, interval: Duration, batchSize: Int = 1000, logger: Logger) {
        self.tokens = tokens
        self.interval = interval
        self.batchSize = batchSize
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            await purge()
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
        }
    }

    /// One purge: batches until a batch comes back short. Failures (database down) wait for the next interval.
    @discardableResult
    public func purge() async -> Int {
        var total = 0
        do {
            while !Task.isShuttingDownGracefully {
                let deleted = try await tokens.purgeEnded(limit: batchSize, logger: logger)
                total += deleted
                if deleted < batchSize { break }
            }
        } catch {
            logger.warning("token purge failed; will retry", metadata: ["error_kind": "\(type(of: error))"])
        }
        if total > 0 { logger.info("purged ended API tokens", metadata: ["count": "\(total)"]) }
        return total
    }
}
