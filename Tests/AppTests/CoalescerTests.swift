import Synchronization
import Testing

@testable import App
@testable import OpenEMR

/// The batching logic on its own, with a loader that records its calls and waits until released.
@Suite struct CoalescerTests {
    /// Records batches and the most loads in flight; each load sleeps a little so that callers pile up.
    final class Recorder: Sendable {
        let batches = Mutex<[[Int]]>([])
        let inFlight = Mutex((now: 0, most: 0))

        func load(_ keys: [Int]) async throws -> [String] {
            inFlight.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            batches.withLock { $0.append(keys) }
            try await Task.sleep(for: .milliseconds(20))
            inFlight.withLock { $0.now -= 1 }
            if keys.contains(-1) { throw TestFailure.boom }
            return keys.map { "v\($0)" }
        }
    }

    enum TestFailure: Error { case boom }

    @Test func aLoneCallerIsABatchOfOne() async throws {
        let recorder = Recorder()
        let coalescer = Coalescer<Int, String>(maximumBatch: 8, maximumConcurrentBatches: 2) { try await recorder.load($0) }
        #expect(try await coalescer.load(7) == "v7")
        #expect(recorder.batches.withLock { $0 } == [[7]])
        #expect(coalescer.statistics.running == 0)
    }

    @Test func concurrentCallersShareBatchesAndEachGetsItsOwnValue() async throws {
        let recorder = Recorder()
        let coalescer = Coalescer<Int, String>(maximumBatch: 16, maximumConcurrentBatches: 2) { try await recorder.load($0) }
        let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for key in 0..<100 { group.addTask { (key, try await coalescer.load(key)) } }
            return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 100)
        for (key, value) in results { #expect(value == "v\(key)") }
        let batches = recorder.batches.withLock { $0 }
        // Every key loaded exactly once, never more than 16 at once, never more than 2 loads in flight, and fewer
        // loads than callers.
        #expect(batches.flatMap { $0 }.sorted() == Array(0..<100))
        #expect(batches.allSatisfy { $0.count <= 16 })
        #expect(recorder.inFlight.withLock { $0.most } <= 2)
        #expect(batches.count < 100)
        // The last batch's bookkeeping ends just after its callers are answered: idle soon, not necessarily at once.
        #expect(try await eventually(seconds: 2) { coalescer.statistics.running == 0 && coalescer.statistics.waiting == 0 })
    }

    @Test func aLoaderErrorReachesEveryCallerOfThatBatchOnly() async throws {
        let recorder = Recorder()
        let coalescer = Coalescer<Int, String>(maximumBatch: 64, maximumConcurrentBatches: 1) { try await recorder.load($0) }
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for key in [-1] + Array(1...20) {
                group.addTask {
                    do {
                        _ = try await coalescer.load(key)
                        return (key, true)
                    } catch {
                        return (key, false)
                    }
                }
            }
            return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        let batches = recorder.batches.withLock { $0 }
        let failedBatch = Set(batches.first { $0.contains(-1) } ?? [])
        for (key, succeeded) in outcomes {
            #expect(succeeded == !failedBatch.contains(key), "key \(key)")
        }
        #expect(outcomes[-1] == false)
        #expect(coalescer.statistics.running == 0)
        // The coalescer still works afterwards.
        #expect(try await coalescer.load(5) == "v5")
    }

    @Test func aLoaderReturningTheWrongCountFailsItsCallersInsteadOfMismatchingValues() async throws {
        let coalescer = Coalescer<Int, String>(maximumBatch: 8, maximumConcurrentBatches: 1) { keys in Array(keys.dropFirst()).map(String.init) }
        await #expect(throws: CoalescerError.loaderReturnedWrongCount(expected: 1, got: 0)) { try await coalescer.load(1) }
        #expect(coalescer.statistics.running == 0)
    }
}
