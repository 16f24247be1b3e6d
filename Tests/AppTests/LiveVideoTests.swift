import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import NIOCore
import NIOPosix
import PasswordCrypt
import Synchronization
import Testing

@testable import App
@testable import OpenEMR

// MARK: - Helpers of this file

extension LiveDatabase {
    static let jitsiSecret = "live-test-jitsi-secret-" + TestEnvironment.randomHex(bytes: 16)

    /// The Jitsi environment of these tests (HS256, XMPP domain `meet.jitsi`, a fast poller).
    static let videoEnvironment = [
        "JITSI_DOMAIN": "meet.example.com", "JITSI_APP_ID": "emrbridge", "JITSI_APP_SECRET": jitsiSecret, "JITSI_SUB": "meet.jitsi",
        "JITSI_EVENTS_INTERVAL_MS": "100",
    ]

    /// An application with video configured, keeping its `AppServices` (for the event hub's counters).
    func withVideoApp<Value: Sendable>(
        _ extra: [String: String] = [:], setup: TestingSetup = .router, _ body: @Sendable (any TestClientProtocol, AppServices) async throws -> Value
    ) async throws -> Value {
        let configuration = try configuration(Self.videoEnvironment.merging(extra) { $1 })
        try configuration.validateSecrets()
        let client = MariaDBClient(configuration: configuration.database, backgroundLogger: logger)
        let services = AppServices(configuration: configuration, database: client, logger: logger)
        let app = Application(
            router: buildRouter(services: services, metrics: nil),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "emr-bridge"),
            services: [client] + services.backgroundServices, logger: logger
        )
        return try await app.test(setup) { testClient in try await body(testClient, services) }
    }

    /// A new encounter (number `900000 + n`) for `pid` with `provider` (users.id) at `date` (OpenEMR local text).
    @discardableResult
    func makeEncounter(_ number: Int, pid: Int = 1, provider: Int = 2, date: String, facility: Int = 1) async throws -> Int {
        try await query(
            """
            INSERT INTO form_encounter (date, reason, facility, facility_id, pid, encounter, provider_id, billing_facility, pc_catid, class_code)
            VALUES (\(date), 'video', 'Riverside Family Medicine', \(facility), \(pid), \(number), \(provider), \(facility), 5, 'AMB')
            """
        )
        return number
    }

    /// Now in UTC as OpenEMR writes it (the tests set gbl_time_zone to UTC), shifted by `seconds`.
    static func localText(_ seconds: TimeInterval = 0) -> String { UTCTime.value(Date() + seconds).description }
    static func dayText(_ days: Int = 0) -> String { UTCTime.value(Date() + TimeInterval(days * 86400)).dateString }
}

/// A raw HTTP/1.1 client reading a Server-Sent Events stream (Hummingbird's test client waits for whole bodies).
final class SSEStream: Sendable {
    final class State: Sendable {
        let text = Mutex("")
        let closed = Atomic<Bool>(false)
    }
    let state: State
    let task: Task<Void, any Error>

    init(port: Int, path: String, token: String?) {
        let state = State()
        self.state = state
        task = Task {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
            try await channel.executeThenClose { inbound, outbound in
                var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                if let token { request += "Authorization: Bearer \(token)\r\n" }
                try await outbound.write(ByteBuffer(string: request + "\r\n"))
                for try await chunk in inbound { state.text.withLock { $0 += String(buffer: chunk) } }
            }
            state.closed.store(true, ordering: .relaxed)
        }
    }

    var closed: Bool { state.closed.load(ordering: .relaxed) }
    var received: String { state.text.withLock { $0 } }
    func contains(_ needle: String) -> Bool { received.contains(needle) }
    func close() { task.cancel() }

    /// Waits (polling every 5 ms) until `condition` or `timeout`; true when it held.
    static func wait(timeout: Duration, _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        var held = condition()
        while !held && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
            held = condition()
        }
        return held
    }
}

extension LiveAppTests {
    /// Issue 16: video visits against a real MariaDB: roles, the state machine, windows, rooms, audit, settings,
    /// tickets, and live readiness pushed to event streams from another app instance.
    @Suite("Live: video visits", .liveDatabase())
    struct Video {
        func tokens(_ client: any TestClientProtocol) async throws -> [String: String] {
            [
                "drsmith": try await client.token("drsmith", "doctor123"), "drjones": try await client.token("drjones", "doctor123"),
                "frontdesk": try await client.token("frontdesk", "front123"), "admin": try await client.token("admin", "pass"),
                "patient1": try await client.portalToken("patient1", "patient123"), "patient2": try await client.portalToken("patient2", "patient123"),
            ]
        }

        func judge(_ token: String?, room: String, now: Int = Int(Date().timeIntervalSince1970)) async throws -> JSONValue {
            let token = try #require(token)
            return try await PyJWT.judge([
                .init(token: token, key: LiveDatabase.jitsiSecret, issuers: ["emrbridge"], audiences: ["jitsi"], room: room, sub: "meet.jitsi", now: now)
            ])[0]
        }

