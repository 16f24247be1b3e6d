import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MariaDB
import OpenEMR

/// The clinical API for the Flutter apps, on the Django bridge's paths: patients, encounters, providers,
/// facilities. Every route needs a token; reads and writes of patient data are audited in OpenEMR's log.
struct ClinicalController: Sendable {
    let tokens: TokenStore
    let patients: PatientRepository
    let patientReads: PatientReads
    let encounters: EncounterRepository
    let directory: DirectoryRepository
    let auditQueue: AuditQueue
    let configuration: AppConfiguration

    func addRoutes(to router: Router<AppRequestContext>, authenticator: TokenAuthenticator) {
        let api = router.group("/api").add(middleware: authenticator)
        api.get("/patients", use: listPatients)
        api.post("/patients", use: createPatient)
        // The hottest read authenticates itself, in the same database hop as its own select.
        router.get("/api/patients/{pid}", use: getPatient)
        api.put("/patients/{pid}", use: replacePatient)
        api.patch("/patients/{pid}", use: patchPatient)
        api.delete("/patients/{pid}", use: deletePatient)
        api.get("/encounters", use: listEncounters)
        api.post("/encounters", use: createEncounter)
        api.get("/encounters/{encounter}", use: getEncounter)
        api.get("/openemr/providers", use: listProviders)
        api.get("/openemr/facilities", use: listFacilities)
    }

    // MARK: Helpers

    /// A numeric path id, or 404 (a bad id is "not found", as DRF answers).
    private func id(_ name: String, _ context: AppRequestContext) throws -> Int {
        guard let text = context.parameters.get(name), let value = Int(text), value > 0 else { throw AppError.notFound() }
        return value
    }

    private func requireWriter(_ identity: Identity) throws {
        guard identity.canWriteClinical else { throw AppError.forbidden() }
    }

    private func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let data = try JSONCoding.encoder.encode(value)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A patient as the body, with its ETag (the digest of that same JSON, written once); 304 when `If-None-Match`
    /// already has it.
    private func patientResponse(
        _ patient: PatientResponse, status: HTTPResponse.Status = .ok, ifNoneMatch: String? = nil, headers: HTTPFields = [:]
    ) -> Response {
        let body = patient.json
        let etag = PatientResponse.etag(of: body)
        if let ifNoneMatch, PatientRepository.matches(ifNoneMatch, etag: etag) {
            return Response(status: .notModified, headers: [.eTag: etag])
        }
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.eTag] = etag
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A page of patients, written with the patient's one JSON writer (`PatientResponse.write(into:)`).
    private func patientPageResponse(_ request: Request, _ result: PatientSearch.Result) -> Response {
        let body = PageWriter.bytes(
            request, (result.count, result.page, result.items), configuration: configuration, itemCapacity: 640, countIsExact: result.countIsExact
        ) { patient, writer in patient.write(into: &writer) }
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }

    private func pageResponse<Item: Encodable & Sendable>(
        _ request: Request, _ result: (count: Int, page: PageRequest, items: [Item])
    ) throws -> Response {
        try json(
            Page(
                count: result.count, page: result.page, results: result.items,
                baseURL: RequestInfo.baseURL(request, configuration: configuration), path: request.uri.path, query: RequestInfo.queryItems(request)
            )
        )
    }

    private func readEvents(_ pids: [Int], by identity: Identity, what: String) -> [AuditEvent] {
        pids.map { AuditEvent("patient-record-select", category: "Patient Demographics", by: identity, patientID: $0, comments: "emr-bridge read: \(what)") }
    }

    // MARK: Patients

    /// `GET /api/patients/` with `?search=`, `?dob=`, `?sex=`, `?ordering=`, `?page=`, `?page_size=`.
    @Sendable func listPatients(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let query = RequestInfo.queryDictionary(request)
        var filter = try PatientFilter(query: query)
        if identity.role == .patient { filter.onlyPID = identity.pid ?? -1 }
        let result = try await patients.list(filter, page: PageRequest(query: query), logger: context.logger)
        auditQueue.enqueue(readEvents(result.items.map(\.pid), by: identity, what: "patient list"))
        return patientPageResponse(request, result)
    }

    /// `GET /api/patients/{pid}/`; a patient token sees only its own record (others: 404). The token lookup and the
    /// patient select run in one database hop, coalesced with concurrent reads (`PatientReads`); this route is not
    /// behind `TokenAuthenticator` and applies the same rules through `TokenStore.identity(from:)`.
    @Sendable func getPatient(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let token = TokenStore.token(fromAuthorization: request.headers[.authorization]) else { throw AppError.unauthorized }
        let hash = TokenStore.hash(token)
        guard let text = context.parameters.get("pid"), let pid = Int(text), pid > 0 else {
            // Authenticate first, so a bad id never tells an anonymous caller anything.
            guard try await tokens.identity(forHash: hash, logger: context.logger) != nil else { throw AppError.unauthorized }
            throw AppError.notFound()
        }
        let rows = try await patientReads.read(tokenHash: hash, pid: pid)
        guard let tokenRow = rows.token, let identity = try await tokens.identity(from: tokenRow, hash: hash, logger: context.logger)
        else { throw AppError.unauthorized }
        if identity.role == .patient && identity.pid != pid { throw AppError.notFound() }
        guard let row = rows.patient else { throw AppError.notFound() }
        let patient = try PatientResponse(row: row)
        auditQueue.enqueue(readEvents([pid], by: identity, what: "patient"))
        return patientResponse(patient, ifNoneMatch: request.headers[.ifNoneMatch])
    }

