internal import CMariaDB
import Synchronization

/// Calls `mysql_library_init` exactly once, before the first connection (it is not thread-safe).
enum MariaDBLibrary {
    private static let initialised = Mutex(false)

    static func ensureInitialised() {
        initialised.withLock { done in
            guard !done else { return }
            _ = cmariadb_library_init()
            done = true
        }
    }
}
