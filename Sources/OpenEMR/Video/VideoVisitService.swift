public import Foundation
public import Logging
public import MariaDB
import PasswordCrypt

/// A visit as the API shows it.
public struct VideoVisitStatus: Sendable, Encodable, Equatable {
    public struct Window: Sendable, Encodable, Equatable {
        public var start: String?
        public var opensAt: String?
        public var closesAt: String?
        public var source: JoinWindow.Source
        public var open: Bool

        enum CodingKeys: String, CodingKey { case start, opensAt = "opens_at", closesAt = "closes_at", source, open }
    }

    public var encounter: Int
    /// `scheduled`, `live` or `ended`.
    public var state: String
    /// False when the provider disabled video for this encounter.
    public var enabled: Bool
    /// The patient may join now: live, enabled and inside the window.
    public var ready: Bool
    /// The room name (not for patients: they get it inside their token and meeting URL).
    public var room: String?
    public var window: Window
    public var startedAt: String?
    public var endedAt: String?
    /// The change number (the `id` of the event stream).
    public var version: Int64

    enum CodingKeys: String, CodingKey {
        case encounter, state, enabled, ready, room, window, startedAt = "started_at", endedAt = "ended_at", version
    }
}

/// A token for one participant, with where to use it.
public struct VideoSession: Sendable, Encodable {
    public var visit: VideoVisitStatus
    public var token: String
    public var meetingUrl: String
    public var expiresAt: String?
    public var moderator: Bool
    /// For Jitsi's IFrame API: `domain` and the `options` of `new JitsiMeetExternalAPI(domain, options)`.
    public var iframe: TokenJSON

    enum CodingKeys: String, CodingKey { case visit, token, meetingUrl = "meeting_url", expiresAt = "expires_at", moderator, iframe }
}

/// A join link for the patient (e-mail, SMS).
public struct VideoInvite: Sendable, Encodable {
    public var visit: VideoVisitStatus
    public var inviteUrl: String
    public var token: String
    public var expiresAt: String?

    enum CodingKeys: String, CodingKey { case visit, inviteUrl = "invite_url", token, expiresAt = "expires_at" }
}

/// One change seen by the event poller.
public struct VideoVisitChange: Sendable, Equatable {
    public var encounter: Int
    public var state: String
    public var enabled: Bool
    public var version: Int64

    public init(encounter: Int, state: String, enabled: Bool, version: Int64) {
        self.encounter = encounter
        self.state = state
        self.enabled = enabled
        self.version = version
    }

    /// The `data:` JSON of a Server-Sent Event (no patient data: numbers and states only).
    public var json: String {
        "{\"encounter\":\(encounter),\"state\":\"\(state)\",\"enabled\":\(enabled),\"ready\":\(state == "live" && enabled),\"version\":\(version)}"
    }
}

/// Video visits for encounters (issue 16): one Jitsi room per encounter, the join window, the state machine
/// scheduled → live → ended, tokens Prosody accepts, per-facility settings, and event-stream tickets. Every start,
/// join, end, invite, mint and setting change is audited in OpenEMR's log in the same transaction.
public struct VideoVisitService: Sendable {
    let database: MariaDBClient
    let audit: AuditLogger
    let globals: OpenEMRGlobalsCache
    /// The `JITSI_*` environment.
    public let base: JitsiSettings
    let baseSigner: JitsiSigner?
    let demo: Bool

    public init(database: MariaDBClient, audit: AuditLogger, globals: OpenEMRGlobalsCache, settings: JitsiSettings, demo: Bool) {
        self.database = database
        self.audit = audit
        self.globals = globals
        self.base = settings
        self.baseSigner = settings.isConfigured ? try? JitsiSigner(settings: settings) : nil
        self.demo = demo
    }

    // MARK: Errors

