import Synchronization
import Testing

/// Waits (polling) until `condition` holds; records an issue after `timeout`.
func eventually(
    timeout: Duration = .seconds(10), _ message: @autoclosure () -> String = "condition", sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now >= deadline {
            Issue.record("timed out waiting for \(message())", sourceLocation: sourceLocation)
            return
        }
        try? await Task.sleep(for: .milliseconds(2))
    }
}

struct TestError: Error, Equatable {}

/// A shared counter/flag for concurrent test tasks (a class, so closures capture it without `sending` trouble).
final class Counter: Sendable {
    private let value: Atomic<Int>

    init(_ initial: Int = 0) { value = Atomic(initial) }

    var current: Int { value.load(ordering: .relaxed) }
    @discardableResult func increment() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
    func decrement() { value.wrappingSubtract(1, ordering: .relaxed) }
    func set(_ new: Int) { value.store(new, ordering: .relaxed) }
    /// Raises the stored value to at least `candidate`.
    func raise(to candidate: Int) { value.max(candidate, ordering: .relaxed) }
}

/// Appends values from concurrent test tasks.
final class Recorder<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])

    func append(_ value: Value) { storage.withLock { $0.append(value) } }
    var values: [Value] { storage.withLock { $0 } }
}
