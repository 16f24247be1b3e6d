import Foundation
import Hummingbird
import OpenEMR

/// The OpenAPI 3.1 description of every endpoint, served at `GET /api/openapi.json`.
///
/// Built from a small table of operations so that the document, the router and the tests share one list
/// (`OpenAPIDocument.operations`); a test walks that list against the running router and checks the responses
/// against the schemas.
enum OpenAPIDocument {
    struct Operation: Sendable {
        var method: String
        var path: String
        var summary: String
        var authenticated: Bool
        var requestSchema: String?
        var responses: [(status: Int, schema: String?)]
        var query: [String] = []
    }

    static let operations: [Operation] = [
        Operation(method: "get", path: "/api/health/", summary: "Service and database health", authenticated: false, responses: [(200, "Health"), (503, "Health")]),
        Operation(method: "get", path: "/metrics", summary: "Prometheus metrics (text)", authenticated: false, responses: [(200, nil)]),
        Operation(method: "get", path: "/api/openapi.json", summary: "This document", authenticated: false, responses: [(200, nil)]),
        Operation(method: "post", path: "/api/auth/login/", summary: "Sign in with OpenEMR user credentials", authenticated: false, requestSchema: "Credentials", responses: [(200, "Login"), (400, "Error"), (401, "Error"), (403, "Error"), (423, "Error"), (503, "Error")]),
        Operation(method: "post", path: "/api/auth/patient-login/", summary: "Sign in with patient portal credentials", authenticated: false, requestSchema: "Credentials", responses: [(200, "Login"), (400, "Error"), (401, "Error"), (423, "Error"), (503, "Error")]),
        Operation(method: "post", path: "/api/auth/openemr-session/", summary: "Exchange a live OpenEMR PHP session (cookie OpenEMR / PortalOpenEMR, or session_id) for a token", authenticated: false, requestSchema: "SessionBridge", responses: [(200, "Login"), (400, "Error"), (401, "Error"), (503, "Error")]),
        Operation(method: "post", path: "/api/auth/guest/", summary: "Demo guest token (demo mode with BRIDGE_DEMO_GUEST=1 only)", authenticated: false, responses: [(200, "Login"), (404, "Error")]),
        Operation(method: "get", path: "/api/auth/user/", summary: "The current identity", authenticated: true, responses: [(200, "User"), (401, "Error")]),
        Operation(method: "post", path: "/api/auth/logout/", summary: "Revoke the current token", authenticated: true, responses: [(204, nil), (401, "Error")]),
        Operation(method: "get", path: "/api/patients/", summary: "List patients", authenticated: true, responses: [(200, "PatientPage"), (400, "Error"), (401, "Error"), (404, "Error")], query: ["search", "dob", "sex", "ordering", "page", "page_size"]),
        Operation(method: "post", path: "/api/patients/", summary: "Create a patient as OpenEMR does", authenticated: true, requestSchema: "PatientInput", responses: [(201, "Patient"), (400, "Error"), (401, "Error"), (403, "Error")]),
        Operation(method: "get", path: "/api/patients/{pid}/", summary: "One patient (ETag)", authenticated: true, responses: [(200, "Patient"), (304, nil), (401, "Error"), (404, "Error")]),
        Operation(method: "put", path: "/api/patients/{pid}/", summary: "Replace the writable fields (If-Match honoured)", authenticated: true, requestSchema: "PatientInput", responses: [(200, "Patient"), (400, "Error"), (403, "Error"), (404, "Error"), (412, "Error")]),
        Operation(method: "patch", path: "/api/patients/{pid}/", summary: "Update the sent fields (If-Match honoured)", authenticated: true, requestSchema: "PatientInput", responses: [(200, "Patient"), (400, "Error"), (403, "Error"), (404, "Error"), (412, "Error")]),
        Operation(method: "delete", path: "/api/patients/{pid}/", summary: "Refused unless BRIDGE_ALLOW_PATIENT_DELETE=1 (admins); 409 patient_has_records while OpenEMR tables the bridge does not manage hold rows of the patient", authenticated: true, responses: [(204, nil), (403, "Error"), (404, "Error"), (409, "Error")]),
        Operation(method: "get", path: "/api/encounters/", summary: "List encounters", authenticated: true, responses: [(200, "EncounterPage"), (400, "Error"), (401, "Error")], query: ["patient", "provider", "date_from", "date_to", "page", "page_size"]),
        Operation(method: "post", path: "/api/encounters/", summary: "Create an encounter as OpenEMR does", authenticated: true, requestSchema: "EncounterInput", responses: [(201, "Encounter"), (400, "Error"), (401, "Error"), (403, "Error")]),
        Operation(method: "get", path: "/api/encounters/{encounter}/", summary: "One encounter", authenticated: true, responses: [(200, "Encounter"), (401, "Error"), (404, "Error")]),
        Operation(method: "get", path: "/api/openemr/providers/", summary: "Active providers (users.authorized = 1)", authenticated: true, responses: [(200, "ProviderPage"), (401, "Error")], query: ["page", "page_size"]),
        Operation(method: "get", path: "/api/openemr/facilities/", summary: "Facilities", authenticated: true, responses: [(200, "FacilityPage"), (401, "Error")], query: ["page", "page_size"]),
    ]