    static let notConfigured = OpenEMRError(
        .unavailable, code: "video_not_configured", message: "Video visits are not configured for this encounter's facility."
    )
    static let ended = OpenEMRError(.gone, code: "visit_ended", message: "This video visit has ended.")
    static let disabled = OpenEMRError.conflict("Video is disabled for this encounter.", code: "video_disabled")
    static let notReady = OpenEMRError.conflict("The provider has not started the visit yet.", code: "room_not_ready")
    static func outside(_ window: JoinWindow) -> OpenEMRError {
        OpenEMRError(
            .forbidden, code: "outside_window", message: "The visit can only be joined inside its window.",
            details: ["opens_at": UTCTime.iso(window.opens) ?? "", "closes_at": UTCTime.iso(window.closes) ?? ""]
        )
    }

    // MARK: What a request works on

    struct Encounter: Sendable {
        var encounter: Int
        var pid: Int
        var providerID: Int?
        var facilityID: Int?
        var date: MariaDBDateTime
    }

    struct Visit: Sendable {
        var room: String
        var state: String
        var enabled: Bool
        var startedAt: Date?
        var autoEndAt: Date?
        var endedAt: Date?
        var appointmentEID: Int?
        var version: Int64
    }

    struct Loaded: Sendable {
        var encounter: Encounter
        var visit: Visit
        var settings: JitsiSettings
        var window: JoinWindow
        var appointmentEID: Int?
    }

    enum Access {
        /// Read the state, open the event stream.
        case read
        /// Start, end, invite, enable/disable: the encounter's provider or an admin.
        case host
        /// Join as participant: the encounter's patient, staff or an admin.
        case join
    }

    static func authorize(_ identity: Identity, _ access: Access, _ encounter: Encounter) throws {
        let isPatient = identity.role == .patient
        // Another patient's encounter does not exist for a patient.
        if isPatient && identity.pid != encounter.pid { throw OpenEMRError.notFound() }
        let isOwnProvider = identity.userID != nil && identity.userID == encounter.providerID && identity.role != .patient
        switch access {
        case .read:
            switch identity.role {
            case .admin, .staff, .patient: return
            case .provider where isOwnProvider: return
            default: throw OpenEMRError.forbidden("Only the encounter's provider, staff or an admin may see this visit.", code: "not_encounter_provider")
            }
        case .host:
            guard identity.role == .admin || (identity.role == .provider && isOwnProvider) else {
                throw OpenEMRError.forbidden("Only the encounter's provider or an admin may do this.", code: "not_encounter_provider")
            }
        case .join:
            switch identity.role {
            case .admin, .staff, .patient: return
            default: throw OpenEMRError.forbidden("The provider starts the visit (POST …/video/start/).", code: "use_start")
            }
        }
    }

