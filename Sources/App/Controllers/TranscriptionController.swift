import Foundation
import HTTPTypes
import Hummingbird
import Logging
import OpenEMR

/// Transcriptions on the Django bridge's paths: list, read, create, edit, the review workflow, write-back into the
/// OpenEMR encounter, and the recording. Rules and storage live in `TranscriptionRepository`.
struct TranscriptionController: Sendable {
    let transcriptions: TranscriptionRepository
    let configuration: AppConfiguration
    let fileIO: FileIO

    func addRoutes(to router: Router<AppRequestContext>, authenticator: TokenAuthenticator) {
        let api = router.group("/api/transcriptions").add(middleware: authenticator)
        api.get(use: list)
        api.post(use: create)
        api.get("/{id}", use: get)
        api.put("/{id}", use: replace)
        api.patch("/{id}", use: patch)
        for action in TranscriptionAction.allCases {
            api.post("/{id}/\(action.rawValue)") { request, context in try await perform(action, request, context) }
        }
        api.post("/{id}/integrate_with_openemr", use: integrate)
        api.put("/{id}/audio", use: uploadAudio)
        api.get("/{id}/audio", use: downloadAudio)
    }

    /// Paths whose body is streamed by the handler under its own limit (`BRIDGE_AUDIO_MAX_BYTES`), not the JSON limit.
    static func streamsBody(_ request: Request) -> Bool {
        request.method == .put && request.uri.path.hasPrefix("/api/transcriptions/")
            && (request.uri.path.hasSuffix("/audio") || request.uri.path.hasSuffix("/audio/"))
    }

    private func id(_ context: AppRequestContext) throws -> Int {
        guard let text = context.parameters.get("id"), let value = Int(text), value > 0 else { throw AppError.notFound() }
        return value
    }

