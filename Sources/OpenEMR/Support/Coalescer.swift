import Synchronization

/// Coalesces concurrent single-key reads into batched loads (the "data loader" pattern).
///
/// A caller that finds a free batch slot leads: it loads its own key together with every key waiting at that moment,
/// in one call of `loader`, and hands the other callers their values. Callers that find every slot busy wait in a
/// queue that the next free slot drains. Nothing ever waits on a timer: under light load each read is a batch of one
/// and costs what a plain read costs; under load, reads that arrive while the database is busy share one round trip.
///
/// `loader` must return exactly one value per key, in the order of the keys. A loader error reaches every caller of
/// that batch.
final class Coalescer<Key: Sendable, Value: Sendable>: Sendable {
    typealias Loader = @Sendable ([Key]) async throws -> [Value]

    private struct Waiter {
        var key: Key
        var continuation: CheckedContinuation<Value, any Error>
    }

    private struct State {
        var waiting: [Waiter] = []
        var running = 0
    }

    private let state = Mutex(State())
    private let maximumBatch: Int
    private let maximumConcurrentBatches: Int
    private let loader: Loader

    /// - Parameters:
    ///   - maximumBatch: the most keys one `loader` call receives.
    ///   - maximumConcurrentBatches: the most `loader` calls in flight at once.
    init(maximumBatch: Int, maximumConcurrentBatches: Int, loader: @escaping Loader) {
        self.maximumBatch = max(1, maximumBatch)
        self.maximumConcurrentBatches = max(1, maximumConcurrentBatches)
        self.loader = loader
    }

    /// Batches in flight and keys waiting (for tests).
    var statistics: (running: Int, waiting: Int) {
        state.withLock { ($0.running, $0.waiting.count) }
    }

    /// The value for `key`, loaded alone or together with concurrent callers' keys.
    func load(_ key: Key) async throws -> Value {
        let others: [Waiter]? = state.withLock { state in
            guard state.running < maximumConcurrentBatches else { return nil }
            state.running += 1
            return Self.take(&state.waiting, upTo: maximumBatch - 1)
        }
        guard let others else {
            return try await withCheckedThrowingContinuation { continuation in
                let startsDrain = state.withLock { state in
                    state.waiting.append(Waiter(key: key, continuation: continuation))
                    guard state.running < maximumConcurrentBatches else { return false }
                    state.running += 1
                    return true
                }
                if startsDrain { Task { await self.drain() } }
            }
        }
        defer { finishBatch() }
        return try await run(others, leading: key)[0]
    }

    /// Loads `leading` (when given) and the waiters' keys, resumes the waiters and returns the values (the leader's
    /// first).
    private func run(_ waiters: [Waiter], leading: Key?) async throws -> [Value] {
        var keys: [Key] = []
        keys.reserveCapacity(waiters.count + 1)
        if let leading { keys.append(leading) }
        for waiter in waiters { keys.append(waiter.key) }
        let values: [Value]
        do {
            values = try await loader(keys)
        } catch {
            if leading != nil, Task.isCancelled, !waiters.isEmpty {
                // The leader's own task was cancelled, not the waiters': put them back at the front of the queue, where
                // `finishBatch` finds them and drains them in a task of their own.
                state.withLock { $0.waiting.insert(contentsOf: waiters, at: 0) }
            } else {
                for waiter in waiters { waiter.continuation.resume(throwing: error) }
            }
            throw error
        }
        guard values.count == keys.count else {
            let error = CoalescerError.loaderReturnedWrongCount(expected: keys.count, got: values.count)
            for waiter in waiters { waiter.continuation.resume(throwing: error) }
            throw error
        }
        let offset = leading == nil ? 0 : 1
        for (index, waiter) in waiters.enumerated() { waiter.continuation.resume(returning: values[index + offset]) }
        return values
    }

    /// Gives the slot back, or keeps it and drains the queue in a new task when keys arrived meanwhile.
    private func finishBatch() {
        let keepsSlot = state.withLock { state in
            if state.waiting.isEmpty {
                state.running -= 1
                return false
            }
            return true
        }
        if keepsSlot { Task { await self.drain() } }
    }

    /// Runs batches from the queue until it is empty, then gives the slot back.
    private func drain() async {
        while true {
            let batch: [Waiter] = state.withLock { state in
                let batch = Self.take(&state.waiting, upTo: maximumBatch)
                if batch.isEmpty { state.running -= 1 }
                return batch
            }
            if batch.isEmpty { return }
            _ = try? await run(batch, leading: nil)
        }
    }

    private static func take(_ waiting: inout [Waiter], upTo count: Int) -> [Waiter] {
        guard count > 0, !waiting.isEmpty else { return [] }
        if waiting.count <= count {
            let batch = waiting
            waiting.removeAll()
            return batch
        }
        let batch = Array(waiting.prefix(count))
        waiting.removeFirst(count)
        return batch
    }
}

enum CoalescerError: Error, Equatable {
    case loaderReturnedWrongCount(expected: Int, got: Int)
}
