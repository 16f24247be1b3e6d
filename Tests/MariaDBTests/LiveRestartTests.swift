import EMRTestSupport
import Foundation
import Logging
import MariaDB
import Testing

extension LiveMariaDBTests {
    /// Stops and restarts the server through `EMR_TEST_MARIADB_CTL`. Runs only when that variable is set; the parent
    /// suite is serialized, so no other test of this target runs meanwhile. The server is started again on every path.
    @Suite("Live: server restart", .serialized, .enabled(if: TestDatabase.canControlServer), .databaseServer(.exclusive))
    struct ServerRestart {
        let logger = LiveMariaDBTests.logger

        @Test func sameClientRecoversAfterServerRestart() async throws {
            var options = TestDatabase.defaultOptions()
            options.connectTimeout = 2
            options.readTimeout = 5
            options.writeTimeout = 5
            options.leaseTimeout = 10
            options.maximumConnections = 2
            options.pingAfterIdle = 3600  // the first call after the stop reuses a dead connection without pinging
            try await TestDatabase.withTestClient(options: options) { client, _ in
                try await client.query("CREATE TABLE r (id INT PRIMARY KEY) ENGINE=InnoDB", logger: logger)
                try await client.query("INSERT INTO r VALUES (\(1))", logger: logger)

                try await TestServer.whileStopped { () async throws in
                    // The idle connection is dead, then no new one can be opened: both are "unavailable".
                    for attempt in 1...3 {
                        let error = try await #require(throws: MariaDBError.self) { try await client.query("SELECT 1", logger: logger) }
                        #expect(error.isUnavailable, "attempt \(attempt): \(error)")
                        #expect(error.isConnectionLost, "attempt \(attempt): \(error)")
                    }
                    #expect(client.poolStatistics.total == 0)
                }

                // Same client, no new one: works again, and the data survived.
                let row = try #require(try await client.query("SELECT COUNT(*) AS n FROM r", logger: logger).first)
                #expect(try row.decode("n", as: Int.self) == 1)
                try await client.query("INSERT INTO r VALUES (\(2))", logger: logger)
                #expect(client.poolStatistics.total >= 1)
            }
        }

        @Test func pingingClientRecoversAfterServerRestart() async throws {
            var options = TestDatabase.defaultOptions()
            options.connectTimeout = 2
            options.maximumConnections = 2
            options.pingAfterIdle = 0  // idle connections are pinged, found dead and replaced
            try await TestDatabase.withTestClient(options: options) { client, _ in
                // Two idle connections in the pool.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<2 { group.addTask { try await client.query("SELECT SLEEP(0.2)", logger: logger) } }
                    try await group.waitForAll()
                }
                #expect(client.poolStatistics.idle == 2)

                try await TestServer.whileStopped { () async throws in
                    let error = try await #require(throws: MariaDBError.self) { try await client.query("SELECT 1", logger: logger) }
                    #expect(error.code == .connectionFailed, "ping failed, reconnect failed: \(error)")
                    #expect(error.isUnavailable)
                }
                // Every call succeeds at once after the restart, also the one that gets the other stale connection.
                for _ in 0..<3 {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<2 { group.addTask { try await client.query("SELECT SLEEP(0.05)", logger: logger) } }
                        try await group.waitForAll()
                    }
                }
            }
        }
    }
}
