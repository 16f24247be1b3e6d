import Synchronization

/// A bounded hand-off from one producer to one consumer: `send` waits while `capacity` items are waiting, so the
/// reader never runs far ahead of a writer (memory stays flat). The consumer `close`s it when it fails, which makes
/// every later `send` return false instead of waiting for ever.
final class BoundedChannel<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var finished = false
        var closed = false
        var consumer: CheckedContinuation<Element?, Never>?
        var producer: CheckedContinuation<Void, Never>?
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Hands `element` over; false when the consumer has closed the channel.
    func send(_ element: Element) async -> Bool {
        while true {
            let done: Bool? = state.withLock { state in
                if state.closed { return false }
                if let consumer = state.consumer {
                    state.consumer = nil
                    consumer.resume(returning: element)
                    return true
                }
                if state.items.count < capacity {
                    state.items.append(element)
                    return true
                }
                return nil
            }
            if let done { return done }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.closed || state.items.count < capacity { return true }
                    state.producer = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// The producer is done: the consumer gets nil after the last item.
    func finish() {
        state.withLock { state in
            state.finished = true
            if let consumer = state.consumer {
                state.consumer = nil
                consumer.resume(returning: nil)
            }
        }
    }

    /// The consumer gives up: pending and later sends return false.
    func close() {
        state.withLock { state in
            state.closed = true
            state.items.removeAll()
            if let producer = state.producer {
                state.producer = nil
                producer.resume()
            }
        }
    }

    /// The next item, or nil once the producer has finished and everything was taken.
    func receive() async -> Element? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
            state.withLock { state in
                if !state.items.isEmpty {
                    continuation.resume(returning: state.items.removeFirst())
                    if let producer = state.producer {
                        state.producer = nil
                        producer.resume()
                    }
                } else if state.finished || state.closed {
                    continuation.resume(returning: nil)
                } else {
                    state.consumer = continuation
                }
            }
        }
    }
}