    /// Loads the encounter, authorizes, creates the visit row on first use, and reads its settings, window and
    /// appointment, on `connection` (inside its transaction). `lock`: `FOR UPDATE` on the visit row.
    func load(_ number: Int, by identity: Identity, access: Access, lock: Bool, on connection: MariaDBConnection) async throws -> Loaded {
        guard
            let row = try await connection.query(
                "SELECT encounter, pid, provider_id, facility_id, date FROM form_encounter WHERE encounter = \(number) ORDER BY id LIMIT 1"
            ).first
        else { throw OpenEMRError.notFound() }
        let encounter = Encounter(
            encounter: number, pid: try row.decode("pid", as: Int?.self) ?? 0, providerID: try row.decode("provider_id", as: Int?.self),
            facilityID: try row.decode("facility_id", as: Int?.self),
            date: try row.decode("date", as: MariaDBDateTime?.self) ?? MariaDBDateTime(year: 0, month: 0, day: 0)
        )
        try Self.authorize(identity, access, encounter)
        let settings = try await effectiveSettings(facility: encounter.facilityID, on: connection)
        guard settings.isConfigured, (try? JitsiSigner(settings: settings)) != nil else { throw Self.notConfigured }
        let select: MariaDBQuery = """
            SELECT room, state, enabled, started_at, auto_end_at, ended_at, appointment_eid, version FROM mmt_video_visits
            WHERE encounter = \(number)\(unescaped: lock ? " FOR UPDATE" : "")
            """
        var found = try await connection.query(select).first
        if found == nil {
            // First use: the room is made here, once (a concurrent first use keeps the one that won).
            let now = UTCTime.value(Date())
            try await connection.query(
                "INSERT IGNORE INTO mmt_video_visits (encounter, room, created_at, updated_at) VALUES (\(number), \(VideoRoom.random()), \(now), \(now))"
            )
            // A locking read: it sees the row another transaction committed after this one's snapshot.
            found = try await connection.query(
                "SELECT room, state, enabled, started_at, auto_end_at, ended_at, appointment_eid, version FROM mmt_video_visits WHERE encounter = \(number)\(unescaped: lock ? " FOR UPDATE" : " LOCK IN SHARE MODE")"
            ).first
        }
        guard let visitRow = found else { throw OpenEMRError.inconsistent("video visit row missing after insert") }
        let visit = Visit(
            room: try visitRow.decode("room", as: String.self), state: try visitRow.decode("state", as: String.self),
            enabled: try visitRow.decode("enabled", as: Bool.self), startedAt: UTCTime.date(try visitRow.decode("started_at", as: MariaDBDateTime?.self)),
            autoEndAt: UTCTime.date(try visitRow.decode("auto_end_at", as: MariaDBDateTime?.self)),
            endedAt: UTCTime.date(try visitRow.decode("ended_at", as: MariaDBDateTime?.self)),
            appointmentEID: try visitRow.decode("appointment_eid", as: Int?.self), version: try visitRow.decode("version", as: Int64.self)
        )
        // The matching appointment: that patient, that provider, that day; the one nearest the encounter's time. A
        // repeating appointment matches when one of its occurrences, expanded as OpenEMR's calendar expands it, falls
        // on that day (the rows are those OpenEMR's fetchEvents() reads for a one-day range).
        let day = MariaDBDateTime.date(year: encounter.date.year, month: encounter.date.month, day: encounter.date.day)
        let candidates = try await connection.query(
            """
            SELECT pc_eid, pc_eventDate, pc_endDate, pc_startTime, pc_alldayevent, pc_recurrtype, pc_recurrspec FROM openemr_postcalendar_events
            WHERE pc_pid = \(String(encounter.pid)) AND pc_aid = \(String(encounter.providerID ?? -1))
              AND (pc_eventDate = \(day) OR (pc_recurrtype > 0 AND pc_eventDate <= \(day) AND pc_endDate >= \(day)))
              AND pc_apptstatus NOT IN ('x', '%', '?')
            ORDER BY ABS(TIME_TO_SEC(TIMEDIFF(COALESCE(pc_startTime, '00:00:00'), TIME(\(encounter.date))))), pc_eid LIMIT 200
            """
        )
        let openEMR = try await globals.current(on: connection)
        let timeZone = openEMR.timeZone
        var appointment: (eid: Int, recurring: Bool, facts: (date: MariaDBDateTime, time: MariaDBTime?, allDay: Bool))?
        if let encounterDay = CalendarDay(year: encounter.date.year, month: encounter.date.month, day: encounter.date.day) {
            for row in candidates.rows {
                let type = try row.decode("pc_recurrtype", as: Int.self)
                if type != 0 {
                    let start = try row.decode("pc_eventDate", as: MariaDBDateTime?.self).flatMap { CalendarDay(year: $0.year, month: $0.month, day: $0.day) }
                    let end = try row.decode("pc_endDate", as: MariaDBDateTime?.self).flatMap { CalendarDay(year: $0.year, month: $0.month, day: $0.day) }
                    guard let start, let recurrence = AppointmentRecurrence.parse(recurrType: type, spec: try row.decode("pc_recurrspec", as: [UInt8]?.self)),
                        recurrence.occurs(on: encounterDay, start: start, end: end, weekendDays: openEMR.weekendDays)
                    else { continue }
                }
                appointment = (
                    eid: try row.decode("pc_eid", as: Int.self), recurring: type != 0,
                    facts: (date: day, time: try row.decode("pc_startTime", as: MariaDBTime?.self), allDay: try row.decode("pc_alldayevent", as: Int.self) == 1)
                )
                break
            }
        }
        guard
            let window = JoinWindow.of(
                encounterDate: encounter.date, appointment: appointment?.facts, timeZone: timeZone, before: settings.windowBefore, after: settings.windowAfter
            )
        else { throw OpenEMRError.conflict("The encounter has no valid date.", code: "encounter_without_date") }
        return Loaded(
            encounter: encounter, visit: visit, settings: settings, window: window,
            // One occurrence of a repeating appointment is not moved to "in exam room": its status is the whole
            // series' (OpenEMR's calendar first splits the occurrence off, which the bridge does not do).
            appointmentEID: appointment.flatMap { $0.recurring ? nil : $0.eid }
        )
    }

