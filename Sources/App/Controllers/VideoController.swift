import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenEMR
import ServiceLifecycle

/// Jitsi video visits for encounters (issue 16): state, start, join, end, invite, enable/disable, live readiness as
/// Server-Sent Events, and per-facility settings. Every rule lives in `VideoVisitService`.
struct VideoController: Sendable {
    let video: VideoVisitService
    let events: VideoEventHub
    let tokens: TokenStore
    let configuration: AppConfiguration
    /// Seconds between `: keep-alive` comments on an idle event stream (proxies close silent connections).
    var keepAliveSeconds: Int = 25

    func addRoutes(to router: Router<AppRequestContext>, authenticator: TokenAuthenticator) {
        let api = router.group("/api").add(middleware: authenticator)
        api.get("/encounters/{encounter}/video", use: status)
        api.patch("/encounters/{encounter}/video", use: setEnabled)
        api.post("/encounters/{encounter}/video/start", use: start)
        api.post("/encounters/{encounter}/video/join", use: join)
        api.post("/encounters/{encounter}/video/end", use: end)
        api.post("/encounters/{encounter}/video/invite", use: invite)
        api.post("/encounters/{encounter}/video/events/ticket", use: ticket)
        // Authenticates itself: a bridge token in Authorization, or a single-use ?ticket= (EventSource).
        router.get("/api/encounters/{encounter}/video/events", use: stream)
        api.get("/video/settings/{facility_id}", use: settings)
        api.put("/video/settings/{facility_id}", use: updateSettings)
    }

    // MARK: Helpers

    private func id(_ name: String, _ context: AppRequestContext) throws -> Int {
        guard let text = context.parameters.get(name), let value = Int(text), value > 0 else { throw AppError.notFound() }
        return value
    }