    /// `POST /api/patients/`: providers and admins; 201 with the patient and `Location`.
    @Sendable func createPatient(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        try requireWriter(identity)
        let input = try await JSONBody.decode(PatientInput.self, from: request, limit: configuration.maxBodyBytes)
        let created = try await patients.create(input, by: identity, logger: context.logger)
        return patientResponse(created, status: .created, headers: [.location: "/api/patients/\(created.pid)/"])
    }

    /// `PUT /api/patients/{pid}/`: all required fields must be sent; `If-Match` honoured.
    @Sendable func replacePatient(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await update(request, context: context, requireAll: true)
    }

    /// `PATCH /api/patients/{pid}/`: only the sent fields change; `If-Match` honoured.
    @Sendable func patchPatient(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await update(request, context: context, requireAll: false)
    }

    private func update(_ request: Request, context: AppRequestContext, requireAll: Bool) async throws -> Response {
        let identity = try context.requireIdentity()
        let pid = try id("pid", context)
        if identity.role == .patient && identity.pid != pid { throw AppError.notFound() }
        try requireWriter(identity)
        let input = try await JSONBody.decode(PatientInput.self, from: request, limit: configuration.maxBodyBytes)
        guard
            let updated = try await patients.update(
                pid: pid, input, replacing: requireAll, ifMatch: request.headers[.ifMatch], by: identity, logger: context.logger
            )
        else { throw AppError.notFound() }
        return patientResponse(updated)
    }

    /// `DELETE /api/patients/{pid}/`: refused (403 `delete_disabled`) unless `BRIDGE_ALLOW_PATIENT_DELETE=1`, and
    /// then for admins only; refused (409 `patient_has_records`) while OpenEMR tables this service does not manage
    /// hold rows of the patient. See `PatientRepository.delete`.
    @Sendable func deletePatient(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let pid = try id("pid", context)
        guard configuration.allowPatientDelete else {
            throw AppError.forbidden("Deleting patients is disabled on this server.", code: "delete_disabled")
        }
        guard identity.isAdmin else { throw AppError.forbidden() }
        guard try await patients.delete(pid: pid, by: identity, logger: context.logger) else { throw AppError.notFound() }
        return Response(status: .noContent)
    }

    // MARK: Encounters

    /// `GET /api/encounters/` with `?patient=`, `?provider=`, `?date_from=`, `?date_to=`.
    @Sendable func listEncounters(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let query = RequestInfo.queryDictionary(request)
        let filter = try EncounterFilter(query: query, onlyPID: identity.role == .patient ? (identity.pid ?? -1) : nil)
        let result = try await encounters.list(filter, page: PageRequest(query: query), logger: context.logger)
        let pids = Array(Set(result.items.map(\.pid))).sorted()
        auditQueue.enqueue(
            pids.map { AuditEvent("patient-record-select", category: "Encounter Form", by: identity, patientID: $0, comments: "emr-bridge read: encounter list") }
        )
        return try pageResponse(request, result)
    }

    /// `GET /api/encounters/{encounter}/`.
    @Sendable func getEncounter(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let number = try id("encounter", context)
        guard let encounter = try await encounters.find(encounter: number, logger: context.logger),
            identity.role != .patient || identity.pid == encounter.pid
        else { throw AppError.notFound() }
        auditQueue.enqueue(
            [AuditEvent("patient-record-select", category: "Encounter Form", by: identity, patientID: encounter.pid, comments: "emr-bridge read: encounter \(number)")]
        )
        return try json(encounter)
    }

    /// `POST /api/encounters/`: providers and admins; created exactly as OpenEMR does.
    @Sendable func createEncounter(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        try requireWriter(identity)
        let input = try await JSONBody.decode(EncounterInput.self, from: request, limit: configuration.maxBodyBytes)
        let created = try await encounters.create(try input.validated(), by: identity, logger: context.logger)
        return try json(created, status: .created, headers: [.location: "/api/encounters/\(created.encounter)/"])
    }

    // MARK: Reference lists

    /// `GET /api/openemr/providers/`: active users with `authorized = 1` (no usernames for patients and guests).
    @Sendable func listProviders(_ request: Request, context: AppRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let page = PageRequest(query: RequestInfo.queryDictionary(request))
        return try pageResponse(request, try await directory.providers(page: page, for: identity, logger: context.logger))
    }

    /// `GET /api/openemr/facilities/`.
    @Sendable func listFacilities(_ request: Request, context: AppRequestContext) async throws -> Response {
        _ = try context.requireIdentity()
        let page = PageRequest(query: RequestInfo.queryDictionary(request))
        return try pageResponse(request, try await directory.facilities(page: page, logger: context.logger))
    }
}