    /// The state a reader sees: a live visit past its `auto_end_at` has ended.
    static func state(_ visit: Visit, now: Date) -> String {
        if visit.state == "live", let autoEnd = visit.autoEndAt, autoEnd <= now { return "ended" }
        return visit.state
    }

    func status(_ loaded: Loaded, identity: Identity, now: Date) -> VideoVisitStatus {
        let state = Self.state(loaded.visit, now: now)
        let open = loaded.window.contains(now)
        return VideoVisitStatus(
            encounter: loaded.encounter.encounter, state: state, enabled: loaded.visit.enabled, ready: state == "live" && loaded.visit.enabled && open,
            room: identity.role == .patient ? nil : loaded.visit.room,
            window: .init(
                start: UTCTime.iso(loaded.window.start), opensAt: UTCTime.iso(loaded.window.opens), closesAt: UTCTime.iso(loaded.window.closes),
                source: loaded.window.source, open: open
            ),
            startedAt: UTCTime.iso(loaded.visit.startedAt), endedAt: UTCTime.iso(loaded.visit.endedAt), version: loaded.visit.version
        )
    }

    /// Takes the next change number and stamps the visit with it: the last statement of the transaction (see the
    /// migration: the counter's row lock orders the numbers by commit).
    static func bumpVersion(_ encounter: Int, on connection: MariaDBConnection) async throws -> Int64 {
        let results = try await connection.queries([
            "UPDATE mmt_video_version SET version = LAST_INSERT_ID(version + 1) WHERE id = 1",
            "UPDATE mmt_video_visits SET version = LAST_INSERT_ID(), updated_at = UTC_TIMESTAMP() WHERE encounter = \(encounter)",
            "SELECT LAST_INSERT_ID() AS v",
        ])
        guard let version = try results.last?.first?.decode("v", as: Int64.self) else {
            throw OpenEMRError.inconsistent("mmt_video_version has no row")
        }
        return version
    }

    func event(_ name: String, by identity: Identity, _ loaded: Loaded, _ comments: String) -> AuditEvent {
        AuditEvent(
            name, category: "Video Visit", by: identity, patientID: loaded.encounter.pid,
            comments: "emr-bridge video \(comments) encounter \(loaded.encounter.encounter)"
        )
    }

    /// A live visit past its maximum duration is ended (audited as the system) before anything else happens to it.
    func endIfOverdue(_ loaded: inout Loaded, now: Date, on connection: MariaDBConnection) async throws {
        guard loaded.visit.state == "live", Self.state(loaded.visit, now: now) == "ended" else { return }
        try await markEnded(&loaded, by: nil, now: loaded.visit.autoEndAt ?? now, on: connection)
    }

    private func markEnded(_ loaded: inout Loaded, by identity: Identity?, now: Date, on connection: MariaDBConnection) async throws {
        loaded.visit.version = try await Self.markEnded(
            encounter: loaded.encounter.encounter, pid: loaded.encounter.pid, appointmentEID: loaded.settings.appointmentStatus ? loaded.visit.appointmentEID : nil,
            by: identity, now: now, audit: audit, on: connection
        )
        loaded.visit.state = "ended"
        loaded.visit.endedAt = now
    }

