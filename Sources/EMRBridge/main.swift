import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

// Swift concurrency runs on the NIO event loops that also serve HTTP (SwiftNIO's documented take-over of the global
// executor): a request handler resumes on the loop its connection lives on instead of hopping to a separate
// cooperative pool and back. Nothing on this executor blocks: MariaDB calls run on the client's own threads and
// password hashing on its own low-priority threads. Set EMR_BRIDGE_NIO_EXECUTOR=0 to keep Swift's default pool.
if getenv("EMR_BRIDGE_NIO_EXECUTOR").map({ String(cString: $0) }) != "0" {
    NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}
/// ArgumentParser's async entry point (plain `EMRBridgeCommand.main()` would resolve to the synchronous one here).
func runAsyncCommand<Command: AsyncParsableCommand>(_: Command.Type) async { await Command.main() }
await runAsyncCommand(EMRBridgeCommand.self)