        @Test func stateMachineRolesTokensAndAudit() async throws {
            let database = try LiveDatabase.require()
            try await database.setGlobal("gbl_time_zone", "UTC")
            let encounter = try await database.makeEncounter(900_001, date: LiveDatabase.localText())
            try await database.withVideoApp { client, services in
                services.globals.invalidate()
                let t = try await tokens(client)
                let path = "/api/encounters/\(encounter)/video/"
                // Reading: the patient, staff, the provider, an admin; not another patient (404) or provider (403).
                let first = try await client.call(.get, path, token: t["patient1"])
                #expect(first.status == .ok, "\(first.text)")
                #expect(first.json["state"].string == "scheduled" && first.json["ready"].bool == false)
                #expect(first.json["room"].isNull, "patients get the room only inside their token")
                #expect(try await client.call(.get, path, token: t["patient2"]).status == .notFound)
                #expect(try await client.call(.get, path, token: t["drjones"]).status == .forbidden)
                let staffView = try await client.call(.get, path, token: t["frontdesk"])
                let room = try #require(staffView.json["room"].string)
                #expect(VideoRoom.isValid(room) && !room.contains(String(encounter)))
                #expect(try await client.call(.get, path, token: nil).status == .unauthorized)

                // Before the start: 409 room_not_ready; only the provider or an admin starts.
                let early = try await client.call(.post, path + "join/", token: t["patient1"])
                #expect(early.status == .conflict && early.errorCode == "room_not_ready")
                for name in ["drjones", "frontdesk", "patient1"] {
                    #expect(try await client.call(.post, path + "start/", token: t[name]).status == .forbidden, "\(name) may not start")
                }
                #expect(try await client.call(.post, path + "start/", token: t["patient2"]).status == .notFound)

                let started = try await client.call(.post, path + "start/", token: t["drsmith"])
                #expect(started.status == .ok, "\(started.text)")
                #expect(started.headers[.cacheControl] == "no-store")
                #expect(started.json["visit"]["state"].string == "live")
                #expect(started.json["moderator"].bool == true)
                let providerToken = try #require(started.json["token"].string)
                #expect(started.json["meeting_url"].string == "https://meet.example.com/\(room)?jwt=\(providerToken)")
                let options = started.json["iframe"]["options"]
                #expect(started.json["iframe"]["domain"].string == "meet.example.com" && options["roomName"].string == room)
                #expect(options["configOverwrite"]["prejoinConfig"]["enabled"].bool == false)
                #expect(options["configOverwrite"]["disableInviteFunctions"].bool == true)
                #expect(options["configOverwrite"]["securityUi"]["hideLobbyButton"].bool == true)
                let providerVerdict = try await judge(providerToken, room: room)
                #expect(providerVerdict["ok"].bool == true, "\(providerVerdict)")
                #expect(providerVerdict["moderator"].bool == true)
                #expect(providerVerdict["claims"]["context"]["user"]["name"].string == "Emily Smith")

                let joined = try await client.call(.post, path + "join/", token: t["patient1"])
                #expect(joined.status == .ok, "\(joined.text)")
                #expect(joined.json["visit"]["ready"].bool == true)
                let patientVerdict = try await judge(joined.json["token"].string, room: room)
                #expect(patientVerdict["ok"].bool == true, "\(patientVerdict)")
                #expect(patientVerdict["moderator"].bool == false, "moderator only for the provider")
                #expect(patientVerdict["claims"]["context"]["user"]["email"].isNull, "no patient e-mail")
                #expect(patientVerdict["claims"]["room"].string == room)
                let closes = try #require(joined.json["visit"]["window"]["closes_at"].string)
                #expect(try #require(patientVerdict["claims"]["exp"].int) <= Int(ISO8601DateFormatter().date(from: closes)!.timeIntervalSince1970))
                #expect(try await client.call(.post, path + "join/", token: t["frontdesk"]).status == .ok, "staff may join")
                #expect(try await client.call(.post, path + "join/", token: t["drsmith"]).status == .forbidden, "the provider uses start")
                #expect(try await client.call(.post, path + "join/", token: t["patient2"]).status == .notFound)

                let invite = try await client.call(.post, path + "invite/", token: t["drsmith"])
                #expect(invite.status == .ok, "\(invite.text)")
                #expect(invite.json["invite_url"].string?.hasPrefix("https://meet.example.com/\(room)?jwt=") == true)
                let inviteVerdict = try await judge(invite.json["token"].string, room: room)
                #expect(inviteVerdict["ok"].bool == true && inviteVerdict["moderator"].bool == false)
                #expect(inviteVerdict["claims"]["exp"].int == Int(ISO8601DateFormatter().date(from: closes)!.timeIntervalSince1970))
                #expect(try await client.call(.post, path + "invite/", token: t["patient1"]).status == .forbidden)

                // Ending: provider or admin; later joins and starts are 410.
                #expect(try await client.call(.post, path + "end/", token: t["drjones"]).status == .forbidden)
                let ended = try await client.call(.post, path + "end/", token: t["drsmith"])
                #expect(ended.status == .ok && ended.json["state"].string == "ended", "\(ended.text)")
                let late = try await client.call(.post, path + "join/", token: t["patient1"])
                #expect(late.status == .gone && late.errorCode == "visit_ended")
                #expect(try await client.call(.post, path + "start/", token: t["drsmith"]).status == .gone)
                #expect(try await client.call(.post, path + "end/", token: t["admin"]).status == .gone)

                // Audit rows, in OpenEMR's log, one per start / join / invite / end.
                let comments = [
                    "video-visit-start": ("start (moderator token minted)", 1), "video-visit-join": ("join (participant token minted)", 2),
                    "video-visit-invite": ("invite (participant token minted)", 1), "video-visit-end": ("end", 1),
                ]
                for (event, (text, count)) in comments {
                    let rows = try await database.count(
                        "log", "event = '\(event)' AND category = 'Video Visit' AND patient_id = 1 AND FROM_BASE64(comments) = 'emr-bridge video \(text) encounter \(encounter)'"
                    )
                    #expect(rows == count, "\(event): \(rows)")
                }
                // A revoked bridge token gets nothing.
                #expect(try await client.call(.post, "/api/auth/logout/", token: t["patient1"]).status == .noContent)
                #expect(try await client.call(.get, path, token: t["patient1"]).status == .unauthorized)
            }
        }