    /// Ends a visit (by `identity`, or by the service when nil: its maximum duration passed), moves its appointment
    /// to "checked out" when given, audits, and returns the new change number.
    static func markEnded(
        encounter: Int, pid: Int, appointmentEID: Int?, by identity: Identity?, now: Date, audit: AuditLogger, on connection: MariaDBConnection
    ) async throws -> Int64 {
        try await connection.query(
            "UPDATE mmt_video_visits SET state = 'ended', ended_at = \(UTCTime.value(now)), ended_by = \(identity?.username ?? "emr-bridge (max duration)") WHERE encounter = \(encounter)"
        )
        var comment = identity == nil ? "auto-end (max duration)" : "end"
        if let eid = appointmentEID {
            try await connection.query("UPDATE openemr_postcalendar_events SET pc_apptstatus = '>' WHERE pc_eid = \(eid)")
            comment += ", appointment \(eid) checked out"
        }
        let comments = "emr-bridge video \(comment) encounter \(encounter)"
        let row =
            identity.map { AuditEvent("video-visit-end", category: "Video Visit", by: $0, patientID: pid, comments: comments) }
            ?? AuditEvent(event: "video-visit-end", category: "Video Visit", user: "emr-bridge", groupName: "Default", patientID: pid, success: true, comments: comments)
        try await audit.write([row], on: connection)
        return try await bumpVersion(encounter, on: connection)
    }

