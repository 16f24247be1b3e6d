import Foundation
import HTTPTypes
import Hummingbird
import Logging
import OpenEMR

/// The batch import of encounters over HTTP (admins): `POST /api/encounters/import/?source=NAME` streams a CSV,
/// NDJSON or FHIR NDJSON body to a temporary file and answers 202 with the run; `GET /api/imports/` and
/// `GET /api/imports/{id}/` show the runs from `mmt_import_runs`, so any replica answers.
struct ImportController: Sendable {
    static let importPath = "/api/encounters/import/"

    let imports: EncounterImportService
    let configuration: AppConfiguration

    func addRoutes(to router: Router<AppRequestContext>, authenticator: TokenAuthenticator) {
        let api = router.group("/api").add(middleware: authenticator)
        api.post("/encounters/import", use: submit)
        api.get("/imports", use: list)
        api.get("/imports/{id}", use: find)
    }

    private func requireAdmin(_ context: AppRequestContext) throws -> Identity {
        let identity = try context.requireIdentity()
        guard identity.isAdmin else { throw AppError.forbidden() }
        return identity
    }

    private func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: try JSONCoding.encoder.encode(value))))
    }

    /// `POST /api/encounters/import/?source=NAME[&dry_run=1][&strict=1][&batch_size=N][&jobs=N]`: 202 with the run.
    @Sendable func submit(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try requireAdmin(context)
        let query = RequestInfo.queryDictionary(request)
        func flag(_ name: String) throws -> Bool {
            switch query[name]?.lowercased() {
            case nil, "", "0", "false": return false
            case "1", "true": return true
            default: throw AppError.validation([name: "Must be 1 or 0."])
            }
        }
        func number(_ name: String, _ fallback: Int) throws -> Int {
            guard let text = query[name], !text.isEmpty else { return fallback }
            guard let value = Int(text) else { throw AppError.validation([name: "A valid integer is required."]) }
            return value
        }
        guard let contentType = request.headers[.contentType], let format = ImportFormat.from(contentType: contentType) else {
            throw AppError(
                .unsupportedMediaType, code: "unsupported_media_type",
                message: "Send text/csv, application/x-ndjson or application/fhir+ndjson.",
                details: ["content_type": request.headers[.contentType] ?? ""]
            )
        }
        let options = EncounterImportOptions(
            source: query["source"] ?? "", format: format, batchSize: try number("batch_size", 1000), jobs: try number("jobs", 1),
            dryRun: try flag("dry_run"), strict: try flag("strict")
        )
        let problems = options.problems()
        if !problems.isEmpty { throw AppError.validation(problems) }
        // Stream the body to disk, never more than the limit.
        let limit = configuration.importMaxBytes
        let spool = try ImportSpool()
        do {
            for try await buffer in request.body {
                if spool.bytesWritten + buffer.readableBytes > limit {
                    throw AppError(
                        .contentTooLarge, code: "payload_too_large", message: "The request body is too large.", details: ["limit_bytes": String(limit)]
                    )
                }
                try spool.write(buffer.readableBytesView)
            }
            try spool.close()
        } catch {
            spool.discard()
            throw error
        }
        let id = try await imports.submit(spool, options: options, identity: identity, logger: context.logger)
        let run = try await imports.find(id, logger: context.logger)
        return try json(run, status: .accepted, headers: [.location: "/api/imports/\(id)/"])
    }

    /// `GET /api/imports/`: the runs, newest first (DRF page).
    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        _ = try requireAdmin(context)
        let result = try await imports.list(page: PageRequest(query: RequestInfo.queryDictionary(request)), logger: context.logger)
        return try json(
            Page(
                count: result.count, page: result.page, results: result.items, baseURL: RequestInfo.baseURL(request, configuration: configuration),
                path: request.uri.path, query: RequestInfo.queryItems(request)
            )
        )
    }

    /// `GET /api/imports/{id}/`: one run with its counts, rate and first rejected rows.
    @Sendable func find(_ request: Request, context: AppRequestContext) async throws -> Response {
        _ = try requireAdmin(context)
        guard let text = context.parameters.get("id"), let id = Int(text), id > 0 else { throw AppError.notFound() }
        return try json(try await imports.find(id, logger: context.logger))
    }
}