    /// Plain keys: the IFrame options are camelCase as Jitsi names them; every other key is spelled out snake_case.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Tokens in the body: never cached.
    private func json(_ value: some Encodable) throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: try Self.encoder.encode(value)))
        )
    }

    // MARK: Visit

    /// `GET /api/encounters/{encounter}/video/`.
    @Sendable func status(_ request: Request, context: AppRequestContext) async throws -> Response {
        try json(try await video.status(encounter: try id("encounter", context), by: try context.requireIdentity(), logger: context.logger))
    }

    struct EnabledInput: Decodable { var enabled: Bool }

    /// `PATCH /api/encounters/{encounter}/video/` `{"enabled": false}`.
    @Sendable func setEnabled(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let number = try id("encounter", context)
        let input = try await JSONBody.decode(EnabledInput.self, from: request, limit: configuration.maxBodyBytes)
        return try json(try await video.setEnabled(input.enabled, encounter: number, by: identity, logger: context.logger))
    }

    /// `POST …/video/start/`.
    @Sendable func start(_ request: Request, context: AppRequestContext) async throws -> Response {
        try json(try await video.start(encounter: try id("encounter", context), by: try context.requireIdentity(), logger: context.logger))
    }

    /// `POST …/video/join/`.
    @Sendable func join(_ request: Request, context: AppRequestContext) async throws -> Response {
        try json(try await video.join(encounter: try id("encounter", context), by: try context.requireIdentity(), logger: context.logger))
    }

    /// `POST …/video/end/`.
    @Sendable func end(_ request: Request, context: AppRequestContext) async throws -> Response {
        try json(try await video.end(encounter: try id("encounter", context), by: try context.requireIdentity(), logger: context.logger))
    }

    /// `POST …/video/invite/`.
    @Sendable func invite(_ request: Request, context: AppRequestContext) async throws -> Response {
        try json(try await video.invite(encounter: try id("encounter", context), by: try context.requireIdentity(), logger: context.logger))
    }

    struct Ticket: Encodable {
        var ticket: String
        var expiresAt: String
        var eventsUrl: String
        enum CodingKeys: String, CodingKey { case ticket, expiresAt = "expires_at", eventsUrl = "events_url" }
    }

    /// `POST …/video/events/ticket/`: a single-use, 60-second ticket for this encounter's event stream.
    @Sendable func ticket(_ request: Request, context: AppRequestContext) async throws -> Response {
        let number = try id("encounter", context)
        let issued = try await video.issueTicket(encounter: number, by: try context.requireIdentity(), logger: context.logger)
        return try json(Ticket(ticket: issued.ticket, expiresAt: issued.expiresAt, eventsUrl: "/api/encounters/\(number)/video/events/?ticket=\(issued.ticket)"))
    }

    // MARK: Live readiness

    /// What the writer loop of one stream handles.
    enum StreamItem: Sendable {
        case event(VideoStreamEvent)
        case keepAlive
    }

    /// `GET …/video/events/`: Server-Sent Events. The current state first (`event: state`), then every change of this
    /// visit as it is seen by the replica's poller (within one poll interval), `: keep-alive` comments while idle. The
    /// stream ends after `ended`, when the client goes away, on graceful shutdown, and, after an `event: closed`
    /// saying why, within one poll interval of the bridge token it was opened with (directly or through the ticket)
    /// being revoked, expiring, or being refused by OpenEMR.
    @Sendable func stream(_ request: Request, context: AppRequestContext) async throws -> Response {
        let number = try id("encounter", context)
        // The bridge token (directly, or the one that asked for the ticket) and its expiry: the stream ends with it.
        let signedIn: (identity: Identity, expires: ContinuousClock.Instant)
        if let token = TokenStore.token(fromAuthorization: request.headers[.authorization]) {
            guard let found = try await tokens.identityAndExpiry(forHash: TokenStore.hash(token), logger: context.logger) else { throw AppError.unauthorized }
            signedIn = found
        } else if let ticket = RequestInfo.queryDictionary(request)["ticket"] {
            guard let hash = try await video.redeemTicket(ticket, encounter: number, logger: context.logger),
                let found = try await tokens.identityAndExpiry(forHash: hash, logger: context.logger)
            else { throw AppError.unauthorized }
            signedIn = found
        } else {
            throw AppError.unauthorized
        }
        let identity = signedIn.identity
        // Subscribe before reading the state, so no change falls between the two.
        let (changes, cancel) = events.subscribe(encounter: number, tokenHash: identity.tokenHash, tokenExpires: signedIn.expires)
        let initial: VideoVisitStatus
        do {
            initial = try await video.status(encounter: number, by: identity, logger: context.logger)
        } catch {
            cancel()
            throw error
        }
        let keepAlive = keepAliveSeconds
        let body = ResponseBody { writer in
            // However the stream ends (client gone, ended, shutdown), the hub forgets this waiter.
            defer { cancel() }
            var lastVersion = initial.version
            let first = VideoVisitChange(encounter: number, state: initial.state, enabled: initial.enabled, version: initial.version)
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n" + Self.event(first)))
            guard initial.state != "ended" else {
                try await writer.finish(nil)
                return
            }
            let (items, continuation) = AsyncStream<StreamItem>.makeStream(bufferingPolicy: .bufferingNewest(32))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await event in changes { continuation.yield(.event(event)) }
                    continuation.finish()
                }
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(keepAlive))
                        continuation.yield(.keepAlive)
                    }
                }
                try await withGracefulShutdownHandler {
                    for await item in items {
                        switch item {
                        case .keepAlive:
                            try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        case .event(.change(let change)):
                            guard change.version > lastVersion else { continue }
                            lastVersion = change.version
                            try await writer.write(ByteBuffer(string: Self.event(change)))
                            if change.state == "ended" { return }
                        case .event(.closed(let reason)):
                            try await writer.write(ByteBuffer(string: Self.closed(reason)))
                            return
                        }
                    }
                } onGracefulShutdown: {
                    continuation.finish()
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body
        )
    }

    static func event(_ change: VideoVisitChange) -> String {
        "id: \(change.version)\nevent: state\ndata: \(change.json)\n\n"
    }

    /// The last event of a stream whose bridge token ended: the reason, and that reconnecting with it is useless.
    static func closed(_ reason: TokenStore.Ended) -> String {
        let message: String
        switch reason {
        case .revoked: message = "The bridge token was revoked (signed out); sign in again."
        case .expired: message = "The bridge token has expired; sign in again."
        case .refused: message = "OpenEMR no longer accepts this sign-in; sign in again."
        }
        return "event: closed\ndata: {\"reason\":\"\(reason.rawValue)\",\"message\":\"\(message)\"}\n\n"
    }

    // MARK: Settings

    private func facility(_ context: AppRequestContext) throws -> Int { try id("facility_id", context) }

    /// `GET /api/video/settings/{facility_id}/` (admins).
    @Sendable func settings(_ request: Request, context: AppRequestContext) async throws -> Response {
        try json(try await video.settings(facility: try facility(context), by: try context.requireIdentity(), logger: context.logger))
    }

    /// `PUT /api/video/settings/{facility_id}/` (admins); `app_secret` and `private_key` are write-only.
    @Sendable func updateSettings(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let facility = try facility(context)
        let input = try await JSONBody.decode(VideoSettingsInput.self, from: request, limit: configuration.maxBodyBytes)
        return try json(try await video.updateSettings(facility: facility, input, by: identity, logger: context.logger))
    }
}