    /// A transaction, run again (up to 3 times) when InnoDB picks it as a deadlock victim (1213) or times out a row
    /// lock (1205): first uses of one visit by many clients at once race on the same new row.
    func transaction<Result: Sendable>(logger: Logger, _ body: (MariaDBConnection) async throws -> Result) async throws -> Result {
        var attempt = 0
        while true {
            do {
                return try await database.withTransaction(logger: logger, body)
            } catch let error as MariaDBError where (error.serverErrorNumber == 1213 || error.serverErrorNumber == 1205) && attempt < 3 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(5 * attempt))
            }
        }
    }

    // MARK: Operations

    /// `GET …/video/`: the visit's state and window (creates its room on first use).
    public func status(encounter: Int, by identity: Identity, now: Date = Date(), logger: Logger) async throws -> VideoVisitStatus {
        try await transaction(logger: logger) { connection in
            var loaded = try await load(encounter, by: identity, access: .read, lock: false, on: connection)
            try await endIfOverdue(&loaded, now: now, on: connection)
            return status(loaded, identity: identity, now: now)
        }
    }

    /// `POST …/video/start/`: the encounter's provider (or an admin) opens the room inside the window; the visit
    /// becomes `live` and the answer carries a moderator token. Starting a live visit again mints a new token.
    public func start(encounter: Int, by identity: Identity, now: Date = Date(), logger: Logger) async throws -> VideoSession {
        try await transaction(logger: logger) { connection in
            var loaded = try await load(encounter, by: identity, access: .host, lock: true, on: connection)
            try await endIfOverdue(&loaded, now: now, on: connection)
            guard loaded.visit.state != "ended" else { throw Self.ended }
            guard loaded.visit.enabled else { throw Self.disabled }
            guard loaded.window.contains(now) else { throw Self.outside(loaded.window) }
            var comment = "start (moderator token minted)"
            if loaded.visit.state == "scheduled" {
                let started = UTCTime.value(now)
                let autoEnd = UTCTime.value(now + TimeInterval(loaded.settings.maxDuration))
                var eid: Int?
                if loaded.settings.appointmentStatus, let appointment = loaded.appointmentEID {
                    try await connection.query("UPDATE openemr_postcalendar_events SET pc_apptstatus = '<' WHERE pc_eid = \(appointment)")
                    eid = appointment
                    comment += ", appointment \(appointment) in exam room"
                }
                try await connection.query(
                    """
                    UPDATE mmt_video_visits SET state = 'live', started_at = \(started), started_by = \(identity.username), auto_end_at = \(autoEnd),
                           appointment_eid = \(eid) WHERE encounter = \(encounter)
                    """
                )
                loaded.visit.state = "live"
                loaded.visit.startedAt = now
                loaded.visit.autoEndAt = now + TimeInterval(loaded.settings.maxDuration)
            } else {
                comment = "rejoin (moderator token minted)"
            }
            let user = try await providerUser(loaded, identity: identity, on: connection)
            let session = try mint(loaded, user: user, identity: identity, now: now)
            try await audit.write([event("video-visit-start", by: identity, loaded, comment)], on: connection)
            if comment.hasPrefix("start") { loaded.visit.version = try await Self.bumpVersion(encounter, on: connection) }
            var result = session
            result.visit = status(loaded, identity: identity, now: now)
            return result
        }
    }

    /// `POST …/video/join/`: the encounter's patient (or staff, or an admin) gets a participant token once the
    /// provider started the visit: 410 once ended, 409 `video_disabled`, 403 `outside_window`, 409 `room_not_ready`.
    public func join(encounter: Int, by identity: Identity, now: Date = Date(), logger: Logger) async throws -> VideoSession {
        try await transaction(logger: logger) { connection in
            var loaded = try await load(encounter, by: identity, access: .join, lock: true, on: connection)
            try await endIfOverdue(&loaded, now: now, on: connection)
            guard loaded.visit.state != "ended" else { throw Self.ended }
            guard loaded.visit.enabled else { throw Self.disabled }
            guard loaded.window.contains(now) else { throw Self.outside(loaded.window) }
            guard loaded.visit.state == "live" else { throw Self.notReady }
            let user = try await participantUser(loaded, identity: identity, on: connection)
            let session = try mint(loaded, user: user, identity: identity, now: now)
            try await audit.write([event("video-visit-join", by: identity, loaded, "join (participant token minted)")], on: connection)
            return session
        }
    }

    /// `POST …/video/end/`: the provider (or an admin) ends the visit; later joins are refused (410).
    public func end(encounter: Int, by identity: Identity, now: Date = Date(), logger: Logger) async throws -> VideoVisitStatus {
        try await transaction(logger: logger) { connection in
            var loaded = try await load(encounter, by: identity, access: .host, lock: true, on: connection)
            try await endIfOverdue(&loaded, now: now, on: connection)
            guard loaded.visit.state != "ended" else { throw Self.ended }
            try await markEnded(&loaded, by: identity, now: now, on: connection)
            return status(loaded, identity: identity, now: now)
        }
    }

    /// `POST …/video/invite/`: a join link for the patient: a participant token for this room that expires no later
    /// than the window's end.
    public func invite(encounter: Int, by identity: Identity, now: Date = Date(), logger: Logger) async throws -> VideoInvite {
        try await transaction(logger: logger) { connection in
            var loaded = try await load(encounter, by: identity, access: .host, lock: true, on: connection)
            try await endIfOverdue(&loaded, now: now, on: connection)
            guard loaded.visit.state != "ended" else { throw Self.ended }
            guard loaded.visit.enabled else { throw Self.disabled }
            guard now < loaded.window.closes else { throw Self.outside(loaded.window) }
            let patient = try await patientUser(loaded, on: connection)
            let signer = try signer(for: loaded.settings)
            let nowSeconds = Int(now.timeIntervalSince1970)
            let closes = Int(loaded.window.closes.timeIntervalSince1970)
            let claims = JitsiClaims(
                room: loaded.visit.room, user: patient, issuedAt: nowSeconds,
                notBefore: JitsiClaims.notBefore(windowOpens: Int(loaded.window.opens.timeIntervalSince1970), now: nowSeconds), expiresAt: closes,
                features: JitsiClaims.features(moderator: false, recording: false)
            )
            let token = try signer.mint(claims)
            try await audit.write([event("video-visit-invite", by: identity, loaded, "invite (participant token minted)")], on: connection)
            return VideoInvite(
                visit: status(loaded, identity: identity, now: now), inviteUrl: loaded.settings.meetingURL(room: loaded.visit.room, token: token), token: token,
                expiresAt: UTCTime.iso(loaded.window.closes)
            )
        }
    }

    /// `PATCH …/video/` `{"enabled": false}`: the provider disables (or re-enables) video for the encounter. A live
    /// visit must be ended first.
    public func setEnabled(_ enabled: Bool, encounter: Int, by identity: Identity, now: Date = Date(), logger: Logger) async throws -> VideoVisitStatus {
        try await transaction(logger: logger) { connection in
            var loaded = try await load(encounter, by: identity, access: .host, lock: true, on: connection)
            try await endIfOverdue(&loaded, now: now, on: connection)
            guard loaded.visit.enabled != enabled else { return status(loaded, identity: identity, now: now) }
            if !enabled && loaded.visit.state == "live" {
                throw OpenEMRError.conflict("End the live visit before disabling video.", code: "visit_live")
            }
            try await connection.query("UPDATE mmt_video_visits SET enabled = \(enabled) WHERE encounter = \(encounter)")
            loaded.visit.enabled = enabled
            try await audit.write([event("video-visit-update", by: identity, loaded, enabled ? "enabled" : "disabled")], on: connection)
            loaded.visit.version = try await Self.bumpVersion(encounter, on: connection)
            return status(loaded, identity: identity, now: now)
        }
    }

    // MARK: Tokens

    func signer(for settings: JitsiSettings) throws -> JitsiSigner {
        if settings == base, let baseSigner { return baseSigner }
        do { return try JitsiSigner(settings: settings) } catch { throw Self.notConfigured }
    }

    /// A token for `user` in the loaded visit's room: `nbf` the window's opening (at most a minute before now), `exp`
    /// now + TTL but never past the window's end.
    func mint(_ loaded: Loaded, user: JitsiUser, identity: Identity, now: Date) throws -> VideoSession {
        let settings = loaded.settings
        let signer = try signer(for: settings)
        let nowSeconds = Int(now.timeIntervalSince1970)
        let expires = min(nowSeconds + settings.tokenTTL, Int(loaded.window.closes.timeIntervalSince1970))
        let claims = JitsiClaims(
            room: loaded.visit.room, user: user, issuedAt: nowSeconds,
            notBefore: JitsiClaims.notBefore(windowOpens: Int(loaded.window.opens.timeIntervalSince1970), now: nowSeconds), expiresAt: expires,
            features: JitsiClaims.features(moderator: user.moderator, recording: settings.recordingEnabled)
        )
        let token = try signer.mint(claims)
        return VideoSession(
            visit: status(loaded, identity: identity, now: now), token: token, meetingUrl: settings.meetingURL(room: loaded.visit.room, token: token),
            expiresAt: UTCTime.iso(Date(timeIntervalSince1970: TimeInterval(expires))), moderator: user.moderator,
            iframe: Self.iframeOptions(settings: settings, room: loaded.visit.room, token: token, user: user)
        )
    }

    /// The IFrame API options a telehealth page needs (REFERENCE.md §11): no prejoin screen unless configured, no
    /// lobby button, no invite functions, mute as configured, name from the token, nothing stored or sent to third
    /// parties.
    static func iframeOptions(settings: JitsiSettings, room: String, token: String, user: JitsiUser) -> TokenJSON {
        var buttons = ["camera", "microphone", "chat", "tileview", "settings", "fullscreen", "hangup"]
        if user.moderator { buttons.insert("desktop", at: 2) }
        if user.moderator && settings.recordingEnabled { buttons.append("recording") }
        let config: [String: TokenJSON] = [
            "prejoinConfig": .object(["enabled": .bool(settings.prejoin)]),
            "disableInviteFunctions": .bool(true),
            "securityUi": .object(["hideLobbyButton": .bool(true), "disableLobbyPassword": .bool(true)]),
            "lobby": .object(["autoKnock": .bool(true), "enableChat": .bool(false)]),
            "startWithAudioMuted": .bool(settings.startAudioMuted),
            "startWithVideoMuted": .bool(settings.startVideoMuted),
            "readOnlyName": .bool(true),
            "doNotStoreRoom": .bool(true),
            "disableThirdPartyRequests": .bool(true),
            "gravatar": .object(["disabled": .bool(true)]),
            "analytics": .object(["disabled": .bool(true)]),
            "disableDeepLinking": .bool(true),
            "hideConferenceSubject": .bool(true),
            "disableProfile": .bool(true),
            "breakoutRooms": .object(["hideAddRoomButton": .bool(true)]),
            "toolbarButtons": .array(buttons.map(TokenJSON.string)),
        ]
        let roomName = settings.algorithm == .jaas ? settings.appID + "/" + room : room
        return .object([
            "domain": .string(settings.domain),
            "options": .object([
                "roomName": .string(roomName), "jwt": .string(token), "configOverwrite": .object(config),
                "interfaceConfigOverwrite": .object(["SHOW_JITSI_WATERMARK": .bool(false), "SHOW_PROMOTIONAL_CLOSE_PAGE": .bool(false)]),
                "userInfo": .object(["displayName": .string(user.name)]),
            ]),
        ])
    }

    /// An opaque, stable participant id: no pid, no username in the token.
    static func opaqueID(room: String, subject: String) -> String {
        "u-" + String(Digest.hex(Digest.sha256(Array((room + "|" + subject).utf8))).prefix(24))
    }

    func providerUser(_ loaded: Loaded, identity: Identity, on connection: MariaDBConnection) async throws -> JitsiUser {
        let row = try await connection.query("SELECT fname, lname, email FROM users WHERE id = \(identity.userID ?? -1)").first
        let name = [try row?.decode("fname", as: String?.self), try row?.decode("lname", as: String?.self)].compactMap { $0 }
            .filter { !$0.isEmpty }.joined(separator: " ")
        let email = loaded.settings.includeProviderEmail ? try row?.decode("email", as: String?.self).flatMap { $0.isEmpty ? nil : $0 } : nil
        return JitsiUser(
            id: Self.opaqueID(room: loaded.visit.room, subject: "user:\(identity.userID ?? 0)"), name: name.isEmpty ? identity.username : name,
            email: email, moderator: true
        )
    }

    func patientUser(_ loaded: Loaded, on connection: MariaDBConnection) async throws -> JitsiUser {
        let row = try await connection.query("SELECT fname, lname FROM patient_data WHERE pid = \(loaded.encounter.pid)").first
        let name = [try row?.decode("fname", as: String?.self), try row?.decode("lname", as: String?.self)].compactMap { $0 }
            .filter { !$0.isEmpty }.joined(separator: " ")
        // Never the patient's e-mail: Jitsi shows user fields to every participant.
        return JitsiUser(id: Self.opaqueID(room: loaded.visit.room, subject: "patient"), name: name.isEmpty ? "Patient" : name, moderator: false)
    }

    func participantUser(_ loaded: Loaded, identity: Identity, on connection: MariaDBConnection) async throws -> JitsiUser {
        if identity.role == .patient { return try await patientUser(loaded, on: connection) }
        let name = [identity.fname, identity.lname].filter { !$0.isEmpty }.joined(separator: " ")
        return JitsiUser(
            id: Self.opaqueID(room: loaded.visit.room, subject: "user:\(identity.userID ?? 0)"), name: name.isEmpty ? identity.username : name, moderator: false
        )
    }

    // MARK: Settings

    func effectiveSettings(facility: Int?, on connection: MariaDBConnection) async throws -> JitsiSettings {
        guard let facility, let row = try await connection.query(Self.settingsQuery(facility)).first else { return base }
        return try Self.override(row).applied(to: base)
    }

    static func settingsQuery(_ facility: Int) -> MariaDBQuery {
        """
        SELECT domain, app_id, app_secret, audience, sub, algorithm, key_id, private_key, recording_enabled, window_before, window_after,
               token_ttl, max_duration FROM mmt_video_settings WHERE facility_id = \(facility)
        """
    }

    static func override(_ row: MariaDBRow) throws -> JitsiSettingsOverride {
        var o = JitsiSettingsOverride()
        o.domain = try row.decode("domain", as: String?.self)
        o.appID = try row.decode("app_id", as: String?.self)
        o.appSecret = try row.decode("app_secret", as: String?.self)
        o.audience = try row.decode("audience", as: String?.self)
        o.sub = try row.decode("sub", as: String?.self)
        o.algorithm = try row.decode("algorithm", as: String?.self).flatMap(JitsiAlgorithm.init(text:))
        o.keyID = try row.decode("key_id", as: String?.self)
        o.privateKeyPEM = try row.decode("private_key", as: String?.self)
        o.recordingEnabled = try row.decode("recording_enabled", as: Bool?.self)
        o.windowBefore = try row.decode("window_before", as: Int?.self)
        o.windowAfter = try row.decode("window_after", as: Int?.self)
        o.tokenTTL = try row.decode("token_ttl", as: Int?.self)
        o.maxDuration = try row.decode("max_duration", as: Int?.self)
        return o
    }
}