    private func response(_ transcription: Transcription, status: HTTPResponse.Status = .ok, ifNoneMatch: String? = nil, headers: HTTPFields = [:])
        -> Response
    {
        let etag = transcription.etag
        if let ifNoneMatch, PatientRepository.matches(ifNoneMatch, etag: etag) {
            return Response(status: .notModified, headers: [.eTag: etag])
        }
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.eTag] = etag
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: transcription.json)))
    }

    // MARK: Reads

    /// `GET /api/transcriptions/` with `?patient=`, `?encounter=`, `?status=`, `?provider=`, `?date_from=`, `?date_to=`,
    /// `?search=`, `?ordering=`, `?page=`, `?page_size=`.
    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let query = RequestInfo.queryDictionary(request)
        let result = try await transcriptions.list(query: query, page: PageRequest(query: query), by: identity, logger: context.logger)
        let body = PageWriter.bytes(request, result, configuration: configuration, itemCapacity: 1024) { item, writer in item.write(into: &writer) }
        let etag = PatientResponse.etag(of: body)
        if let ifNoneMatch = request.headers[.ifNoneMatch], PatientRepository.matches(ifNoneMatch, etag: etag) {
            return Response(status: .notModified, headers: [.eTag: etag])
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8", .eTag: etag], body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }

    /// `GET /api/transcriptions/{id}/`: with its segments in order; `ETag`, 304 on `If-None-Match`.
    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let transcription = try await transcriptions.get(id: try id(context), by: identity, logger: context.logger)
        return response(transcription, ifNoneMatch: request.headers[.ifNoneMatch])
    }

    // MARK: Writes

    /// `POST /api/transcriptions/`: providers and admins; 201 with `Location`.
    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        guard identity.canWriteClinical else { throw AppError.forbidden() }
        let input = try await JSONBody.decode(TranscriptionInput.self, from: request, limit: configuration.maxBodyBytes)
        let created = try await transcriptions.create(input, by: identity, logger: context.logger)
        return response(created, status: .created, headers: [.location: "/api/transcriptions/\(created.id)/"])
    }

    @Sendable func replace(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await update(request, context, replacing: true)
    }

    @Sendable func patch(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await update(request, context, replacing: false)
    }

    private func update(_ request: Request, _ context: AppRequestContext, replacing: Bool) async throws -> Response {
        let identity = try context.requireIdentity()
        let id = try id(context)
        guard identity.canWriteClinical else { throw AppError.forbidden() }
        let input = try await JSONBody.decode(TranscriptionInput.self, from: request, limit: configuration.maxBodyBytes)
        let updated = try await transcriptions.update(
            id: id, input, replacing: replacing, ifMatch: request.headers[.ifMatch], by: identity, logger: context.logger
        )
        return response(updated)
    }

    /// `POST …/submit/`, `…/approve/`, `…/reject/` (`{"reason"}`), `…/reopen/`.
    private func perform(_ action: TranscriptionAction, _ request: Request, _ context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let id = try id(context)
        guard identity.canWriteClinical else { throw AppError.forbidden() }
        var reason: String?
        if action == .reject {
            reason = try await JSONBody.decode(TranscriptionDecision.self, from: request, limit: configuration.maxBodyBytes).reason
        }
        let moved = try await transcriptions.perform(action, id: id, reason: reason, ifMatch: request.headers[.ifMatch], by: identity, logger: context.logger)
        return response(moved)
    }

    /// `POST …/integrate_with_openemr/` `{"form","note_type","note_category","sections"}`: 201 when written, 200 with
    /// the same form when it already was.
    @Sendable func integrate(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let id = try id(context)
        guard identity.canWriteClinical else { throw AppError.forbidden() }
        // An empty body means the defaults: a Clinical Notes form of the list's default type.
        let body = try await JSONBody.decodeIfPresent(IntegrationRequest.self, from: request, limit: configuration.maxBodyBytes) ?? IntegrationRequest()
        let (transcription, created) = try await transcriptions.integrate(id: id, body, by: identity, logger: context.logger)
        return response(transcription, status: created ? .created : .ok)
    }

    // MARK: Audio

    /// `PUT …/audio/`: the recording as the raw body (`Content-Type: audio/*`), streamed to disk.
    @Sendable func uploadAudio(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let id = try id(context)
        guard identity.canWriteClinical else { throw AppError.forbidden() }
        let updated = try await transcriptions.attachAudio(
            id: id, contentType: request.headers[.contentType], declaredLength: request.headers[.contentLength].flatMap(Int.init), body: request.body,
            by: identity, logger: context.logger
        )
        return response(updated)
    }

    /// `GET …/audio/`: the recording, with `Range` (one range; 206 and `Content-Range`, 416 when unsatisfiable).
    @Sendable func downloadAudio(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let (path, transcription) = try await transcriptions.audioFile(id: try id(context), by: identity, logger: context.logger)
        guard let audio = transcription.audio else { throw AppError.notFound() }
        let size = audio.bytes
        var headers: HTTPFields = [.contentType: audio.contentType, .acceptRanges: "bytes", .eTag: "\"\(audio.sha256)\""]
        if let ifNoneMatch = request.headers[.ifNoneMatch], PatientRepository.matches(ifNoneMatch, etag: "\"\(audio.sha256)\"") {
            return Response(status: .notModified, headers: [.eTag: "\"\(audio.sha256)\""])
        }
        switch ByteRange.parse(request.headers[.range], size: size) {
        case .whole:
            guard size > 0 else { return Response(status: .ok, headers: headers) }
            let body = try await fileIO.loadFile(path: path, range: 0...(size - 1), context: context)
            return Response(status: .ok, headers: headers, body: body)
        case .range(let range):
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
            let body = try await fileIO.loadFile(path: path, range: range, context: context)
            return Response(status: .partialContent, headers: headers, body: body)
        case .unsatisfiable:
            throw AppError(
                .rangeNotSatisfiable, code: "range_not_satisfiable", message: "The requested range is outside the recording.",
                details: ["size": String(size)], headers: [.contentRange: "bytes */\(size)"]
            )
        }
    }
}

/// One `Range: bytes=…` request (RFC 9110 §14.1.2). Several ranges, or a header that is not a byte range, get the whole
/// file (a server may ignore `Range`).
enum ByteRange: Equatable {
    case whole
    case range(ClosedRange<Int>)
    case unsatisfiable

    static func parse(_ header: String?, size: Int) -> ByteRange {
        guard let header, header.hasPrefix("bytes=") else { return .whole }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters(in: " ")
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: " ")
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: " ")
        if first.isEmpty {
            // Suffix: the last N bytes.
            guard let count = Int(last), count >= 0 else { return .whole }
            guard count > 0, size > 0 else { return .unsatisfiable }
            return .range(max(0, size - count)...(size - 1))
        }
        guard let start = Int(first), start >= 0 else { return .whole }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .range(start...(size - 1)) }
        guard let end = Int(last), end >= start else { return .whole }
        return .range(start...min(end, size - 1))
    }
}
