import Foundation
import Hummingbird
import OpenAPIKit

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
        Operation(method: "get", path: "/api/encounters/{encounter}/video/events/", summary: "Server-Sent Events (text/event-stream): the visit's state now and every change; Authorization or ?ticket=", authenticated: true, responses: [(200, nil), (401, "Error"), (403, "Error"), (404, "Error"), (503, "Error")], query: ["ticket"]),
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
    private static func ref(_ name: String) -> JSONSchema { .reference(.component(named: name)) }
    private static func page(_ item: String) -> JSONSchema {
        object(
            ["count": .integer, "next": nullableString, "previous": nullableString, "results": .array(items: ref(item))],
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

    static var schemas: OrderedDictionary<String, JSONSchema> {
        let patient = patientFields.map { field -> (String, JSONSchema) in
            switch field {
            case "pid": (field, .integer)
            case "provider_id": (field, nullableInteger)
            default: (field, nullableString)
            }
        }
        let patientInput = patientFields.filter { !["pid", "uuid", "date_created"].contains($0) }.map { field -> (String, JSONSchema) in
            switch field {
            case "provider_id": (field, .integer)
            case "dob": (field, .string(format: .date))
            default: (field, .string)
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
            "Credentials": object(["username": .string, "password": .string], required: ["username", "password"]),
            "SessionBridge": object(["session_id": .string, "type": .string(allowedValues: "core", "portal")], required: []),
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
            "PatientInput": object(patientInput, required: ["fname", "lname", "sex", "dob"]),
            "PatientPage": page("Patient"),
            "Encounter": object(encounter, required: encounterFields),
            "EncounterInput": object(
                [
                    "pid": .integer, "date": .string, "reason": .string, "facility_id": .integer, "provider_id": .integer, "pc_catid": .integer,
                    "class_code": .string, "pos_code": .integer, "sensitivity": .string(allowedValues: "normal", "high"), "external_id": .string,
                ],
                required: ["pid"]
            ),
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
                    "end_ms": .integer(minimum: (0, exclusive: false)), "speaker": .string(minLength: 1, maxLength: 64),
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
                    "sections": object(["subjective": .string, "objective": .string, "assessment": .string, "plan": .string], required: []),
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
                    "window_before": nullableInteger, "window_after": nullableInteger, "token_ttl": nullableInteger, "max_duration": nullableInteger,
                ],
                required: []
            ),
        ]
    }

    // MARK: - Document

    /// The typed document (OpenAPIKit's OpenAPI 3.1 model), built from `operations` and `schemas`.
    static let document: OpenAPI.Document = {
        var paths = OpenAPI.PathItem.Map()
        for operation in operations {
            var responses = OpenAPI.Response.Map()
            for (status, schema) in operation.responses {
                var content = OpenAPI.Content.Map()
                if let schema { content[.json] = .content(OpenAPI.Content(schema: ref(schema))) }
                if let raw = operation.rawResponseBody, status == 200 || status == 206, let type = OpenAPI.ContentType(rawValue: raw) {
                    content[type] = .content(OpenAPI.Content(schema: .string(contentEncoding: .binary)))
                }
                responses[.status(code: status)] = .response(OpenAPI.Response(description: status < 400 ? "Success" : "Error", content: content))
            }
            var parameters: OpenAPI.Parameter.Array = operation.query.map { .parameter(name: $0, context: .query(schema: .string)) }
            for name in ["pid", "encounter", "id", "facility_id"] where operation.path.contains("{\(name)}") {
                parameters.append(.parameter(name: name, context: .path(schema: .integer)))
            }
            var requestBody = operation.requestSchema.map { request in
                OpenAPI.Request(
                    content: [.json: .content(OpenAPI.Content(schema: ref(request)))],
                    required: !["SessionBridge", "TranscriptionIntegration"].contains(request)
                )
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
                operationId: operation.method + operation.path,
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
        for (name, schema) in schemas {
            guard let key = OpenAPI.ComponentKey(rawValue: name) else { preconditionFailure("bad component name \(name)") }
            schemaComponents[key] = schema
        }
        return OpenAPI.Document(
            openAPIVersion: .v3_1_0,
            info: .init(
                title: "EMRBridge API",
                description: "REST bridge beside OpenEMR. Every error is {\"error\":{\"code\",\"message\",\"details\"}}.",
                version: EMRBridgeVersion.current
            ),
            servers: [],
            paths: paths,
            components: .direct(
                schemas: schemaComponents,
                securitySchemes: [
                    "bearer": .http(scheme: "bearer"),
                    "drfToken": .apiKey(name: "Authorization", location: .header, description: "Token <token> (Django REST framework style)"),
                ]
            )
        )
    }()

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

    /// The document as JSON bytes, encoded once.
    static let json: [UInt8] = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(document))
        } catch {
            preconditionFailure("the OpenAPI document does not encode: \(error)")
        }
    }()

    static func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: json)))
        }
    }
}
