import EMRTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import Testing

@testable import App
@testable import OpenEMR

extension LiveAppTests {
    /// Stops and restarts MariaDB under a running app (`EMR_TEST_MARIADB_CTL`). This file's name sorts last, so the
    /// suite runs after every other nested suite of the serialized parent; it holds `DatabaseServerLock` exclusively,
    /// so no suite of another target (Tests/MariaDBTests) uses the server meanwhile. The server is started again on
    /// every path.
    @Suite("Live: database restart", .serialized, .enabled(if: TestEnvironment.canControlServer), .liveDatabase(lock: .exclusive))
    struct ServerRestart {
        @Test func healthFollowsTheDatabaseAndTheSameAppRecovers() async throws {
            let database = try LiveDatabase.require()
            let settings: [String: String] = ["DB_CONNECT_TIMEOUT": "1", "DB_LEASE_TIMEOUT": "2", "DB_READ_TIMEOUT": "5"]
            try await database.withApp(settings) { client async throws in
                let up = try await client.send(.get, "/api/health/")
                #expect(up.status == .ok)
                let token = try await client.token("admin", "pass")

                var stopped = false
                do {
                    try await TestEnvironment.control("stop")
                    stopped = true

                    for attempt in 1...3 {
                        let started = ContinuousClock.now
                        let down = try await client.send(.get, "/api/health/")
                        #expect(down.status == .serviceUnavailable, "attempt \(attempt): \(down.text)")
                        #expect(down.json["database"].string == "unavailable")
                        #expect(down.json["status"].string == "unavailable")
                        #expect(down.json["version"].string == EMRBridgeVersion.current)
                        #expect(down.headers[.retryAfter] != nil)
                        #expect(ContinuousClock.now - started < .seconds(10), "health must answer quickly while the database is down")
                    }
                    // Other endpoints answer 503 in the JSON error shape, not 500.
                    let login = try await client.login("admin", "pass")
                    #expect(login.status == .serviceUnavailable, "\(login.text)")
                    #expect(login.errorCode == "database_unavailable")
                    let me = try await client.currentUser(token)
                    #expect(me.status == .serviceUnavailable, "\(me.text)")

                    try await TestEnvironment.control("start")
                    stopped = false
                } catch {
                    if stopped { try? await TestEnvironment.control("start") }
                    throw error
                }

                // The same app instance recovers by itself.
                let deadline = ContinuousClock.now + .seconds(20)
                var recovered = false
                while ContinuousClock.now < deadline {
                    if try await client.send(.get, "/api/health/").status == .ok {
                        recovered = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(250))
                }
                #expect(recovered, "health did not return to 200 within 20 s of the restart")
                #expect(try await client.currentUser(token).status == .ok, "tokens survive a database restart")
                #expect(try await client.login("admin", "pass").status == .ok)
            }
        }
    }
}
