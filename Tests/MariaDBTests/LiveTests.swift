import Foundation
import Logging
import MariaDB
import Testing

/// Every test that talks to the live server, in ONE serialized parent suite: no two of them run at once, so the
/// restart test (which stops the server) cannot break a sibling. The nested suites are declared in extensions in the
/// Live*.swift files; the server restart suite (`LiveMariaDBTests.ServerRestart`) is declared last.
@Suite(.serialized, .enabled(if: TestDatabase.isConfigured || TestDatabase.isRequired), .timeLimit(.minutes(2)))
struct LiveMariaDBTests {
    static var logger: Logger { TestDatabase.logger }
}
