import EMRTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import Synchronization
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

                try await TestServer.whileStopped { () async throws in
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

        /// Issue 16: waiting event streams survive a MariaDB restart. Replica A's poller keeps its cursor through the
        /// outage and reconnects: a change made just before the database went away and a change made after the
        /// restart both reach the waiting streams; an outage never ends a stream, but a bridge token that expires
        /// during it does (its expiry is known locally). A second hub on the same database, polled only when the test
        /// says so, shows that a change committed while that replica could not poll (it was committed before the
        /// stop, and the hub's first poll after it ran against a stopped server) is delivered after the reconnect.
        @Test func videoEventStreamsSurviveARestartWithoutLosingAChange() async throws {
            let database = try LiveDatabase.require()
            try await database.setGlobal("gbl_time_zone", "UTC")
            let (a, b, c) = (900_070, 900_071, 900_072)
            for encounter in [a, b, c] { try await database.makeEncounter(encounter, date: LiveDatabase.localText()) }
            let settings = ["DB_CONNECT_TIMEOUT": "1", "DB_LEASE_TIMEOUT": "2", "DB_READ_TIMEOUT": "5"]
            try await database.withVideoApp(settings, setup: .live) { client, services in
                let port = try #require(client.port)
                let patient = try await client.portalToken("patient1", "patient123")
                let expiring = try await client.portalToken("patient1", "patient123")
                let provider = try await client.token("drsmith", "doctor123")
                // One token expires 12 s from now (expiry is fixed at sign-in: its stream brings it from its sign-in check).
                try await database.query("UPDATE mmt_api_tokens SET expires_at = UTC_TIMESTAMP() + INTERVAL 12 SECOND WHERE token_hash = \(TokenStore.hash(expiring))")
                let untilExpiry = try #require(
                    try await database.int("SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) AS v FROM mmt_api_tokens WHERE token_hash = \(TokenStore.hash(expiring))")
                )
                let expiresAt = ContinuousClock.now + .microseconds(untilExpiry)
                func events(_ encounter: Int) -> String { "/api/encounters/\(encounter)/video/events/" }
                let (streamA, streamB, streamC) = (
                    SSEStream(port: port, path: events(a), token: patient), SSEStream(port: port, path: events(b), token: patient),
                    SSEStream(port: port, path: events(c), token: patient)
                )
                let streamExpiring = SSEStream(port: port, path: events(a), token: expiring)
                let streams = [streamA, streamB, streamC, streamExpiring]
                #expect(try await SSEStream.wait(timeout: .seconds(10)) { streams.allSatisfy { $0.contains("\"state\":\"scheduled\"") } })

                // The second hub: no run loop; it polls when the test calls pollOnce().
                let manual = VideoEventHub(service: services.video, tokens: nil, logger: database.logger)
                let seen = Mutex<[VideoStreamEvent]>([])
                let (changes, cancel) = manual.subscribe(encounter: b, tokenHash: [])
                let collector = Task { for await event in changes { seen.withLock { $0.append(event) } } }
                defer {
                    cancel()
                    collector.cancel()
                }
                try await manual.pollOnce()  // its cursor: now

                // Changes just before the database goes away: b (the manual hub has not polled since) and c, whose
                // start returns right before the stop (replica A may or may not have polled it before).
                #expect(try await client.call(.post, "/api/encounters/\(b)/video/start/", token: provider).status == .ok)
                #expect(try await client.call(.post, "/api/encounters/\(c)/video/start/", token: provider).status == .ok)
                try await TestServer.whileStopped { () async throws in
                    await #expect(throws: (any Error).self, "the manual hub cannot poll a stopped server") { try await manual.pollOnce() }
                    // While the database is down the streams stay open; the expiring token's stream ends on time, by
                    // the expiry the hub learnt before the outage (unless the stop itself outlasted the token).
                    if ContinuousClock.now < expiresAt - .seconds(1) {
                        #expect(!streamExpiring.contains("event: closed"), "not before its expiry")
                    }
                    #expect(
                        try await SSEStream.wait(timeout: .seconds(15)) { streamExpiring.contains("event: closed\ndata: {\"reason\":\"token_expired\"") },
                        "\(streamExpiring.received.suffix(300))"
                    )
                    #expect(ContinuousClock.now - expiresAt < .milliseconds(800), "ended within about an interval of its expiry, with the database down")
                    #expect(!streamA.contains("event: closed") && !streamA.received.hasSuffix("0\r\n\r\n"), "an outage does not end a stream")
                    #expect(services.videoEvents.waiterCount == 3)
                }

                // A change after the restart (the first requests may still meet dead pooled connections).
                let deadline = ContinuousClock.now + .seconds(20)
                var started = false
                while !started && ContinuousClock.now < deadline {
                    started = try await client.call(.post, "/api/encounters/\(a)/video/start/", token: provider).status == .ok
                    if !started { try await Task.sleep(for: .milliseconds(250)) }
                }
                #expect(started, "start after the restart")
                #expect(
                    try await SSEStream.wait(timeout: .seconds(5)) { streams.prefix(3).allSatisfy { $0.contains("\"state\":\"live\"") } },
                    "a: \(streamA.received.suffix(200)) b: \(streamB.received.suffix(200)) c: \(streamC.received.suffix(200))"
                )
                #expect(!streamExpiring.contains("\"state\":\"live\""), "the ended stream heard nothing more")

                // The manual hub reconnects with its old cursor and delivers b's change, made before the outage.
                var delivered = false
                while !delivered && ContinuousClock.now < deadline + .seconds(10) {
                    try? await manual.pollOnce()
                    delivered = seen.withLock { $0.contains { if case .change(let change) = $0 { change.encounter == b && change.state == "live" } else { false } } }
                    if !delivered { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(delivered, "the change committed before the outage reached the hub after it: \(seen.withLock { $0 })")
                for stream in streams { stream.close() }
            }
        }
    }
}
