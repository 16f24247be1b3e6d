import Foundation
import HTTPTypes
import Hummingbird
import OpenAPIKit
import OpenEMR
import Synchronization

/// The OpenAPI 3.1 description of every endpoint, served at `GET /api/openapi.json`.
///
/// Built with OpenAPIKit's typed OpenAPI 3.1 model from a small table of operations, so that the document, the router
/// and the tests share one list (`OpenAPIDocument.operations`); a test walks that list against the running router and
/// checks the responses against the schemas. The document is encoded once and its bytes are served.
enum OpenAPIDocument {
    struct Operation: Sendable {
        var method: String
        var path: String
        var summary: String
        var authenticated: Bool
        var requestSchema: String?
        var responses: [(status: Int, schema: String?)]
        var query: [String] = []
        /// A body that is not JSON: its media types (the schema is a string, binary for audio).
        var requestMediaTypes: [String] = []
        /// A non-JSON success body (`audio/*`).
        var rawResponseBody: String? = nil

        /// `post_api_patients_pid`: the method and the path's words, for generated clients' function names.
        var operationID: String {
            let words = path.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "_" }).map(String.init)
            return ([method] + words).joined(separator: "_")
        }

        /// Whether the operation takes a body.
        var hasBody: Bool { requestSchema != nil || !requestMediaTypes.isEmpty }

        /// Every status the route can answer: the listed ones, plus what every route of its kind can answer (one rule,
        /// so no operation forgets one): 401 behind a token; 400, 413 and 415 with a body; 404 with a path id or a page
        /// number (past the last page); 503 when the database is down (all but the document and the metrics).
        var statuses: [(status: Int, schema: String?)] {
            var result = responses
            func add(_ status: Int) { if !result.contains(where: { $0.status == status }) { result.append((status, "Error")) } }
            if authenticated { add(401) }
            if hasBody {
                add(400)
                add(413)
                add(415)
            }
            if path.contains("{") || query.contains("page") { add(404) }
            if !["/metrics", "/api/openapi.json"].contains(path) { add(503) }
            return result.sorted { $0.status < $1.status }
        }
    }

    /// Request schemas whose flat fields may also come form-encoded or as multipart (`JSONBody`, as DRF's parsers).
    /// Every JSON write takes them too, but only these (no nullable or numeric field, which a form cannot carry as
    /// such) are documented with them, so a generated client or a fuzzer never sends a null as the text "None".
    static let formSchemas: Set<String> = ["Credentials", "SessionBridge"]

    /// The values of OpenEMR's lists that the document names (`enum`): read from the database when served.
    struct Vocabulary: Hashable, Sendable {
        /// Active `list_options` of list `sex`.
        var sex: [String]
        /// Active `list_options` of list `titles`.
        var titles: [String]
        /// OpenEMR's stock lists (database.sql), for the document built without a database.
        static let stock = Vocabulary(sex: ["Female", "Male", "UNK"], titles: ["Mr.", "Mrs.", "Ms.", "Dr."])
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
        Operation(method: "post", path: "/api/patients/", summary: "Create a patient as OpenEMR does", authenticated: true, requestSchema: "PatientCreate", responses: [(201, "Patient"), (400, "Error"), (401, "Error"), (403, "Error")]),
        Operation(method: "get", path: "/api/patients/{pid}/", summary: "One patient (ETag)", authenticated: true, responses: [(200, "Patient"), (304, nil), (401, "Error"), (404, "Error")]),
        Operation(method: "put", path: "/api/patients/{pid}/", summary: "Replace the writable fields (If-Match honoured)", authenticated: true, requestSchema: "PatientReplace", responses: [(200, "Patient"), (400, "Error"), (403, "Error"), (404, "Error"), (412, "Error")]),
        Operation(method: "patch", path: "/api/patients/{pid}/", summary: "Update the sent fields (If-Match honoured)", authenticated: true, requestSchema: "PatientPatch", responses: [(200, "Patient"), (400, "Error"), (403, "Error"), (404, "Error"), (412, "Error")]),
        Operation(method: "delete", path: "/api/patients/{pid}/", summary: "Refused unless BRIDGE_ALLOW_PATIENT_DELETE=1 (admins); 409 patient_has_records while OpenEMR tables the bridge does not manage hold rows of the patient", authenticated: true, responses: [(204, nil), (403, "Error"), (404, "Error"), (409, "Error")]),
        Operation(method: "get", path: "/api/encounters/", summary: "List encounters", authenticated: true, responses: [(200, "EncounterPage"), (400, "Error"), (401, "Error")], query: ["patient", "provider", "date_from", "date_to", "page", "page_size"]),
        Operation(method: "post", path: "/api/encounters/", summary: "Create an encounter as OpenEMR does", authenticated: true, requestSchema: "EncounterInput", responses: [(201, "Encounter"), (400, "Error"), (401, "Error"), (403, "Error")]),
        Operation(method: "get", path: "/api/encounters/{encounter}/", summary: "One encounter", authenticated: true, responses: [(200, "Encounter"), (401, "Error"), (404, "Error")]),
        Operation(method: "post", path: "/api/encounters/import/", summary: "Import encounters (admins): a CSV, NDJSON or FHIR R4 Encounter NDJSON body by Content-Type, streamed; 202 with the queued run", authenticated: true, responses: [(202, "ImportRun"), (400, "Error"), (401, "Error"), (403, "Error"), (413, "Error"), (415, "Error")], query: ["source", "dry_run", "strict", "batch_size", "jobs"], requestMediaTypes: ["text/csv", "application/x-ndjson", "application/fhir+ndjson"]),
        Operation(method: "get", path: "/api/imports/", summary: "Import runs, newest first (admins)", authenticated: true, responses: [(200, "ImportRunPage"), (401, "Error"), (403, "Error"), (404, "Error")], query: ["page", "page_size"]),
        Operation(method: "get", path: "/api/imports/{id}/", summary: "One import run: state, counts, rate and the first rejected rows (admins)", authenticated: true, responses: [(200, "ImportRun"), (401, "Error"), (403, "Error"), (404, "Error")]),
        Operation(method: "get", path: "/api/encounters/{encounter}/video/", summary: "Video visit state (scheduled, live, ended), join window and readiness; creates the encounter's room on first use", authenticated: true, responses: [(200, "VideoVisit"), (401, "Error"), (403, "Error"), (404, "Error"), (503, "Error")]),
        Operation(method: "patch", path: "/api/encounters/{encounter}/video/", summary: "Enable or disable video for the encounter (its provider or an admin)", authenticated: true, requestSchema: "VideoEnabled", responses: [(200, "VideoVisit"), (400, "Error"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (503, "Error")]),
        Operation(method: "post", path: "/api/encounters/{encounter}/video/start/", summary: "Start the visit (the encounter's provider or an admin): moderator token, meeting URL and IFrame options; state live", authenticated: true, responses: [(200, "VideoSession"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (410, "Error"), (503, "Error")]),
        Operation(method: "post", path: "/api/encounters/{encounter}/video/join/", summary: "Join the started visit (the encounter's patient, staff or an admin): participant token; 409 room_not_ready before the start, 403 outside_window, 410 once ended", authenticated: true, responses: [(200, "VideoSession"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (410, "Error"), (503, "Error")]),
        Operation(method: "post", path: "/api/encounters/{encounter}/video/end/", summary: "End the visit (its provider or an admin); later joins answer 410", authenticated: true, responses: [(200, "VideoVisit"), (401, "Error"), (403, "Error"), (404, "Error"), (410, "Error"), (503, "Error")]),
        Operation(method: "post", path: "/api/encounters/{encounter}/video/invite/", summary: "A patient join link (participant token bound to the room, expiring no later than the window's end)", authenticated: true, responses: [(200, "VideoInvite"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (410, "Error"), (503, "Error")]),
        Operation(method: "post", path: "/api/encounters/{encounter}/video/events/ticket/", summary: "A single-use ticket (60 s) for this encounter's event stream, for a browser EventSource", authenticated: true, responses: [(200, "VideoTicket"), (401, "Error"), (403, "Error"), (404, "Error"), (503, "Error")]),
        Operation(method: "get", path: "/api/encounters/{encounter}/video/events/", summary: "Server-Sent Events (text/event-stream): event state now and on every change; event closed {reason} when the bridge token is revoked or expires; Authorization or ?ticket=", authenticated: true, responses: [(200, nil), (401, "Error"), (403, "Error"), (404, "Error"), (503, "Error")], query: ["ticket"]),
        Operation(method: "get", path: "/api/video/settings/{facility_id}/", summary: "A facility's video settings (admins; app_secret and private_key are never returned)", authenticated: true, responses: [(200, "VideoSettings"), (401, "Error"), (403, "Error"), (404, "Error")]),
        Operation(method: "put", path: "/api/video/settings/{facility_id}/", summary: "Override the JITSI_* settings for a facility (admins; null removes an override; secrets write-only)", authenticated: true, requestSchema: "VideoSettingsInput", responses: [(200, "VideoSettings"), (400, "Error"), (401, "Error"), (403, "Error"), (404, "Error")]),
        Operation(method: "get", path: "/api/openemr/providers/", summary: "Active providers (users.authorized = 1)", authenticated: true, responses: [(200, "ProviderPage"), (401, "Error")], query: ["page", "page_size"]),
        Operation(method: "get", path: "/api/openemr/facilities/", summary: "Facilities", authenticated: true, responses: [(200, "FacilityPage"), (401, "Error")], query: ["page", "page_size"]),
        Operation(method: "get", path: "/api/transcriptions/", summary: "List transcriptions (no segments; full_text is an excerpt). Patients see only their own approved or integrated ones", authenticated: true, responses: [(200, "TranscriptionPage"), (304, nil), (400, "Error"), (401, "Error"), (404, "Error")], query: ["patient", "encounter", "status", "provider", "date_from", "date_to", "search", "ordering", "page", "page_size"]),
        Operation(method: "post", path: "/api/transcriptions/", summary: "Create a draft transcription with its segments (providers and admins)", authenticated: true, requestSchema: "TranscriptionInput", responses: [(201, "Transcription"), (400, "Error"), (401, "Error"), (403, "Error"), (413, "Error")]),
        Operation(method: "get", path: "/api/transcriptions/{id}/", summary: "One transcription with its segments in order (ETag)", authenticated: true, responses: [(200, "Transcription"), (304, nil), (401, "Error"), (404, "Error")]),
        Operation(method: "put", path: "/api/transcriptions/{id}/", summary: "Replace a transcription and its whole segment list while editable (If-Match honoured)", authenticated: true, requestSchema: "TranscriptionInput", responses: [(200, "Transcription"), (400, "Error"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (412, "Error"), (413, "Error")]),
        Operation(method: "patch", path: "/api/transcriptions/{id}/", summary: "Update the sent fields while editable; segments, when sent, replace the whole list (If-Match honoured)", authenticated: true, requestSchema: "TranscriptionPatch", responses: [(200, "Transcription"), (400, "Error"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (412, "Error"), (413, "Error")]),
        Operation(method: "post", path: "/api/transcriptions/{id}/submit/", summary: "draft → pending_review", authenticated: true, responses: [(200, "Transcription"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (412, "Error")]),
        Operation(method: "post", path: "/api/transcriptions/{id}/approve/", summary: "pending_review → approved", authenticated: true, responses: [(200, "Transcription"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (412, "Error")]),
        Operation(method: "post", path: "/api/transcriptions/{id}/reject/", summary: "pending_review → rejected, with a reason", authenticated: true, requestSchema: "TranscriptionRejection", responses: [(200, "Transcription"), (400, "Error"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (412, "Error")]),
        Operation(method: "post", path: "/api/transcriptions/{id}/reopen/", summary: "rejected → draft", authenticated: true, responses: [(200, "Transcription"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (412, "Error")]),
        Operation(method: "post", path: "/api/transcriptions/{id}/integrate_with_openemr/", summary: "Write the approved text into the encounter as a Clinical Notes (default) or SOAP form: 201 when written, 200 with the same form when it already was", authenticated: true, requestSchema: "TranscriptionIntegration", responses: [(200, "Transcription"), (201, "Transcription"), (400, "Error"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (503, "Error")]),
        Operation(method: "put", path: "/api/transcriptions/{id}/audio/", summary: "Upload the recording as the raw body (Content-Type audio/*), streamed to disk; at most BRIDGE_AUDIO_MAX_BYTES", authenticated: true, responses: [(200, "Transcription"), (401, "Error"), (403, "Error"), (404, "Error"), (409, "Error"), (413, "Error"), (415, "Error"), (503, "Error")], requestMediaTypes: ["audio/*"]),
        Operation(method: "get", path: "/api/transcriptions/{id}/audio/", summary: "Download the recording; one Range (206 with Content-Range, 416 when outside). Never to patients (403)", authenticated: true, responses: [(200, nil), (206, nil), (304, nil), (401, "Error"), (403, "Error"), (404, "Error"), (416, "Error")], rawResponseBody: "audio/*"),
    ]

    // MARK: - Schemas

    /// An object schema whose `required` list is `required` (OpenAPIKit derives it from each property's `required` flag).
    private static func object(_ properties: [(String, JSONSchema)], required: [String]) -> JSONSchema {
        var ordered = OrderedDictionary<String, JSONSchema>()
        for (name, schema) in properties {
            ordered[name] = required.contains(name) ? schema.requiredSchemaObject() : schema.optionalSchemaObject()
        }
        return .object(properties: ordered)
    }
    private static func object(_ properties: KeyValuePairs<String, JSONSchema>, required: [String]) -> JSONSchema {
        object(properties.map { ($0.key, $0.value) }, required: required)
    }
    private static let nullableString = JSONSchema.string(nullable: true)
    private static let nullableInteger = JSONSchema.integer(nullable: true)
    /// Seconds from `minimum` to a day, as `JitsiSettings.problems` accepts them; null: back to the default.
    private static func seconds(_ minimum: Int) -> JSONSchema {
        .integer(nullable: true, maximum: (86400, exclusive: false), minimum: (minimum, exclusive: false))
    }
    private static func ref(_ name: String) -> JSONSchema { .reference(.component(named: name)) }
    private static func page(_ item: String) -> JSONSchema {
        object(
            ["count": .integer, "next": nullableString, "previous": nullableString, "results": .array(items: ref(item))],
            required: ["count", "next", "previous", "results"]
        )
    }

    /// The patient list's page: its count may be a lower bound (issue 18), and says so.
    private static var patientPage: JSONSchema {
        object(
            [
                (
                    "count",
                    .integer(
                        description: "The number of matching patients when count_exact is true; otherwise a lower bound (at least this many match): "
                            + "counting every match of a common search would cost a second scan. Use next to know whether there is another page."
                    )
                ),
                ("count_exact", .boolean(description: "Whether count is exact (always true for ?page=last and for searches with few matches).")),
                ("next", nullableString), ("previous", nullableString), ("results", .array(items: ref("Patient"))),
            ],
            required: ["count", "count_exact", "next", "previous", "results"]
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

    private static let transcriptionInput: [(String, JSONSchema)] = [
        ("pid", .integer(minimum: (1, exclusive: false))), ("encounter", .integer(minimum: (1, exclusive: false))),
        ("provider_id", .integer(minimum: (1, exclusive: false))), ("language", .string(minLength: 2, maxLength: 35, pattern: "^[A-Za-z0-9-]+$")),
        ("duration_ms", .integer(nullable: true, minimum: (0, exclusive: false))), ("segments", .array(items: ref("TranscriptionSegmentInput"))),
    ]

    static let transcriptionFields = [
        "id", "pid", "encounter", "provider_id", "language", "duration_ms", "status", "full_text", "segment_count", "created_by", "created_at",
        "updated_at", "submitted_at", "reviewed_by", "reviewed_at", "rejection_reason", "audio", "openemr_form", "version",
    ]

    private static func transcription(withSegments: Bool) -> JSONSchema {
        let dateTime = JSONSchema.string(format: .dateTime)
        let nullableDateTime = JSONSchema.string(format: .dateTime, nullable: true)
        var properties: [(String, JSONSchema)] = [
            ("id", .integer), ("pid", .integer), ("encounter", .integer), ("provider_id", .integer), ("language", .string), ("duration_ms", nullableInteger),
            ("status", .string(allowedValues: "draft", "pending_review", "approved", "rejected", "integrated")),
            ("full_text", .string(description: withSegments ? "The segments' text joined in order, one line each" : "The first 280 characters")),
            ("segment_count", .integer), ("created_by", .string(nullable: true, description: "null for patients")), ("created_at", dateTime), ("updated_at", dateTime), ("submitted_at", nullableDateTime),
            ("reviewed_by", nullableInteger), ("reviewed_at", nullableDateTime), ("rejection_reason", nullableString),
            (
                "audio",
                object(["content_type": .string, "size": .integer, "sha256": .string, "uploaded_at": nullableDateTime], required: ["content_type", "size", "sha256", "uploaded_at"])
                    .nullableSchemaObject()
            ),
            (
                "openemr_form",
                object(
                    [
                        "formdir": .string(allowedValues: "clinical_notes", "soap"), "form_id": .integer, "forms_id": .integer, "uuid": nullableString,
                        "note_type": nullableString, "integrated_by": nullableInteger, "integrated_at": nullableDateTime,
                    ],
                    required: ["formdir", "form_id", "forms_id", "uuid", "note_type", "integrated_by", "integrated_at"]
                ).nullableSchemaObject()
            ),
            ("version", .integer),
        ]
        if withSegments { properties.append(("segments", .array(items: ref("TranscriptionSegment")))) }
        return object(properties, required: transcriptionFields + (withSegments ? ["segments"] : []))
    }

    // MARK: - Field rules (the same as the handlers' validation; `OpenAPIDocumentTests` checks them against each other)

    /// `YYYY-MM-DD` dates that exist, in the years `years` (29 February left out: a leap day is accepted, just not promised).
    static func datePattern(years: String) -> String {
        "(\(years))-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)"
    }

    /// A birth date `PatientInput.validate` accepts: from `PatientInput.earliestBirthDate` (1900) to the end of last
    /// year (the current year's dates up to today are accepted too, not promised).
    static var birthDatePattern: String {
        let thisYear = Calendar(identifier: .gregorian).component(.year, from: Date())
        let years = ["19[0-9]{2}"] + (2000..<max(2000, thisYear)).map(String.init)
        return "^" + datePattern(years: years.joined(separator: "|")) + "$"
    }

    /// An encounter date or date and time (`EncounterInput.validated`).
    static let encounterDatePattern = "^(" + datePattern(years: "(19|20)[0-9]{2}") + "( ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])?)?$"

    /// A text that is not blank (names: `PatientInput.validate` refuses whitespace only).
    static let notBlank = "\\S"
    /// An email as `PatientInput.validate` checks it: empty, or an `@` and no space.
    static let emailPattern = "^([^ ]*@[^ ]*)?$"

    /// The writable patient fields: `PatientCreate` and `PatientReplace` (fname, lname, sex, dob required) and
    /// `PatientPatch` (none required; an empty `dob` clears it).
    static func patientInput(_ vocabulary: Vocabulary, patch: Bool) -> JSONSchema {
        let text = JSONSchema.string(maxLength: 255)
        let name = JSONSchema.string(maxLength: 255, pattern: notBlank)
        // An enum of a nullable field lists null too (null: not sent).
        let sexValues = vocabulary.sex.map { AnyCodable($0) } + (patch ? [AnyCodable(Optional<String>.none)] : [])
        let sex: JSONSchema = vocabulary.sex.isEmpty
            ? name : .string(description: "An active option of OpenEMR's sex list", allowedValues: sexValues)
        let dob = JSONSchema.string(
            description: "YYYY-MM-DD, from \(PatientInput.earliestBirthDate) to today" + (patch ? "; an empty string clears it" : ""),
            pattern: patch ? "^$|" + birthDatePattern : birthDatePattern
        )
        // Optional in every input, so null (not sent) is listed too.
        let titleValues = (vocabulary.titles + [""]).map { AnyCodable($0) } + [AnyCodable(Optional<String>.none)]
        let title: JSONSchema = vocabulary.titles.isEmpty
            ? text : .string(description: "An active option of OpenEMR's titles list, or empty", allowedValues: titleValues)
        let properties: [(String, JSONSchema)] = [
            ("pubpid", .string(description: "Default: the pid", maxLength: 255)), ("title", title), ("fname", name), ("mname", text), ("lname", name),
            ("dob", dob), ("sex", sex), ("email", .string(maxLength: 255, pattern: emailPattern)), ("phone_home", text), ("phone_cell", text),
            ("street", text), ("city", text), ("state", text), ("postal_code", text), ("country_code", text), ("status", text),
            ("provider_id", .integer(maximum: (Int(Int32.max), exclusive: false), minimum: (0, exclusive: false))),
        ]
        let required = patch ? [] : ["fname", "lname", "sex", "dob"]
        // An optional field sent as null is not sent (`PatientInput`'s optionals): nullable in the document.
        return object(properties.map { name, schema in (name, required.contains(name) ? schema : schema.nullableSchemaObject()) }, required: required)
    }

    static func schemas(_ vocabulary: Vocabulary) -> OrderedDictionary<String, JSONSchema> {
        let patient = patientFields.map { field -> (String, JSONSchema) in
            switch field {
            case "pid": (field, .integer)
            case "provider_id": (field, nullableInteger)
            default: (field, nullableString)
            }
        }
        let encounter = encounterFields.map { field -> (String, JSONSchema) in
            switch field {
            case "encounter", "pid": (field, .integer)
            case "facility_id", "provider_id", "pc_catid", "pos_code": (field, nullableInteger)
            default: (field, nullableString)
            }
        }
        return [
            "Error": object(
                ["error": object(["code": .string, "message": .string, "details": .object(additionalProperties: .b(.string))], required: ["code", "message", "details"])],
                required: ["error"]
            ),
            "Health": object(
                ["status": .string(allowedValues: "ok", "unavailable"), "database": .string(allowedValues: "ok", "unavailable"), "version": .string],
                required: ["status", "database", "version"]
            ),
            "Credentials": object(
                ["username": .string(minLength: 1, maxLength: 255), "password": .string(minLength: 1, maxLength: 4096)], required: ["username", "password"]
            ),
            "SessionBridge": object(
                [
                    "session_id": .string(description: "OpenEMR's PHP session id (or send the OpenEMR / PortalOpenEMR cookie instead of a body)", minLength: 1),
                    "type": .string(allowedValues: "core", "portal"),
                ],
                required: ["session_id"]
            ),
            "User": object(
                [
                    "id": nullableInteger, "username": .string, "fname": .string, "lname": .string,
                    "role": .string(allowedValues: "admin", "provider", "staff", "patient", "guest"), "facility_id": nullableInteger, "pid": nullableInteger,
                ],
                required: ["username", "fname", "lname", "role"]
            ),
            "Login": object(
                ["token": .string, "token_type": .string(allowedValues: "Bearer"), "expires_at": .string(format: .dateTime), "user": ref("User"), "password_expiring": .boolean],
                required: ["token", "token_type", "expires_at", "user"]
            ),
            "Patient": object(patient, required: patientFields),
            "PatientCreate": patientInput(vocabulary, patch: false),
            "PatientReplace": patientInput(vocabulary, patch: false),
            "PatientPatch": patientInput(vocabulary, patch: true),
            "PatientPage": patientPage,
            "Encounter": object(encounter, required: encounterFields),
            "EncounterInput": object(
                [
                    "pid": .integer(description: "An existing patient (400 when there is none)", minimum: (1, exclusive: false)),
                    "date": .string(description: "The clinic's local date or date and time; empty or absent: now", pattern: encounterDatePattern),
                    "reason": .string(maxLength: 16383), "facility_id": .integer(description: "An existing facility", minimum: (1, exclusive: false)),
                    "provider_id": .integer(description: "An active provider", minimum: (1, exclusive: false)),
                    "pc_catid": .integer(maximum: (Int(Int32.max), exclusive: false), minimum: (1, exclusive: false)),
                    "class_code": .string(description: "An _ActEncounterCode option id (default AMB)", minLength: 1, maxLength: 10),
                    "pos_code": .integer(maximum: (99, exclusive: false), minimum: (0, exclusive: false)),
                    "sensitivity": .string(nullable: true, allowedValues: "normal", "high", "", nil), "external_id": .string(maxLength: 20),
                ],
                required: ["pid"]
            ).nullableOptionalProperties(),
            "EncounterPage": page("Encounter"),
            "Provider": object(
                ["id": .integer, "uuid": nullableString, "username": .string, "fname": .string, "lname": .string, "facility_id": nullableInteger, "specialty": .string],
                required: ["id", "fname", "lname"]
            ),
            "ProviderPage": page("Provider"),
            "Facility": object(
                [
                    "id": .integer, "uuid": nullableString, "name": .string, "phone": .string, "street": .string, "city": .string, "state": .string,
                    "postal_code": .string, "pos_code": nullableInteger, "service_location": .boolean, "billing_location": .boolean,
                ],
                required: ["id", "name"]
            ),
            "FacilityPage": page("Facility"),
            "TranscriptionSegment": object(
                [
                    "order": .integer(minimum: (0, exclusive: false)), "start_ms": .integer(minimum: (0, exclusive: false)),
                    "end_ms": .integer(minimum: (0, exclusive: false)), "speaker": .string(minLength: 1, maxLength: 64),
                    "text": .string(minLength: 1), "confidence": .number(nullable: true, maximum: (1, exclusive: false), minimum: (0, exclusive: false)),
                ],
                required: ["order", "start_ms", "end_ms", "speaker", "text", "confidence"]
            ),
            "TranscriptionSegmentInput": object(
                [
                    "order": .integer(minimum: (0, exclusive: false)), "start_ms": .integer(minimum: (0, exclusive: false)),
                    "end_ms": .integer(description: "Not before start_ms", minimum: (0, exclusive: false)), "speaker": .string(minLength: 1, maxLength: 64),
                    "text": .string(minLength: 1), "confidence": .number(nullable: true, maximum: (1, exclusive: false), minimum: (0, exclusive: false)),
                ],
                required: ["start_ms", "end_ms", "text"]
            ),
            "Transcription": transcription(withSegments: true),
            "TranscriptionSummary": transcription(withSegments: false),
            "TranscriptionPage": page("TranscriptionSummary"),
            "TranscriptionInput": object(transcriptionInput, required: ["pid", "encounter", "segments"]),
            "TranscriptionPatch": object(transcriptionInput, required: []),
            "TranscriptionRejection": object(["reason": .string(minLength: 1)], required: ["reason"]),
            "TranscriptionIntegration": object(
                [
                    "form": .string(allowedValues: "clinical_notes", "soap"), "note_type": .string, "note_category": .string,
                    "sections": object(["subjective": .string, "objective": .string, "assessment": .string, "plan": .string], required: [])
                        .with(description: "Only with form \"soap\""),
                ],
                required: []
            ),
            "ImportRejection": object(
                [
                    "line": .integer, "status": .string(allowedValues: "rejected", "conflict"), "field": .string, "reason": .string,
                    "external_id": .string,
                ],
                required: ["line", "status", "reason"]
            ),
            "ImportRun": object(
                [
                    ("id", .integer), ("source", .string), ("format", .string(allowedValues: "csv", "ndjson", "fhir")),
                    ("origin", .string(allowedValues: "api", "cli")), ("state", .string(allowedValues: "queued", "running", "finished", "failed")),
                    ("dry_run", .boolean), ("strict", .boolean), ("created_by", .string), ("created_at", .string), ("started_at", .string),
                    ("updated_at", .string), ("finished_at", .string), ("bytes_total", .integer), ("bytes_read", .integer), ("rows_read", .integer),
                    ("imported", .integer), ("already_imported", .integer), ("conflicts", .integer), ("rejected", .integer), ("rate", .number),
                    ("error", .string), ("rejected_rows", .array(items: ref("ImportRejection"))),
                ],
                required: [
                    "id", "source", "format", "origin", "state", "dry_run", "strict", "created_by", "created_at", "bytes_read", "rows_read", "imported",
                    "already_imported", "conflicts", "rejected", "rate",
                ]
            ),
            "ImportRunPage": page("ImportRun"),
            "VideoWindow": object(
                [
                    "start": nullableString, "opens_at": nullableString, "closes_at": nullableString,
                    "source": .string(allowedValues: "appointment", "encounter", "encounter_day"), "open": .boolean,
                ],
                required: ["start", "opens_at", "closes_at", "source", "open"]
            ),
            "VideoVisit": object(
                [
                    "encounter": .integer, "state": .string(allowedValues: "scheduled", "live", "ended"), "enabled": .boolean, "ready": .boolean,
                    "room": .string, "window": ref("VideoWindow"), "started_at": .string, "ended_at": .string, "version": .integer,
                ],
                required: ["encounter", "state", "enabled", "ready", "window", "version"]
            ),
            "VideoEnabled": object(["enabled": .boolean], required: ["enabled"]),
            "VideoSession": object(
                [
                    "visit": ref("VideoVisit"), "token": .string, "meeting_url": .string, "expires_at": .string, "moderator": .boolean,
                    "iframe": object(["domain": .string, "options": .object], required: ["domain", "options"]),
                ],
                required: ["visit", "token", "meeting_url", "expires_at", "moderator", "iframe"]
            ),
            "VideoInvite": object(
                ["visit": ref("VideoVisit"), "invite_url": .string, "token": .string, "expires_at": .string],
                required: ["visit", "invite_url", "token", "expires_at"]
            ),
            "VideoTicket": object(["ticket": .string, "expires_at": .string, "events_url": .string], required: ["ticket", "expires_at", "events_url"]),
            "VideoSettings": object(
                [
                    "facility_id": .integer, "domain": .string, "app_id": .string, "audience": .string, "sub": .string,
                    "algorithm": .string(allowedValues: "HS256", "RS256", "JAAS"), "key_id": .string, "recording_enabled": .boolean,
                    "window_before": .integer, "window_after": .integer, "token_ttl": .integer, "max_duration": .integer,
                    "app_secret_set": .boolean, "private_key_set": .boolean, "overrides": .array(items: .string), "configured": .boolean,
                ],
                required: [
                    "facility_id", "domain", "app_id", "audience", "sub", "algorithm", "key_id", "recording_enabled", "window_before", "window_after",
                    "token_ttl", "max_duration", "app_secret_set", "private_key_set", "overrides", "configured",
                ]
            ),
            "VideoSettingsInput": object(
                [
                    "domain": nullableString, "app_id": nullableString, "app_secret": nullableString, "audience": nullableString, "sub": nullableString,
                    "algorithm": nullableString, "key_id": nullableString, "private_key": nullableString, "recording_enabled": .boolean(nullable: true),
                    "window_before": seconds(0), "window_after": seconds(0), "token_ttl": seconds(60), "max_duration": seconds(60),
                ],
                required: []
            ),
        ]
    }

    // MARK: - Document

    /// The query parameters' rules, as the list handlers read them (an empty value is always no filter).
    static func querySchema(_ name: String, path: String) -> JSONSchema {
        let id = JSONSchema.string(description: "A positive id; empty: no filter", pattern: "^([1-9][0-9]{0,17})?$")
        let day = JSONSchema.string(description: "YYYY-MM-DD; empty: no filter", pattern: "^(" + datePattern(years: "(19|20)[0-9]{2}") + ")?$")
        switch (name, path) {
        case ("page", _): return .string(description: "1-based page number or `last`; empty or invalid: the first page; past the last page: 404")
        case ("page_size", _): return .string(description: "1 to 200 (larger: 200); empty or invalid: 50")
        case ("dob", _): return .string(description: "YYYY-MM-DD; empty: no filter", pattern: "^(" + datePattern(years: "(19|20)[0-9]{2}") + ")?$")
        case ("ordering", "/api/patients/"):
            let field = "-?(pid|pubpid|fname|lname|dob|date_created)"
            return .string(description: "Comma-separated fields, `-` for descending", pattern: "^(\(field)(,\(field))*)?$")
        case ("ordering", "/api/transcriptions/"):
            let field = "-?(created|updated|status|pid)"
            return .string(description: "Comma-separated fields, `-` for descending", pattern: "^(\(field)(,\(field))*)?$")
        case ("status", "/api/transcriptions/"):
            let status = "(" + TranscriptionStatus.allCases.map(\.rawValue).joined(separator: "|") + ")"
            return .string(description: "Comma-separated statuses", pattern: "^(\(status)(,\(status))*)?$")
        case ("search", "/api/transcriptions/"):
            return .string(description: "Words (runs of letters and digits); every one must occur, only the first 20 are used")
        case ("patient", "/api/encounters/"), ("provider", "/api/encounters/"):
            return .string(description: "An id; empty: no filter", pattern: "^([0-9]{1,18})?$")
        case ("patient", _), ("encounter", _), ("provider", _): return id
        case ("date_from", "/api/encounters/"), ("date_to", "/api/encounters/"):
            return .string(description: "YYYY-MM-DD or YYYY-MM-DD HH:MM:SS; empty: no filter", pattern: "^(" + String(encounterDatePattern.dropFirst().dropLast()) + ")?$")
        case ("date_from", _), ("date_to", _): return day
        default: return .string
        }
    }

    /// A JSON text as an example value.
    static func example(_ json: String) -> AnyCodable {
        (try? JSONDecoder().decode(AnyCodable.self, from: Data(json.utf8))) ?? AnyCodable(json)
    }

    /// An example request body per request schema (the fuzzer's examples phase and a generated client's docs).
    static let requestExamples: [String: AnyCodable] = [
        "Credentials": #"{"username":"drsmith","password":"doctor123"}"#,
        "SessionBridge": #"{"session_id":"0123456789abcdefghijklmnop","type":"core"}"#,
        "PatientCreate": #"{"fname":"Ada","lname":"Lovelace","sex":"Female","dob":"1985-12-10","city":"London","email":"ada@example.org"}"#,
        "PatientReplace": #"{"fname":"Ada","lname":"King","sex":"Female","dob":"1985-12-10"}"#,
        "PatientPatch": #"{"city":"Ockham","phone_cell":"555-0199"}"#,
        "EncounterInput": #"{"pid":1,"reason":"Follow-up visit","date":"2025-03-04 09:30:00"}"#,
        "VideoEnabled": #"{"enabled":true}"#,
        "VideoSettingsInput": #"{"window_before":900,"window_after":1800}"#,
        "TranscriptionInput": #"{"pid":1,"encounter":1,"language":"en","segments":[{"start_ms":0,"end_ms":1500,"speaker":"provider","text":"Good morning."}]}"#,
        "TranscriptionPatch": #"{"language":"es"}"#,
        "TranscriptionRejection": #"{"reason":"The second segment is misheard."}"#,
        "TranscriptionIntegration": #"{"form":"clinical_notes"}"#,
    ].mapValues(example)

    /// An example of the main success bodies, and of the error shape.
    static let responseExamples: [String: AnyCodable] = [
        "Health": #"{"status":"ok","database":"ok","version":"\#(EMRBridgeVersion.current)"}"#,
        "Health@503": #"{"status":"unavailable","database":"unavailable","version":"\#(EMRBridgeVersion.current)"}"#,
        "User": #"{"id":3,"username":"drsmith","fname":"Sam","lname":"Smith","role":"provider","facility_id":3,"pid":null}"#,
        "Login": #"""
            {"token":"3f5e0c1d9a7b4e2f8c6d1a0b9e8f7c6d5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d","token_type":"Bearer","expires_at":"2025-03-04T17:30:00Z",
            "password_expiring":false,"user":{"id":3,"username":"drsmith","fname":"Sam","lname":"Smith","role":"provider","facility_id":3,"pid":null}}
            """#,
        "Patient": patientExample,
        "Error": #"{"error":{"code":"validation_error","message":"The request has invalid fields.","details":{"dob":"Date has wrong format. Use YYYY-MM-DD."}}}"#,
        "Encounter": encounterExample,
        "Provider": #"{"id":3,"uuid":"9a1c2f3e-0d4b-4c6a-8e2f-1b3c5d7e9f02","username":"drsmith","fname":"Sam","lname":"Smith","facility_id":3,"specialty":"Family Medicine"}"#,
        "Facility": #"""
            {"id":3,"uuid":"9a1c2f3e-0d4b-4c6a-8e2f-1b3c5d7e9f03","name":"Riverside Family Medicine","phone":"555-0100","street":"1 River Rd",
            "city":"Springfield","state":"IL","postal_code":"62701","pos_code":11,"service_location":true,"billing_location":true}
            """#,
        "TranscriptionSummary": transcriptionExample(segments: false),
        "Transcription": transcriptionExample(segments: true),
        "ImportRun": importRunExample,
        "VideoVisit": videoVisitExample,
        "VideoTicket": #"{"ticket":"b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6","expires_at":"2025-03-04T09:31:00Z","events_url":"/api/encounters/12/video/events/?ticket=b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6"}"#,
        "VideoSession": #"""
            {"visit":\#(videoVisitExample),"token":"eyJhbGciOiJIUzI1NiJ9.e30.x","meeting_url":"https://meet.example.com/emr-12-3f5e0c1d?jwt=eyJhbGciOiJIUzI1NiJ9.e30.x",
            "expires_at":"2025-03-04T10:30:00Z","moderator":true,"iframe":{"domain":"meet.example.com","options":{"roomName":"emr-12-3f5e0c1d"}}}
            """#,
        "VideoInvite": #"""
            {"visit":\#(videoVisitExample),"invite_url":"https://meet.example.com/emr-12-3f5e0c1d?jwt=eyJhbGciOiJIUzI1NiJ9.e30.y","token":"eyJhbGciOiJIUzI1NiJ9.e30.y",
            "expires_at":"2025-03-04T10:30:00Z"}
            """#,
        "VideoSettings": #"""
            {"facility_id":3,"domain":"meet.example.com","app_id":"emrbridge","audience":"jitsi","sub":"meet.jitsi","algorithm":"HS256","key_id":"",
            "recording_enabled":false,"window_before":600,"window_after":1800,"token_ttl":3600,"max_duration":9000,"app_secret_set":true,
            "private_key_set":false,"overrides":["window_before"],"configured":true}
            """#,
        "PatientPage": #"{"count":1,"count_exact":true,"next":null,"previous":null,"results":["# + patientExample + "]}",
        "EncounterPage": pageExample(encounterExample),
        "ProviderPage": pageExample(#"{"id":3,"uuid":null,"username":"drsmith","fname":"Sam","lname":"Smith","facility_id":3,"specialty":""}"#),
        "FacilityPage": pageExample(#"{"id":3,"uuid":null,"name":"Riverside Family Medicine","phone":"","street":"","city":"","state":"","postal_code":"","pos_code":null,"service_location":true,"billing_location":true}"#),
        "TranscriptionPage": pageExample(transcriptionExample(segments: false)),
        "ImportRunPage": pageExample(importRunExample),
    ].mapValues(example)

    private static let patientExample = #"""
        {"pid":7,"pubpid":"7","uuid":"9a1c2f3e-0d4b-4c6a-8e2f-1b3c5d7e9f01","title":"","fname":"Ada","mname":"","lname":"Lovelace",
        "dob":"1985-12-10","sex":"Female","email":"ada@example.org","phone_home":"","phone_cell":"","street":"","city":"London",
        "state":"","postal_code":"","country_code":"","status":"","provider_id":0,"date_created":"2025-03-04 09:30:00"}
        """#
    private static let encounterExample = #"""
        {"encounter":12,"uuid":"9a1c2f3e-0d4b-4c6a-8e2f-1b3c5d7e9f04","pid":7,"date":"2025-03-04 09:30:00","reason":"Follow-up visit","facility_id":3,
        "facility_name":"Riverside Family Medicine","provider_id":3,"pc_catid":5,"class_code":"AMB","pos_code":11,"sensitivity":"normal","external_id":null,
        "last_update":"2025-03-04 09:30:00"}
        """#
    private static let videoVisitExample = #"""
        {"encounter":12,"state":"scheduled","enabled":true,"ready":true,"room":"emr-12-3f5e0c1d","window":{"start":"2025-03-04T09:30:00Z",
        "opens_at":"2025-03-04T09:20:00Z","closes_at":"2025-03-04T10:00:00Z","source":"encounter","open":false},"version":1}
        """#
    private static let importRunExample = #"""
        {"id":4,"source":"legacy-emr","format":"csv","origin":"api","state":"finished","dry_run":false,"strict":false,"created_by":"admin",
        "created_at":"2025-03-04T09:30:00Z","started_at":"2025-03-04T09:30:01Z","updated_at":"2025-03-04T09:30:09Z","finished_at":"2025-03-04T09:30:09Z",
        "bytes_total":52311,"bytes_read":52311,"rows_read":1000,"imported":998,"already_imported":0,"conflicts":0,"rejected":2,"rate":125.0,
        "rejected_rows":[{"line":17,"status":"rejected","field":"date","reason":"Datetime has wrong format."}]}
        """#
    private static func transcriptionExample(segments: Bool) -> String {
        #"""
        {"id":9,"pid":7,"encounter":12,"provider_id":3,"language":"en","duration_ms":1500,"status":"draft","full_text":"Good morning.",
        "segment_count":1,"created_by":"drsmith","created_at":"2025-03-04T09:31:00Z","updated_at":"2025-03-04T09:31:00Z","submitted_at":null,
        "reviewed_by":null,"reviewed_at":null,"rejection_reason":null,"audio":null,"openemr_form":null,"version":1
        """# + (segments ? #","segments":[{"order":0,"start_ms":0,"end_ms":1500,"speaker":"provider","text":"Good morning.","confidence":0.98}]}"# : "}")
    }
    private static func pageExample(_ item: String) -> String {
        #"{"count":1,"next":null,"previous":null,"results":["# + item + "]}"
    }

    /// The typed document for `vocabulary` (OpenAPIKit's OpenAPI 3.1 model), built from `operations` and `schemas`.
    static func build(_ vocabulary: Vocabulary) -> OpenAPI.Document {
        var paths = OpenAPI.PathItem.Map()
        for operation in operations {
            var responses = OpenAPI.Response.Map()
            for (status, schema) in operation.statuses {
                var content = OpenAPI.Content.Map()
                if let schema {
                    let example: AnyCodable? =
                        switch (status, schema) {
                        case (..<300, _): responseExamples[schema]
                        case (400, "Error"): responseExamples["Error"]
                        case (_, "Error"): errorExample(status)
                        default: responseExamples["\(schema)@\(status)"]
                        }
                    content[.json] = .content(OpenAPI.Content(schema: ref(schema), example: example))
                }
                if let raw = operation.rawResponseBody, status == 200 || status == 206, let type = OpenAPI.ContentType(rawValue: raw) {
                    content[type] = .content(OpenAPI.Content(schema: .string(contentEncoding: .binary)))
                }
                var headers: OpenAPI.Header.Map?
                if status == 503 || (status == 423) {
                    headers = ["Retry-After": .header(OpenAPI.Header(schema: .integer, required: false))]
                }
                responses[.status(code: status)] = .response(
                    OpenAPI.Response(description: status < 400 ? "Success" : Self.describe(status), headers: headers, content: content)
                )
            }
            var parameters: OpenAPI.Parameter.Array = operation.query.map {
                .parameter(name: $0, context: .query(schema: querySchema($0, path: operation.path)))
            }
            for name in ["pid", "encounter", "id", "facility_id"] where operation.path.contains("{\(name)}") {
                parameters.append(.parameter(name: name, context: .path(schema: .integer(minimum: (1, exclusive: false)))))
            }
            var requestBody = operation.requestSchema.map { request in
                var content: OpenAPI.Content.Map = [.json: .content(OpenAPI.Content(schema: ref(request), example: requestExamples[request]))]
                if formSchemas.contains(request) {
                    content[.form] = .content(OpenAPI.Content(schema: ref(request)))
                    content[.multipartForm] = .content(OpenAPI.Content(schema: ref(request)))
                }
                return OpenAPI.Request(content: content, required: request != "TranscriptionIntegration")
            }
            if !operation.requestMediaTypes.isEmpty {
                var content = OpenAPI.Content.Map()
                for type in operation.requestMediaTypes {
                    let schema: JSONSchema = type.hasPrefix("audio/") ? .string(contentEncoding: .binary) : .string
                    if let media = OpenAPI.ContentType(rawValue: type) { content[media] = .content(OpenAPI.Content(schema: schema)) }
                }
                requestBody = OpenAPI.Request(content: content, required: true)
            }
            let entry = OpenAPI.Operation(
                summary: operation.summary,
                operationId: operation.operationID,
                parameters: parameters,
                requestBody: requestBody,
                responses: responses,
                security: operation.authenticated ? [[.component(named: "bearer"): []], [.component(named: "drfToken"): []]] : nil
            )
            let path = OpenAPI.Path(rawValue: operation.path)
            var item = paths[path]?.pathItemValue ?? OpenAPI.PathItem()
            guard let method = OpenAPI.HttpMethod(rawValue: operation.method.uppercased()) else {
                preconditionFailure("unknown HTTP method \(operation.method)")
            }
            item[method] = entry
            paths[path] = .pathItem(item)
        }
        var schemaComponents = OpenAPI.ComponentDictionary<JSONSchema>()
        for (name, schema) in schemas(vocabulary) {
            guard let key = OpenAPI.ComponentKey(rawValue: name) else { preconditionFailure("bad component name \(name)") }
            schemaComponents[key] = schema
        }
        return OpenAPI.Document(
            openAPIVersion: .v3_1_0,
            info: .init(
                title: "EMRBridge API",
                description: """
                    REST bridge beside OpenEMR. Every error is {"error":{"code","message","details"}}. A method a path does not serve \
                    answers 405 with Allow; HEAD is served wherever GET is. Bodies may be JSON, form-encoded or multipart.
                    """,
                version: EMRBridgeVersion.current
            ),
            servers: [],
            paths: paths,
            components: .direct(
                schemas: schemaComponents,
                securitySchemes: [
                    "bearer": .http(scheme: "bearer", description: "Authorization: Bearer <token> (from a sign-in)"),
                    "drfToken": .apiKey(name: "Authorization", location: .header, description: "Token <token> (Django REST framework style)"),
                ]
            )
        )
    }

    /// The error shape with the code and message a status usually carries (`ErrorMiddleware.describe`).
    static func errorExample(_ status: Int) -> AnyCodable {
        let (code, message) = ErrorMiddleware<AppRequestContext>.describe(HTTPResponse.Status(code: status))
        return example(#"{"error":{"code":\#(JSONText.quoted(code)),"message":\#(JSONText.quoted(message)),"details":{}}}"#)
    }

    static func describe(_ status: Int) -> String {
        switch status {
        case 400: "Invalid request (validation_error with per-field details, invalid_json, …)"
        case 401: "No valid token, or the credentials were refused"
        case 403: "Not allowed for this role"
        case 404: "Not found (or a page past the last)"
        case 409: "Conflict with the current state"
        case 412: "If-Match does not match the current ETag"
        case 413: "The body is over the size limit"
        case 415: "Unsupported media type"
        case 423: "Account locked (Retry-After)"
        case 503: "The database (or a needed service) is unavailable; try again (Retry-After)"
        default: "Error"
        }
    }

    /// The document with OpenEMR's stock lists (for checks that run without a database).
    static let document: OpenAPI.Document = build(.stock)

    /// The served document's bytes for a vocabulary, encoded once per vocabulary.
    private static let encoded = Mutex<[Vocabulary: [UInt8]]>([:])

    static func json(_ vocabulary: Vocabulary) -> [UInt8] {
        if let bytes = encoded.withLock({ $0[vocabulary] }) { return bytes }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes: [UInt8]
        do {
            bytes = Array(try encoder.encode(build(vocabulary)))
        } catch {
            preconditionFailure("the OpenAPI document does not encode: \(error)")
        }
        encoded.withLock { cache in
            if cache.count > 16 { cache.removeAll() }
            cache[vocabulary] = bytes
        }
        return bytes
    }

    /// Runs OpenAPIKit's own `validate()` on the typed document (strict: warnings are errors): its default checks plus
    /// that there are paths, every path has operations, every `{variable}` of a path is a declared parameter, every
    /// operation has responses and no schema is empty. Throws what it finds.
    static func validate() throws {
        let validator = Validator().validating(
            \.documentContainsPaths, \.pathsContainOperations, \.pathParametersAreDefined, \.operationsContainResponses, \.schemaComponentsAreDefined
        )
        try document.validate(using: validator)
    }

    /// Every operation of the typed document as `"get /api/health/"` → the response status codes it documents.
    static var documentedOperations: [String: Set<Int>] {
        var result: [String: Set<Int>] = [:]
        for (path, item) in document.paths {
            for endpoint in item.pathItemValue?.endpoints ?? [] {
                let statuses = endpoint.operation.responses.keys.compactMap { key -> Int? in
                    if case .status(let code) = key.value { code } else { nil }
                }
                result["\(endpoint.method.rawValue.lowercased()) \(path.rawValue)"] = Set(statuses)
            }
        }
        return result
    }

    /// The document with the stock lists, as JSON bytes.
    static var json: [UInt8] { json(.stock) }

    /// `GET /api/openapi.json`: the document, with the `enum`s of OpenEMR's lists as this database has them (cached
    /// briefly by `OpenEMRLists`); the stock lists when the database cannot be read.
    static func addRoutes(to router: Router<AppRequestContext>, lists: OpenEMRLists) {
        router.get("/api/openapi.json") { _, context in
            let sex = (try? await lists.options(.sex, logger: context.logger)) ?? Vocabulary.stock.sex
            let titles = (try? await lists.options(.titles, logger: context.logger)) ?? Vocabulary.stock.titles
            let bytes = json(Vocabulary(sex: sex, titles: titles))
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}

extension JSONSchema {
    /// The object with every optional property nullable: the input types read a null as "not sent".
    func nullableOptionalProperties() -> JSONSchema {
        guard case .object(let core, let context) = value else { return self }
        var properties = OrderedDictionary<String, JSONSchema>()
        for (name, schema) in context.properties {
            properties[name] = context.requiredProperties.contains(name) ? schema : schema.nullableSchemaObject()
        }
        return .object(core, .init(properties: properties, additionalProperties: context.additionalProperties, maxProperties: context.maxProperties, minProperties: context.minProperties))
    }
}