    private static func object(_ properties: [String: Any], required: [String]) -> [String: Any] {
        ["type": "object", "properties": properties, "required": required]
    }
    private static var string: [String: Any] { ["type": "string"] }
    private static var nullableString: [String: Any] { ["type": ["string", "null"]] }
    private static var integer: [String: Any] { ["type": "integer"] }
    private static var nullableInteger: [String: Any] { ["type": ["integer", "null"]] }
    private static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }
    private static func page(_ item: String) -> [String: Any] {
        object(
            ["count": integer, "next": nullableString, "previous": nullableString, "results": ["type": "array", "items": ref(item)]],
            required: ["count", "next", "previous", "results"]
        )
    }

    static let patientFields = [
        "pid", "pubpid", "uuid", "title", "fname", "mname", "lname", "dob", "sex", "email", "phone_home", "phone_cell", "street", "city", "state",
        "postal_code", "country_code", "status", "provider_id", "date_created",
    ]
    static let encounterFields = [
        "encounter", "uuid", "pid", "date", "reason", "facility_id", "facility_name", "provider_id", "pc_catid", "class_code", "pos_code",
        "sensitivity", "external_id", "last_update",
    ]

    static var schemas: [String: Any] {
        var patient: [String: Any] = [:]
        for field in patientFields { patient[field] = nullableString }
        patient["pid"] = integer
        patient["provider_id"] = nullableInteger
        var patientInput: [String: Any] = [:]
        for field in patientFields where !["pid", "uuid", "date_created"].contains(field) { patientInput[field] = string }
        patientInput["provider_id"] = integer
        patientInput["dob"] = ["type": "string", "format": "date"]
        var encounter: [String: Any] = [:]
        for field in encounterFields { encounter[field] = nullableString }
        for field in ["encounter", "pid"] { encounter[field] = integer }
        for field in ["facility_id", "provider_id", "pc_catid", "pos_code"] { encounter[field] = nullableInteger }
        return [
            "Error": object(
                ["error": object(["code": string, "message": string, "details": ["type": "object", "additionalProperties": string]], required: ["code", "message", "details"])],
                required: ["error"]
            ),
            "Health": object(["status": ["enum": ["ok", "unavailable"]], "database": ["enum": ["ok", "unavailable"]], "version": string], required: ["status", "database", "version"]),
            "Credentials": object(["username": string, "password": string], required: ["username", "password"]),
            "SessionBridge": object(["session_id": string, "type": ["enum": ["core", "portal"]]], required: []),
            "User": object(
                ["id": nullableInteger, "username": string, "fname": string, "lname": string, "role": ["enum": ["admin", "provider", "staff", "patient", "guest"]], "facility_id": nullableInteger, "pid": nullableInteger],
                required: ["username", "fname", "lname", "role"]
            ),
            "Login": object(
                ["token": string, "token_type": ["const": "Bearer"], "expires_at": ["type": "string", "format": "date-time"], "user": ref("User"), "password_expiring": ["type": "boolean"]],
                required: ["token", "token_type", "expires_at", "user"]
            ),
            "Patient": object(patient, required: patientFields),
            "PatientInput": object(patientInput, required: ["fname", "lname", "sex", "dob"]),
            "PatientPage": page("Patient"),
            "Encounter": object(encounter, required: encounterFields),
            "EncounterInput": object(
                ["pid": integer, "date": string, "reason": string, "facility_id": integer, "provider_id": integer, "pc_catid": integer, "class_code": string, "pos_code": integer, "sensitivity": ["enum": ["normal", "high"]], "external_id": string],
                required: ["pid"]
            ),
            "EncounterPage": page("Encounter"),
            "Provider": object(["id": integer, "uuid": nullableString, "username": string, "fname": string, "lname": string, "facility_id": nullableInteger, "specialty": string], required: ["id", "fname", "lname"]),
            "ProviderPage": page("Provider"),
            "Facility": object(
                ["id": integer, "uuid": nullableString, "name": string, "phone": string, "street": string, "city": string, "state": string, "postal_code": string, "pos_code": nullableInteger, "service_location": ["type": "boolean"], "billing_location": ["type": "boolean"]],
                required: ["id", "name"]
            ),
            "FacilityPage": page("Facility"),
        ]
    }

    /// The document as JSON bytes.
    static let json: [UInt8] = {
        var paths: [String: [String: Any]] = [:]
        for operation in operations {
            var responses: [String: Any] = [:]
            for (status, schema) in operation.responses {
                var response: [String: Any] = ["description": status < 400 ? "Success" : "Error"]
                if let schema { response["content"] = ["application/json": ["schema": ref(schema)]] }
                responses[String(status)] = response
            }
            var entry: [String: Any] = ["summary": operation.summary, "responses": responses, "operationId": operation.method + operation.path]
            var parameters: [[String: Any]] = operation.query.map { ["name": $0, "in": "query", "required": false, "schema": string] }
            for name in ["pid", "encounter"] where operation.path.contains("{\(name)}") {
                parameters.append(["name": name, "in": "path", "required": true, "schema": integer])
            }
            if !parameters.isEmpty { entry["parameters"] = parameters }
            if let request = operation.requestSchema {
                entry["requestBody"] = ["required": operation.method != "post" || request != "SessionBridge", "content": ["application/json": ["schema": ref(request)]]]
            }
            if operation.authenticated { entry["security"] = [["bearer": []], ["drfToken": []]] }
            paths[operation.path, default: [:]][operation.method] = entry
        }
        let document: [String: Any] = [
            "openapi": "3.1.0",
            "info": ["title": "EMRBridge API", "version": EMRBridgeVersion.current, "description": "REST bridge beside OpenEMR. Every error is {\"error\":{\"code\",\"message\",\"details\"}}."],
            "paths": paths,
            "components": [
                "schemas": schemas,
                "securitySchemes": [
                    "bearer": ["type": "http", "scheme": "bearer"],
                    "drfToken": ["type": "apiKey", "in": "header", "name": "Authorization", "description": "Token <token> (Django REST framework style)"],
                ],
            ],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Array(data)
    }()

    static func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: json)))
        }
    }
}