        @Test func windowsDisablingAndAdmins() async throws {
            let database = try LiveDatabase.require()
            try await database.setGlobal("gbl_time_zone", "UTC")
            let inTwoDays = try await database.makeEncounter(900_010, date: LiveDatabase.localText(2 * 86400))
            let dateOnly = try await database.makeEncounter(900_011, date: LiveDatabase.dayText() + " 00:00:00")
            let noon = Date() + 3 * 3600
            let laterToday = try await database.makeEncounter(900_012, date: UTCTime.value(noon).dateString + " 00:00:00")
            let soon = try await database.makeEncounter(900_013, date: UTCTime.value(Date() + 120).dateString + " 00:00:00")
            // Appointments that day with drsmith: in 3 hours for `laterToday` (pid 2), in 2 minutes for `soon` (pid 3).
            try await database.query("UPDATE form_encounter SET pid = 2 WHERE encounter = \(laterToday)")
            try await database.query("UPDATE form_encounter SET pid = 3 WHERE encounter = \(soon)")
            for (pid, at) in [(2, noon), (3, Date() + 120)] {
                let value = UTCTime.value(at)
                try await database.query(
                    """
                    INSERT INTO openemr_postcalendar_events (pc_catid, pc_multiple, pc_aid, pc_pid, pc_title, pc_eventDate, pc_startTime, pc_duration,
                                                             pc_apptstatus, pc_facility)
                    VALUES (5, 0, '2', \(String(pid)), 'Video visit', \(value.dateString), \(String(value.description.suffix(8))), 900, '-', 1)
                    """
                )
            }
            try await database.withVideoApp(["JITSI_APPOINTMENT_STATUS": "1"]) { client, services in
                services.globals.invalidate()
                let t = try await tokens(client)
                let outside = try await client.call(.post, "/api/encounters/\(inTwoDays)/video/start/", token: t["drsmith"])
                #expect(outside.status == .forbidden && outside.errorCode == "outside_window", "\(outside.text)")
                #expect(outside.json["error"]["details"]["opens_at"].string != nil)

                let day = try await client.call(.get, "/api/encounters/\(dateOnly)/video/", token: t["drsmith"])
                #expect(day.json["window"]["source"].string == "encounter_day")
                #expect(try await client.call(.post, "/api/encounters/\(dateOnly)/video/start/", token: t["admin"]).status == .ok, "admins may start")

                let appointment = try await client.call(.get, "/api/encounters/\(laterToday)/video/", token: t["drsmith"])
                #expect(appointment.json["window"]["source"].string == "appointment", "\(appointment.text)")
                #expect(appointment.json["window"]["open"].bool == false)
                let tooEarly = try await client.call(.post, "/api/encounters/\(laterToday)/video/start/", token: t["drsmith"])
                #expect(tooEarly.errorCode == "outside_window")

                // An appointment in two minutes: inside its window; its status moves to "in exam room" and "checked out".
                #expect(try await client.call(.post, "/api/encounters/\(soon)/video/start/", token: t["drsmith"]).status == .ok)
                #expect(try await database.string("SELECT pc_apptstatus AS v FROM openemr_postcalendar_events WHERE pc_pid = '3'") == "<")
                #expect(try await client.call(.post, "/api/encounters/\(soon)/video/end/", token: t["drsmith"]).status == .ok)
                #expect(try await database.string("SELECT pc_apptstatus AS v FROM openemr_postcalendar_events WHERE pc_pid = '3'") == ">")

                // Disabling: joins and starts refused; a live visit must end first.
                let live = try await database.makeEncounter(900_014, date: LiveDatabase.localText())
                #expect(try await client.call(.post, "/api/encounters/\(live)/video/start/", token: t["drsmith"]).status == .ok)
                let busy = try await client.call(.patch, "/api/encounters/\(live)/video/", token: t["drsmith"], json: #"{"enabled":false}"#)
                #expect(busy.status == .conflict && busy.errorCode == "visit_live")
                let other = try await database.makeEncounter(900_015, date: LiveDatabase.localText())
                let off = try await client.call(.patch, "/api/encounters/\(other)/video/", token: t["drsmith"], json: #"{"enabled":false}"#)
                #expect(off.status == .ok && off.json["enabled"].bool == false, "\(off.text)")
                #expect(try await client.call(.post, "/api/encounters/\(other)/video/start/", token: t["drsmith"]).errorCode == "video_disabled")
                #expect(try await client.call(.post, "/api/encounters/\(other)/video/join/", token: t["patient1"]).errorCode == "video_disabled")
                #expect(try await client.call(.patch, "/api/encounters/\(other)/video/", token: t["drjones"], json: #"{"enabled":true}"#).status == .forbidden)

                // A visit live past its maximum duration ends by itself.
                try await database.query("UPDATE mmt_video_visits SET auto_end_at = UTC_TIMESTAMP() - INTERVAL 1 SECOND WHERE encounter = \(live)")
                #expect(try await services.video.endOverdue(logger: database.logger) == 1)
                #expect(try await client.call(.post, "/api/encounters/\(live)/video/join/", token: t["patient1"]).status == .gone)
            }
        }

        @Test func thousandEncountersGiveThousandDistinctStableRooms() async throws {
            let database = try LiveDatabase.require()
            try await database.query(
                """
                INSERT INTO form_encounter (date, reason, facility, facility_id, pid, encounter, provider_id, billing_facility, pc_catid, class_code)
                SELECT NOW(), 'rooms', 'Riverside Family Medicine', 1, 1 + seq % 3, 910000 + seq, 2, 1, 5, 'AMB' FROM seq_0_to_999
                """
            )
            try await database.withVideoApp { client, _ in
                let admin = try await client.token("admin", "pass")
                var rooms: [Int: String] = [:]
                for encounter in 910_000..<911_000 {
                    let response = try await client.call(.get, "/api/encounters/\(encounter)/video/", token: admin)
                    rooms[encounter] = response.json["room"].string ?? ""
                }
                #expect(Set(rooms.values).count == 1000)
                #expect(rooms.values.allSatisfy(VideoRoom.isValid))
                for encounter in stride(from: 910_000, to: 911_000, by: 37) {
                    let again = try await client.call(.get, "/api/encounters/\(encounter)/video/", token: admin)
                    #expect(again.json["room"].string == rooms[encounter], "stable for the encounter")
                }
                let stored = try await database.client.query("SELECT encounter, room FROM mmt_video_visits WHERE encounter >= 910000", logger: database.logger)
                #expect(stored.rows.count == 1000)
                for row in stored.rows { #expect(rooms[try row.decode("encounter", as: Int.self)] == (try row.decode("room", as: String.self))) }
            }
        }

        @Test func settingsPerFacilityAdminsOnlySecretsWriteOnly() async throws {
            let database = try LiveDatabase.require()
            try await database.withVideoApp { client, _ in
                let admin = try await client.token("admin", "pass")
                let provider = try await client.token("drsmith", "doctor123")
                #expect(try await client.call(.get, "/api/video/settings/2/", token: provider).status == .forbidden)
                #expect(try await client.call(.get, "/api/video/settings/999/", token: admin).status == .notFound)
                let before = try await client.call(.get, "/api/video/settings/2/", token: admin)
                #expect(before.status == .ok && before.json["app_secret_set"].bool == true && before.json["overrides"].array == [])
                let weak = try await client.call(.put, "/api/video/settings/2/", token: admin, json: #"{"app_secret":"too-short"}"#)
                #expect(weak.status == .badRequest && weak.json["error"]["details"]["app_secret"].string != nil)
                let known = try await client.call(.put, "/api/video/settings/2/", token: admin, json: #"{"app_secret":"my_jitsi_app_secret"}"#)
                #expect(known.status == .badRequest)
                let secret = "facility-two-secret-" + TestEnvironment.randomHex(bytes: 12)
                let put = try await client.call(
                    .put, "/api/video/settings/2/", token: admin,
                    json: #"{"domain":"video.lakeview.example","app_secret":"\#(secret)","window_before":900,"recording_enabled":true}"#
                )
                #expect(put.status == .ok, "\(put.text)")
                #expect(!put.text.contains(secret), "the secret is never returned")
                #expect(put.json["domain"].string == "video.lakeview.example" && put.json["window_before"].int == 900)
                #expect(Set(put.json["overrides"].array?.compactMap(\.string) ?? []) == ["domain", "app_secret", "window_before", "recording_enabled"])
                #expect(try await database.count("log", "event = 'video-settings-update'") == 1)
                #expect(try await database.count("log", "FROM_BASE64(comments) LIKE '%\(secret.prefix(24))%'") == 0)
                // An encounter at facility 2 mints with the facility's secret and domain.
                try await database.setGlobal("gbl_time_zone", "UTC")
                let encounter = try await database.makeEncounter(900_020, date: LiveDatabase.localText(), facility: 2)
                let started = try await client.call(.post, "/api/encounters/\(encounter)/video/start/", token: provider)
                #expect(started.json["meeting_url"].string?.hasPrefix("https://video.lakeview.example/") == true, "\(started.text)")
                let verdict = try await PyJWT.judge([
                    .init(token: try #require(started.json["token"].string), key: secret, issuers: ["emrbridge"], audiences: ["jitsi"], room: nil, sub: "meet.jitsi")
                ])[0]
                #expect(verdict["ok"].bool == true, "\(verdict)")
                #expect(verdict["claims"]["context"]["features"]["recording"].bool == true)
                let cleared = try await client.call(.put, "/api/video/settings/2/", token: admin, json: #"{"domain":null}"#)
                #expect(cleared.json["domain"].string == "meet.example.com")
            }
        }

        @Test func ticketsAreSingleUseForOneStream() async throws {
            let database = try LiveDatabase.require()
            try await database.setGlobal("gbl_time_zone", "UTC")
            let encounter = try await database.makeEncounter(900_030, date: LiveDatabase.localText())
            let other = try await database.makeEncounter(900_031, date: LiveDatabase.localText())
            try await database.withVideoApp(setup: .live) { client, _ in
                let port = try #require(client.port)
                let patient = try await client.portalToken("patient1", "patient123")
                func ticket(_ number: Int) async throws -> String {
                    let response = try await client.call(.post, "/api/encounters/\(number)/video/events/ticket/", token: patient)
                    #expect(response.json["events_url"].string?.contains("ticket=") == true)
                    return try #require(response.json["ticket"].string, "\(response.text)")
                }
                let first = try await ticket(encounter)
                let stream = SSEStream(port: port, path: "/api/encounters/\(encounter)/video/events/?ticket=\(first)", token: nil)
                #expect(try await SSEStream.wait(timeout: .seconds(5)) { stream.contains("event: state") }, "\(stream.received)")
                #expect(stream.contains("text/event-stream"))
                stream.close()
                let reused = SSEStream(port: port, path: "/api/encounters/\(encounter)/video/events/?ticket=\(first)", token: nil)
                #expect(try await SSEStream.wait(timeout: .seconds(5)) { reused.contains("401") }, "a used ticket: \(reused.received)")
                reused.close()
                let elsewhere = SSEStream(port: port, path: "/api/encounters/\(other)/video/events/?ticket=\(try await ticket(encounter))", token: nil)
                #expect(try await SSEStream.wait(timeout: .seconds(5)) { elsewhere.contains("401") }, "another stream's ticket")
                elsewhere.close()
                let anonymous = SSEStream(port: port, path: "/api/encounters/\(encounter)/video/events/", token: nil)
                #expect(try await SSEStream.wait(timeout: .seconds(5)) { anonymous.contains("401") })
                anonymous.close()
            }
        }

        /// 100 patients wait on event streams of replica A; the provider starts the visit through replica B (another
        /// app instance with its own pool and poller); every stream hears `live` within 1 s, and replica A's poller
        /// ran one query per interval for all 100 together. A stream left open ends when A shuts down.
        @Test func readinessReachesHundredStreamsWithinOneSecondFromAnotherReplica() async throws {
            let database = try LiveDatabase.require()
            try await database.setGlobal("gbl_time_zone", "UTC")
            let encounter = try await database.makeEncounter(900_040, date: LiveDatabase.localText())
            let leftOpen = try await database.withVideoApp(setup: .live) { clientA, servicesA in
                let port = try #require(clientA.port)
                let patient = try await clientA.portalToken("patient1", "patient123")
                let path = "/api/encounters/\(encounter)/video/events/"
                let streams = (0..<100).map { _ in SSEStream(port: port, path: path, token: patient) }
                #expect(try await SSEStream.wait(timeout: .seconds(20)) { streams.allSatisfy { $0.contains("\"state\":\"scheduled\"") } })
                #expect(servicesA.videoEvents.waiterCount == 100)
                // An idle second with 100 waiters: about 1 s / 100 ms queries, not 100 times that.
                let idleStart = servicesA.videoEvents.pollQueries
                try await Task.sleep(for: .seconds(1))
                let idleQueries = servicesA.videoEvents.pollQueries - idleStart
                #expect(idleQueries >= 5 && idleQueries <= 12, "one query per 100 ms interval for all waiters: \(idleQueries)")

                let queriesBefore = servicesA.videoEvents.pollQueries
                let started = ContinuousClock.now
                try await database.withVideoApp { clientB, _ in
                    let provider = try await clientB.token("drsmith", "doctor123")
                    let response = try await clientB.call(.post, "/api/encounters/\(encounter)/video/start/", token: provider)
                    #expect(response.status == .ok, "\(response.text)")
                }
                let startReturned = ContinuousClock.now
                var liveCount = 0
                let deadline = ContinuousClock.now + .seconds(5)
                while ContinuousClock.now < deadline {
                    liveCount = streams.filter { $0.contains("\"state\":\"live\"") }.count
                    if liveCount == streams.count { break }
                    try await Task.sleep(for: .milliseconds(5))
                }
                let allLive = liveCount == streams.count
                let elapsed = ContinuousClock.now - startReturned
                #expect(allLive, "\(liveCount) of \(streams.count) streams heard live")
                let liveThen = streams.filter { $0.contains("\"state\":\"live\"") }.count
                #expect(liveThen == 100, "live right after the wait: \(liveThen); sample: \(streams[0].received.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n"))")
                #expect(elapsed < .seconds(1), "readiness reached all 100 streams \(elapsed) after the start returned")
                let queries = servicesA.videoEvents.pollQueries - queriesBefore
                let intervals = Int(((ContinuousClock.now - started) / .milliseconds(100)).rounded(.up))
                #expect(queries <= intervals + 2, "\(queries) queries in \(intervals) intervals")
                let tokenChecks = servicesA.videoEvents.tokenQueries
                #expect(tokenChecks >= 1, "the streams' token is checked")
                let ready = streams.filter { $0.contains("\"ready\":true") }.count
                let live = streams.filter { $0.contains("\"state\":\"live\"") }.count
                #expect(ready == 100, "ready \(ready), live \(live): \(streams.first { !$0.contains("\"ready\":true") }?.received.count ?? 0)")
                for stream in streams { stream.close() }
                // One stream stays open through the shutdown.
                let open = SSEStream(port: port, path: path, token: patient)
                #expect(try await SSEStream.wait(timeout: .seconds(5)) { open.contains("\"state\":\"live\"") })
                return open
            }
            // The application has shut down gracefully: the open stream was ended by the server, not left hanging.
            #expect(
                try await SSEStream.wait(timeout: .seconds(5)) { leftOpen.closed || leftOpen.received.hasSuffix("0\r\n\r\n") },
                "stream ended at shutdown"
            )
            leftOpen.close()
        }

        // MARK: Gap 1: a revoked or expired bridge token ends an open stream

        /// Streams opened with six bridge tokens (one through tickets) on replica A. The tokens are checked for all
        /// streams together, one statement per interval. A sign-out on replica B, a revocation written straight into
        /// MariaDB, an expiry, and the sign-out of the token that minted the tickets each end their streams within
        /// about one interval, with an `event: closed` saying why; a user deactivated in OpenEMR within the account
        /// check's 5 s; the other token's streams stay open and still hear the start.
        @Test func revokedOrExpiredTokensEndOpenStreams() async throws {
            let database = try LiveDatabase.require()
            try await database.setGlobal("gbl_time_zone", "UTC")
            let encounter = try await database.makeEncounter(900_060, date: LiveDatabase.localText())
            try await database.withVideoApp(setup: .live) { client, services in
                let port = try #require(client.port)
                let path = "/api/encounters/\(encounter)/video/events/"
                var tokens: [String] = []
                for _ in 0..<5 { tokens.append(try await client.portalToken("patient1", "patient123")) }
                let (signedOut, revoked, expiring, kept, ticketMinter) = (tokens[0], tokens[1], tokens[2], tokens[3], tokens[4])
                // One token expires (naturally: expiry is fixed at sign-in) 7 s from now, while its streams are open.
                try await database.query("UPDATE mmt_api_tokens SET expires_at = UTC_TIMESTAMP() + INTERVAL 7 SECOND WHERE token_hash = \(TokenStore.hash(expiring))")
                let untilExpiry = try #require(
                    try await database.int("SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) AS v FROM mmt_api_tokens WHERE token_hash = \(TokenStore.hash(expiring))")
                )
                let expiresAt = ContinuousClock.now + .microseconds(untilExpiry)
                func streams(_ token: String) -> [SSEStream] { (0..<5).map { _ in SSEStream(port: port, path: path, token: token) } }
                var ticketed: [SSEStream] = []
                for _ in 0..<5 {
                    let ticket = try #require(try await client.call(.post, path + "ticket/", token: ticketMinter).json["ticket"].string)
                    ticketed.append(SSEStream(port: port, path: path + "?ticket=\(ticket)", token: nil))
                }
                let staff = try await client.token("frontdesk", "front123")
                let groups = [
                    "signed out": streams(signedOut), "revoked": streams(revoked), "expiring": streams(expiring), "kept": streams(kept), "ticketed": ticketed,
                    "refused": streams(staff),
                ]
                let all = groups.values.flatMap { $0 }
                #expect(try await SSEStream.wait(timeout: .seconds(10)) { all.allSatisfy { $0.contains("event: state") } })
                #expect(services.videoEvents.waiterCount == 30)

                // 30 streams, 6 tokens: one token statement per 100 ms interval, not one per stream or per token.
                let before = (services.videoEvents.tokenQueries, ContinuousClock.now)
                try await Task.sleep(for: .seconds(1))
                let checks = services.videoEvents.tokenQueries - before.0
                let intervals = Int(((ContinuousClock.now - before.1) / .milliseconds(100)).rounded(.up))
                #expect(checks >= 5 && checks <= intervals + 1, "\(checks) token statements in \(intervals) intervals")

                func ended(_ streams: [SSEStream], _ reason: String) -> Bool {
                    streams.allSatisfy { $0.contains("event: closed\ndata: {\"reason\":\"\(reason)\"") && $0.received.hasSuffix("0\r\n\r\n") }
                }
                func endsQuickly(_ name: String, _ reason: String, within limit: Duration = .milliseconds(800), _ action: () async throws -> Void) async throws {
                    let streams = try #require(groups[name])
                    #expect(!streams.contains { $0.contains("event: closed") }, "\(name): still open before")
                    try await action()
                    let start = ContinuousClock.now
                    let done = try await SSEStream.wait(timeout: limit + .seconds(5)) { ended(streams, reason) }
                    let elapsed = ContinuousClock.now - start
                    #expect(done, "\(name): \(streams[0].received.suffix(300))")
                    #expect(elapsed < limit, "\(name): ended \(elapsed) after the change (interval 100 ms)")
                }
                // Signed out on another replica (its own process and pool): only the database knows.
                try await endsQuickly("signed out", "token_revoked") {
                    let status = try await database.withVideoApp { clientB, _ async throws in
                        try await clientB.call(.post, "/api/auth/logout/", token: signedOut).status
                    }
                    #expect(status == .noContent)
                }
                // Revoked in MariaDB by anything else (an admin, a patient delete).
                try await endsQuickly("revoked", "token_revoked") {
                    try await database.query("UPDATE mmt_api_tokens SET revoked_at = UTC_TIMESTAMP() WHERE token_hash = \(TokenStore.hash(revoked))")
                }
                // Expired: the streams end when the token expires, by the hub's clock, within about one interval.
                let expiringStreams = try #require(groups["expiring"])
                if ContinuousClock.now < expiresAt - .milliseconds(300) {
                    #expect(!expiringStreams.contains { $0.contains("event: closed") }, "not before the expiry")
                }
                #expect(try await SSEStream.wait(timeout: .seconds(15)) { ended(expiringStreams, "token_expired") }, "\(expiringStreams[0].received.suffix(300))")
                #expect(ContinuousClock.now - expiresAt < .milliseconds(800), "ended \(ContinuousClock.now - expiresAt) after the expiry")
                // The streams opened with tickets end with the token that asked for the tickets.
                try await endsQuickly("ticketed", "token_revoked") {
                    let status = try await client.call(.post, "/api/auth/logout/", token: ticketMinter).status
                    #expect(status == .noContent)
                }
                // A user deactivated in OpenEMR: refused by the account rules, which the check applies every 5 s.
                try await endsQuickly("refused", "token_refused", within: .milliseconds(5800)) {
                    try await database.query("UPDATE users SET active = 0 WHERE username = 'frontdesk'")
                }
                try await database.query("UPDATE users SET active = 1 WHERE username = 'frontdesk'")
                #expect(try await SSEStream.wait(timeout: .seconds(2)) { services.videoEvents.waiterCount == 5 }, "\(services.videoEvents.waiterCount)")

                // The other token's streams are untouched and still hear the start; the ended ones hear nothing more.
                let keptStreams = try #require(groups["kept"])
                #expect(!keptStreams.contains { $0.contains("event: closed") })
                let provider = try await client.token("drsmith", "doctor123")
                #expect(try await client.call(.post, "/api/encounters/\(encounter)/video/start/", token: provider).status == .ok)
                #expect(try await SSEStream.wait(timeout: .seconds(5)) { keptStreams.allSatisfy { $0.contains("\"state\":\"live\"") } })
                #expect(!all.filter { $0.contains("event: closed") }.contains { $0.contains("\"state\":\"live\"") })
                for stream in all { stream.close() }
            }
        }

        /// The two statements behind the streams' token check, directly: what changed since a round (recent
        /// revocations, new tokens' expiry) and the whole rule for every token.
        @Test func tokenStatesForTheStreams() async throws {
            let database = try LiveDatabase.require()
            try await database.withVideoApp { client, services in
                let tokens = services.tokens
                let (live, revoked, expired, refused) = (
                    try await client.portalToken("patient1", "patient123"), try await client.portalToken("patient1", "patient123"),
                    try await client.portalToken("patient1", "patient123"), try await client.token("frontdesk", "front123")
                )
                let keys = [live, revoked, expired, refused].map { TokenStore.Key(TokenStore.hash($0)) }
                let unknown = TokenStore.Key(TestEnvironment.randomBytes(32))
                let first = try await tokens.changes(revokedSince: nil, new: keys + [unknown], logger: database.logger)
                for key in keys {
                    guard case .live(let remaining) = first.states[key] else {
                        Issue.record("a live token: \(String(describing: first.states[key]))")
                        continue
                    }
                    #expect(remaining > .seconds(28_000) && remaining <= .seconds(28_800), "BRIDGE_TOKEN_TTL 28800: \(remaining)")
                }
                #expect(first.states[unknown] == .ended(.revoked), "a token that is gone")
                #expect(!first.revoked.contains(keys[1]))

                try await database.query("UPDATE mmt_api_tokens SET revoked_at = UTC_TIMESTAMP() WHERE token_hash = \(keys[1].hash)")
                try await database.query("UPDATE mmt_api_tokens SET expires_at = UTC_TIMESTAMP() - INTERVAL 1 SECOND WHERE token_hash = \(keys[2].hash)")
                try await database.query("UPDATE users SET active = 0 WHERE username = 'frontdesk'")
                let round = try await tokens.changes(revokedSince: first.now, new: [], logger: database.logger)
                #expect(round.revoked.contains(keys[1]) && !round.revoked.contains(keys[0]), "revoked since the last round")
                #expect(round.states.isEmpty)
                let again = try await tokens.changes(revokedSince: round.now, new: [keys[2]], logger: database.logger)
                #expect(again.revoked.contains(keys[1]), "a minute's margin for late commits")
                #expect(again.states[keys[2]] == .ended(.expired))

                let all = try await tokens.states(of: keys + [unknown], logger: database.logger)
                #expect(all[keys[1]] == .ended(.revoked) && all[keys[2]] == .ended(.expired) && all[keys[3]] == .ended(.refused))
                #expect(all[unknown] == .ended(.revoked))
                if case .live = all[keys[0]] {} else { Issue.record("live: \(String(describing: all[keys[0]]))") }
                try await database.query("UPDATE users SET active = 1 WHERE username = 'frontdesk'")
            }
        }

        // MARK: Gap 4: repeating appointments set the join window

        /// Appointments that repeat (weekly, "repeats on" the nth week day, days of the week) set the window of a
        /// date-only encounter on a day one of their occurrences falls on; an occurrence listed in `exdate`, and a
        /// series with no occurrence that day, do not.
        @Test func repeatingAppointmentsSetTheWindowOnTheirDays() async throws {
            let database = try LiveDatabase.require()
            try await database.setGlobal("gbl_time_zone", "UTC")
            let todayText = LiveDatabase.dayText()
            let today = AppointmentRecurrenceTests.day(todayText)
            let spec = AppointmentRecurrenceTests.spec
            let nth = min(5, (today.day - 1) / 7 + 1)
            // (encounter, pid, pc_recurrtype, pc_recurrspec, pc_eventDate, expected source)
            let cases: [(Int, Int, Int, [UInt8], CalendarDay, String)] = [
                (900_080, 4, 1, spec(["event_repeat_freq": "1", "event_repeat_freq_type": "1", "exdate": ""]), today.adding(days: -14), "appointment"),
                (900_081, 5, 1, spec(["event_repeat_freq": "1", "event_repeat_freq_type": "1", "exdate": "\(today.compact)"]), today.adding(days: -14), "encounter_day"),
                (900_082, 6, 1, spec(["event_repeat_freq": "2", "event_repeat_freq_type": "1", "exdate": ""]), today.adding(days: -7), "encounter_day"),
                (
                    900_083, 7, 2, spec(["event_repeat_on_freq": "1", "event_repeat_on_num": "\(nth)", "event_repeat_on_day": "\(today.weekday)", "exdate": "", "rt2_pf_flag": "1"]),
                    today.adding(days: -40), "appointment"
                ),
                (900_084, 8, 3, spec(["event_repeat_freq": "\(today.weekday + 1)", "event_repeat_freq_type": "6", "exdate": ""]), today.adding(days: -10), "appointment"),
            ]
            for (encounter, pid, type, recurrspec, start, _) in cases {
                try await database.makeEncounter(encounter, pid: pid, date: todayText + " 00:00:00")
                try await database.query(
                    """
                    INSERT INTO openemr_postcalendar_events (pc_catid, pc_multiple, pc_aid, pc_pid, pc_title, pc_eventDate, pc_endDate, pc_startTime,
                                                             pc_duration, pc_recurrtype, pc_recurrspec, pc_apptstatus, pc_facility)
                    VALUES (5, 0, '2', \(String(pid)), 'Video follow-up', \(start.description), \(today.adding(days: 60).description), '10:30:00', 900,
                            \(type), \(String(decoding: recurrspec, as: UTF8.self)), '-', 1)
                    """
                )
            }
            try await database.withVideoApp { client, services in
                services.globals.invalidate()
                let admin = try await client.token("admin", "pass")
                for (encounter, pid, type, _, _, expected) in cases {
                    let response = try await client.call(.get, "/api/encounters/\(encounter)/video/", token: admin)
                    #expect(response.status == .ok, "\(response.text)")
                    let window = response.json["window"]
                    #expect(window["source"].string == expected, "pid \(pid), type \(type): \(window)")
                    if expected == "appointment" {
                        #expect(window["start"].string == todayText + "T10:30:00Z", "pid \(pid), type \(type): \(window)")
                        #expect(window["opens_at"].string == todayText + "T10:20:00Z")
                    } else {
                        #expect(window["start"].string == todayText + "T00:00:00Z", "pid \(pid), type \(type): \(window)")
                    }
                }
            }
        }

        // MARK: Gap 3: `emr-bridge mint-token` is audited

        struct CLIRun: Sendable {
            var status: Int32
            var stdout: String
            var stderr: String
        }

        static func mintToken(_ arguments: [String], environment: [String: String]) async throws -> CLIRun {
            let output = try await TestEnvironment.execute(TestEnvironment.bridgeBinary, ["mint-token"] + arguments, environment: environment)
            return CLIRun(status: output.status, stdout: String(decoding: output.stdout, as: UTF8.self), stderr: output.stderr)
        }

        /// The command writes its audit row (OpenEMR's log, through the API's `AuditLogger`) before it prints the
        /// token; with no database configured or reachable it prints no token and exits 2; `--verify` needs no
        /// database.
        @Test func mintTokenCommandIsAuditedAndRefusesWithoutADatabase() async throws {
            let database = try LiveDatabase.require()
            let jitsi = LiveDatabase.videoEnvironment.merging(["LOG_LEVEL": "error", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "USER": "cli-tester"]) { $1 }
            let environment = try database.environment().merging(jitsi) { $1 }
            let room = "v-cli" + TestEnvironment.randomHex(bytes: 6)
            let before = try await database.count("log", "event = 'video-token-mint'")

            let minted = try await Self.mintToken([room, "Dr Q. Test", "", "--moderator", "--ttl", "600"], environment: environment)
            #expect(minted.status == 0, "\(minted.stderr)")
            let lines = minted.stdout.split(separator: "\n").map(String.init)
            try #require(lines.count == 2, "\(minted.stdout)")
            let token = lines[0]
            #expect(lines[1] == "https://meet.example.com/\(room)?jwt=\(token)")
            let verdict = try await PyJWT.judge([
                .init(token: token, key: LiveDatabase.jitsiSecret, issuers: ["emrbridge"], audiences: ["jitsi"], room: room, sub: "meet.jitsi")
            ])[0]
            #expect(verdict["ok"].bool == true && verdict["moderator"].bool == true, "\(verdict)")
            #expect(try await database.count("log", "event = 'video-token-mint'") == before + 1)
            let fingerprint = String(Digest.sha256Hex(token).prefix(16))
            let row = try #require(
                try await database.client.query(
                    "SELECT user, groupname, category, patient_id, success, FROM_BASE64(comments) AS c FROM log WHERE event = 'video-token-mint' ORDER BY id DESC LIMIT 1",
                    logger: database.logger
                ).first
            )
            #expect(try row.decode("user", as: String.self) == "emr-bridge")
            #expect(try row.decode("category", as: String.self) == "Video Visit")
            #expect(try row.decode("patient_id", as: Int?.self) == nil)
            let comments = try row.decode("c", as: String.self)
            #expect(comments.contains("moderator token for room \(room)") && comments.contains("token sha256 \(fingerprint)"), "\(comments)")
            #expect(comments.contains("os user cli-tester") && !comments.contains(token), "\(comments)")
            // The row verifies like OpenEMR's own (the checksum row exists, version 4).
            #expect(try await database.count("log_comment_encrypt", "log_id = (SELECT MAX(id) FROM log WHERE event = 'video-token-mint') AND version = 4") == 1)

            // --user names an active OpenEMR user; an unknown one is refused before anything is minted.
            let asUser = try await Self.mintToken([room, "Pat", "pat@example.org", "--user", "drsmith"], environment: environment)
            #expect(asUser.status == 0, "\(asUser.stderr)")
            #expect(try await database.string("SELECT user AS v FROM log WHERE event = 'video-token-mint' ORDER BY id DESC LIMIT 1") == "drsmith")
            #expect(try await database.string("SELECT FROM_BASE64(comments) AS v FROM log WHERE event = 'video-token-mint' ORDER BY id DESC LIMIT 1")?.contains("pat@example.org") == false)
            let unknown = try await Self.mintToken([room, "Pat", "", "--user", "nobody-here"], environment: environment)
            #expect(unknown.status == 2 && unknown.stdout.isEmpty, "\(unknown)")

            // No database reachable (nothing listens on port 1), or none configured: no token, exit 2, and why.
            let unreachable = try await Self.mintToken([room, "Dr Q. Test", ""], environment: environment.merging(["DB_PORT": "1", "DB_CONNECT_TIMEOUT": "2"]) { $1 })
            #expect(unreachable.status == 2, "\(unreachable)")
            #expect(unreachable.stdout.isEmpty, "no token without its audit row: \(unreachable.stdout)")
            #expect(unreachable.stderr.contains("not minted"), "\(unreachable.stderr)")
            var unconfigured = environment
            unconfigured["DB_PASSWORD"] = nil
            let noDatabase = try await Self.mintToken([room, "Dr Q. Test", ""], environment: unconfigured)
            #expect(noDatabase.status == 2 && noDatabase.stdout.isEmpty && noDatabase.stderr.contains("not minted"), "\(noDatabase)")
            #expect(try await database.count("log", "event = 'video-token-mint'") == before + 2)

            // --verify: no database needed, nothing written.
            let verified = try await Self.mintToken(["--verify", token], environment: unconfigured)
            #expect(verified.status == 0 && verified.stdout.contains("prosody: accepted; moderator: yes"), "\(verified)")
            #expect(try await database.count("log", "event = 'video-token-mint'") == before + 2)
        }
    }
}
