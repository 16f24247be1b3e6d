import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import NIOCore
import Testing

@testable import App
@testable import OpenEMR

extension LiveAppTests {
    /// Issue 15: transcriptions through the API against a real MariaDB (the demo fixture): the workflow, every illegal
    /// transition, concurrent decisions, edits with `If-Match`, malformed bodies that write nothing, 3,000 segments,
    /// full-text search, audio streaming and `Range`, and write-back into the encounter.
    @Suite("Live: transcriptions", .liveDatabase())
    struct Transcriptions {
        /// Two patients with an encounter each, and the providers.
        struct Fixture {
            var pid: Int
            var encounter: Int
            var otherPID: Int
            var otherEncounter: Int
            var drsmith: Int
            var drjones: Int
        }

        static func fixture(_ database: LiveDatabase) async throws -> Fixture {
            let pid = try #require(try await database.int("SELECT pid AS v FROM patient_access_onsite WHERE portal_username = 'patient1'"))
            let encounter = try #require(try await database.int("SELECT encounter AS v FROM form_encounter WHERE pid = \(pid) ORDER BY id LIMIT 1"))
            let otherPID = try #require(try await database.int("SELECT pid AS v FROM form_encounter WHERE pid <> \(pid) ORDER BY id LIMIT 1"))
            let otherEncounter = try #require(try await database.int("SELECT encounter AS v FROM form_encounter WHERE pid = \(otherPID) ORDER BY id LIMIT 1"))
            let drsmith = try #require(try await database.int("SELECT id AS v FROM users WHERE username = 'drsmith'"))
            let drjones = try #require(try await database.int("SELECT id AS v FROM users WHERE username = 'drjones'"))
            return Fixture(pid: pid, encounter: encounter, otherPID: otherPID, otherEncounter: otherEncounter, drsmith: drsmith, drjones: drjones)
        }

        static func segments(_ count: Int, word: (Int) -> String = { "segment\($0)" }) -> JSONValue {
            var list: [JSONValue] = []
            for index in 0..<count {
                let text = "Line \(index) says \(word(index)) and \"quotes\" ü\nnew line"
                let confidence: Double = 0.5 + Double(index % 50) / 100
                let fields: [String: JSONValue] = [
                    "order": .number(Double(index)), "start_ms": .number(Double(index * 1000)), "end_ms": .number(Double(index * 1000 + 900)),
                    "speaker": .string(index % 2 == 0 ? "provider" : "patient"), "text": .string(text), "confidence": .number(confidence),
                ]
                list.append(.object(fields))
            }
            return .array(list)
        }

        static func body(pid: Int, encounter: Int, segments: JSONValue, extra: [String: JSONValue] = [:]) -> String {
            var object: [String: JSONValue] = ["pid": .number(Double(pid)), "encounter": .number(Double(encounter)), "language": .string("en"), "segments": segments]
            for (key, value) in extra { object[key] = value }
            return JSONValue.object(object).text
        }

        static func create(_ client: any TestClientProtocol, _ token: String, pid: Int, encounter: Int, segments count: Int = 3) async throws -> JSONValue {
            let response = try await client.call(.post, "/api/transcriptions/", token: token, json: body(pid: pid, encounter: encounter, segments: segments(count)))
            try #require(response.status == .created, "\(response.status) \(response.text.prefix(400))")
            return response.json
        }

        static func act(_ client: any TestClientProtocol, _ token: String, _ id: Int, _ action: String, json: String? = nil) async throws -> TestResponse {
            try await client.call(.post, "/api/transcriptions/\(id)/\(action)/", token: token, json: json ?? (action == "reject" ? #"{"reason":"Wrong patient named"}"# : nil))
        }

        // MARK: Workflow

        @Test func wholeWorkflowEndsInAClinicalNoteOpenEMRShows() async throws {
            let database = try LiveDatabase.require()
            let f = try await Self.fixture(database)
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let logBefore = try await database.count("log")
                let created = try await client.call(.post, "/api/transcriptions", token: token, json: Self.body(pid: f.pid, encounter: f.encounter, segments: Self.segments(4)))
                #expect(created.status == .created, "\(created.text)")
                let id = try #require(created.json["id"].int)
                #expect(created.headers[.location] == "/api/transcriptions/\(id)/")
                #expect(created.headers[.eTag] == "\"t\(id)-v1\"")
                #expect(created.json["status"].string == "draft")
                #expect(created.json["provider_id"].int == f.drsmith, "the acting provider by default")
                #expect(created.json["segment_count"].int == 4)
                #expect(created.json["created_at"].string?.hasSuffix("Z") == true)
                let expectedText = (0..<4).map { "Line \($0) says segment\($0) and \"quotes\" ü\nnew line" }.joined(separator: "\n")
                #expect(created.json["full_text"].string == expectedText)
                #expect(try await database.string("SELECT full_text AS v FROM mmt_transcriptions WHERE id = \(id)") == expectedText)
                #expect(try await database.count("log") == logBefore + 1, "the create is audited in the same transaction")
                #expect(try await database.count("log", "event = 'patient-record-insert' AND category = 'Transcription' AND patient_id = \(f.pid)") >= 1)

                let read = try await client.call(.get, "/api/transcriptions/\(id)/", token: token)
                #expect(read.status == .ok)
                #expect(read.json == created.json)
                let etag = try #require(read.headers[.eTag])
                let notModified = try await client.call(.get, "/api/transcriptions/\(id)/", token: token, headers: [.ifNoneMatch: etag])
                #expect(notModified.status == .notModified)

                // Staff read, but do not write.
                let staff = try await client.token("frontdesk", "front123")
                #expect(try await client.call(.get, "/api/transcriptions/\(id)/", token: staff).status == .ok)
                #expect(try await Self.act(client, staff, id, "submit").status == .forbidden)
                // The patient sees nothing before approval, not even in lists.
                let patient = try await client.portalToken("patient1", "patient123")
                #expect(try await client.call(.get, "/api/transcriptions/\(id)/", token: patient).status == .notFound)
                let patientList = try await client.call(.get, "/api/transcriptions/", token: patient)
                #expect(patientList.json["results"].array?.contains { $0["id"].int == id } == false)

                #expect(try await Self.act(client, token, id, "submit").json["status"].string == "pending_review")
                let approved = try await Self.act(client, token, id, "approve")
                #expect(approved.json["status"].string == "approved")
                #expect(approved.json["reviewed_by"].int == f.drsmith)
                let patientRead = try await client.call(.get, "/api/transcriptions/\(id)/", token: patient)
                #expect(patientRead.status == .ok, "approved: the patient sees it")
                #expect(patientRead.json["created_by"].isNull, "no usernames for patients")
                #expect(approved.json["created_by"].string == "drsmith")
                let patientPage = try await client.call(.get, "/api/transcriptions/", token: patient).json["results"].array ?? []
                #expect(patientPage.map { $0["id"].int } == [id], "only their own approved one")
                #expect(patientPage.first?["created_by"].isNull == true)

                let integrated = try await client.call(.post, "/api/transcriptions/\(id)/integrate_with_openemr/", token: token, json: #"{"form":"clinical_notes","note_type":"progress_note"}"#)
                #expect(integrated.status == .created, "\(integrated.text)")
                #expect(integrated.json["status"].string == "integrated")
                let form = integrated.json["openemr_form"]
                #expect(form["formdir"].string == "clinical_notes")
                let groupID = try #require(form["form_id"].int)
                let formsID = try #require(form["forms_id"].int)
                let uuid = try #require(form["uuid"].string)

                // The rows as OpenEMR's Clinical Notes form writes them.
                let note = try #require(
                    try await database.query(
                        """
                        SELECT form_id, pid, encounter, user, groupname, authorized, activity, code, codetext, description, clinical_notes_type,
                               external_id, LOWER(INSERT(INSERT(INSERT(INSERT(HEX(uuid),9,0,'-'),14,0,'-'),19,0,'-'),24,0,'-')) AS uuid_text,
                               date, CAST(encounter AS CHAR) = encounter AS encounter_is_text
                        FROM form_clinical_notes WHERE form_id = \(groupID)
                        """
                    ).first
                )
                #expect(try note.decode("pid", as: Int.self) == f.pid)
                #expect(try note.decode("encounter", as: String.self) == String(f.encounter))
                #expect(try note.decode("activity", as: Int.self) == 1)
                #expect(try note.decode("code", as: String.self) == "LOINC:11506-3")
                #expect(try note.decode("codetext", as: String.self) == "Progress Note")
                #expect(try note.decode("clinical_notes_type", as: String.self) == "progress_note")
                #expect(try note.decode("description", as: String.self) == expectedText)
                #expect(try note.decode("user", as: String.self) == "drsmith")
                #expect(try note.decode("authorized", as: Int.self) == 1)
                #expect(try note.decode("external_id", as: String.self) == "mmt_transcriptions:\(id)")
                #expect(try note.decode("uuid_text", as: String.self) == uuid)
                #expect(try note.decode("date", as: MariaDBDateTime.self).hasTime == false)
                #expect(try await database.count("uuid_registry", "table_name = 'form_clinical_notes' AND table_id = 'id' AND uuid = UNHEX(REPLACE('\(uuid)', '-', ''))") == 1)
                let formsRow = try #require(try await database.query("SELECT * FROM forms WHERE id = \(formsID)").first)
                #expect(try formsRow.decode("form_name", as: String.self) == "Clinical Notes Form")
                #expect(try formsRow.decode("formdir", as: String.self) == "clinical_notes")
                #expect(try formsRow.decode("form_id", as: Int.self) == groupID)
                #expect(try formsRow.decode("encounter", as: Int.self) == f.encounter)
                #expect(try formsRow.decode("pid", as: Int.self) == f.pid)
                #expect(try formsRow.decode("deleted", as: Int.self) == 0)
                #expect(try await database.count("log", "category = 'Clinical Notes' AND patient_id = \(f.pid)") == 1)

                // Again: the same form, never a second copy.
                let again = try await client.call(.post, "/api/transcriptions/\(id)/integrate_with_openemr/", token: token, json: "{}")
                #expect(again.status == .ok)
                #expect(again.json["openemr_form"] == form)
                #expect(try await database.count("form_clinical_notes", "external_id = 'mmt_transcriptions:\(id)'") == 1)
                #expect(try await database.count("forms", "formdir = 'clinical_notes' AND form_id = \(groupID)") == 1)
                // Integrated: not editable.
                let edit = try await client.call(.patch, "/api/transcriptions/\(id)/", token: token, json: #"{"language":"es"}"#)
                #expect(edit.status == .conflict)
                #expect(edit.errorCode == "not_editable")
            }
        }

        @Test func soapFormTakesItsIDFromSequences() async throws {
            let database = try LiveDatabase.require()
            let f = try await Self.fixture(database)
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                for sections in [nil, #"{"subjective":"S text","objective":"O text","assessment":"A text","plan":"P text"}"#] {
                    let id = try #require(try await Self.create(client, token, pid: f.pid, encounter: f.encounter)["id"].int)
                    _ = try await Self.act(client, token, id, "submit")
                    _ = try await Self.act(client, token, id, "approve")
                    let sequenceBefore = try #require(try await database.int("SELECT id AS v FROM sequences"))
                    let body = sections.map { #"{"form":"soap","sections":\#($0)}"# } ?? #"{"form":"soap"}"#
                    let response = try await client.call(.post, "/api/transcriptions/\(id)/integrate_with_openemr/", token: token, json: body)
                    #expect(response.status == .created, "\(response.text)")
                    let soapID = try #require(response.json["openemr_form"]["form_id"].int)
                    #expect(soapID == sequenceBefore + 1, "form_soap.id comes from sequences")
                    #expect(try await database.int("SELECT id AS v FROM sequences") == soapID)
                    let row = try #require(try await database.query("SELECT * FROM form_soap WHERE id = \(soapID)").first)
                    #expect(try row.decode("pid", as: Int.self) == f.pid)
                    #expect(try row.decode("activity", as: Int.self) == 1)
                    if sections == nil {
                        #expect(try row.decode("subjective", as: String.self) == response.json["full_text"].string)
                        #expect(try row.decode("plan", as: String?.self) ?? "" == "")
                    } else {
                        #expect(try row.decode("objective", as: String.self) == "O text")
                        #expect(try row.decode("plan", as: String.self) == "P text")
                    }
                    #expect(try await database.count("forms", "formdir = 'soap' AND form_name = 'SOAP' AND form_id = \(soapID) AND encounter = \(f.encounter) AND deleted = 0") == 1)
                }
                // A note type outside OpenEMR's list is refused and nothing is written.
                let id = try #require(try await Self.create(client, token, pid: f.pid, encounter: f.encounter)["id"].int)
                _ = try await Self.act(client, token, id, "submit")
                _ = try await Self.act(client, token, id, "approve")
                let before = try await database.count("form_clinical_notes")
                let bad = try await client.call(.post, "/api/transcriptions/\(id)/integrate_with_openemr/", token: token, json: #"{"note_type":"no_such_type"}"#)
                #expect(bad.status == .badRequest)
                #expect(bad.json["error"]["details"]["note_type"].string != nil)
                #expect(try await database.count("form_clinical_notes") == before)
                #expect(try await database.string("SELECT status AS v FROM mmt_transcriptions WHERE id = \(id)") == "approved")
                let badForm = try await client.call(.post, "/api/transcriptions/\(id)/integrate_with_openemr/", token: token, json: #"{"form":"letter"}"#)
                #expect(badForm.status == .badRequest)
            }
        }

        // MARK: Transitions

        /// Every action from every status: only the five legal moves succeed; everything else is 409 invalid_transition
        /// and changes nothing.
        @Test func everyIllegalTransitionIsRefused() async throws {
            let database = try LiveDatabase.require()
            let f = try await Self.fixture(database)
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let paths: [String: [String]] = [
                    "draft": [], "pending_review": ["submit"], "approved": ["submit", "approve"], "rejected": ["submit", "reject"],
                    "integrated": ["submit", "approve", "integrate_with_openemr"],
                ]
                let legal: Set<String> = ["draft submit", "pending_review approve", "pending_review reject", "rejected reopen", "approved integrate_with_openemr"]
                for (status, path) in paths.sorted(by: { $0.key < $1.key }) {
                    for action in ["submit", "approve", "reject", "reopen", "integrate_with_openemr"] {
                        let id = try #require(try await Self.create(client, token, pid: f.pid, encounter: f.encounter)["id"].int)
                        for step in path { #expect(try await Self.act(client, token, id, step).status.code < 300) }
                        let version = try await database.int("SELECT version AS v FROM mmt_transcriptions WHERE id = \(id)")
                        let response = try await Self.act(client, token, id, action)
                        if legal.contains("\(status) \(action)") {
                            #expect(response.status.code < 300, "\(status) \(action): \(response.text)")
                        } else if status == "integrated" && action == "integrate_with_openemr" {
                            #expect(response.status == .ok, "integrating again returns the form")
                        } else {
                            #expect(response.status == .conflict, "\(status) \(action): \(response.status)")
                            #expect(response.errorCode == "invalid_transition", "\(status) \(action)")
                            #expect(response.json["error"]["details"]["status"].string == status)
                            #expect(try await database.int("SELECT version AS v FROM mmt_transcriptions WHERE id = \(id)") == version)
                        }
                    }
                }
                // Reject needs a reason; reopen brings back a draft that can be edited and submitted again.
                let id = try #require(try await Self.create(client, token, pid: f.pid, encounter: f.encounter)["id"].int)
                _ = try await Self.act(client, token, id, "submit")
                let noReason = try await Self.act(client, token, id, "reject", json: #"{"reason":"  "}"#)
                #expect(noReason.status == .badRequest)
                #expect(noReason.json["error"]["details"]["reason"].string != nil)
                let rejected = try await Self.act(client, token, id, "reject", json: #"{"reason":"Allergy section is wrong"}"#)
                #expect(rejected.json["rejection_reason"].string == "Allergy section is wrong")
                let reopened = try await Self.act(client, token, id, "reopen")
                #expect(reopened.json["status"].string == "draft")
                #expect(reopened.json["rejection_reason"].string == "Allergy section is wrong", "kept while the provider fixes it")
                let resubmitted = try await Self.act(client, token, id, "submit")
                #expect(resubmitted.json["status"].string == "pending_review")
                #expect(resubmitted.json["rejection_reason"].isNull)
                // Unknown ids and non-numeric ids: 404.
                #expect(try await Self.act(client, token, 999_999_999, "submit").status == .notFound)
                #expect(try await client.call(.get, "/api/transcriptions/abc/", token: token).status == .notFound)
            }
        }

        /// Ten concurrent decisions on one pending transcription: exactly one wins, the others get 409.
        @Test func concurrentDecisionsHaveOneWinner() async throws {
            let database = try LiveDatabase.require()
            let f = try await Self.fixture(database)
            try await database.withApp(["DB_POOL_SIZE": "12"]) { client in
                let token = try await client.token("drsmith", "doctor123")
                for round in 0..<3 {
                    let id = try #require(try await Self.create(client, token, pid: f.pid, encounter: f.encounter)["id"].int)
                    _ = try await Self.act(client, token, id, "submit")
                    let statuses = try await withThrowingTaskGroup(of: (String, Int).self) { group in
                        for index in 0..<10 {
                            let action = (index + round) % 2 == 0 ? "approve" : "reject"
                            group.addTask { (action, Int(try await Self.act(client, token, id, action).status.code)) }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    let winners = statuses.filter { $0.1 == 200 }
                    #expect(winners.count == 1, "\(statuses)")
                    #expect(statuses.filter { $0.1 == 409 }.count == 9, "\(statuses)")
                    let final = try await database.string("SELECT status AS v FROM mmt_transcriptions WHERE id = \(id)")
                    #expect(final == (winners.first?.0 == "approve" ? "approved" : "rejected"))
                    #expect(try await database.int("SELECT version AS v FROM mmt_transcriptions WHERE id = \(id)") == 3)
                    let decision = winners.first?.0 ?? "none"
                    #expect(
                        try await database.count("log", "category = 'Transcription' AND FROM_BASE64(comments) LIKE 'mmt_transcriptions \(decision) id \(id):%'") == 1,
                        "one audit row for the one decision"
                    )
                }
            }
        }

        // MARK: Edits

        @Test func editsHonourIfMatchAndReplaceSegments() async throws {
            let database = try LiveDatabase.require()
            let f = try await Self.fixture(database)
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let created = try await Self.create(client, token, pid: f.pid, encounter: f.encounter, segments: 5)
                let id = try #require(created["id"].int)
                let newSegments = JSONValue.array([
                    .object(["order": .number(7), "start_ms": .number(10), "end_ms": .number(20), "speaker": .string("SPEAKER_01"), "text": .string("second")]),
                    .object(["order": .number(3), "start_ms": .number(0), "end_ms": .number(5), "text": .string("first"), "confidence": .number(1)]),
                ])
                let put = try await client.call(
                    .put, "/api/transcriptions/\(id)/", token: token, json: Self.body(pid: f.pid, encounter: f.encounter, segments: newSegments),
                    headers: [.ifMatch: "\"t\(id)-v1\""]
                )
                #expect(put.status == .ok, "\(put.text)")
                #expect(put.json["version"].int == 2)
                #expect(put.json["full_text"].string == "first\nsecond", "ordered by order")
                #expect(put.json["segments"].array?.map { $0["order"].int ?? -1 } == [3, 7])
                #expect(put.json["segments"].array?.first?["speaker"].string == "other", "default speaker")
                #expect(put.json["segments"].array?.last?["speaker"].string == "SPEAKER_01")
                #expect(try await database.count("mmt_transcription_segments", "transcription_id = \(id)") == 2)

                let stale = try await client.call(.patch, "/api/transcriptions/\(id)/", token: token, json: #"{"language":"es"}"#, headers: [.ifMatch: "\"t\(id)-v1\""])
                #expect(stale.status == .preconditionFailed)
                #expect(stale.errorCode == "precondition_failed")
                #expect(try await database.string("SELECT language AS v FROM mmt_transcriptions WHERE id = \(id)") == "en")

                let patch = try await client.call(.patch, "/api/transcriptions/\(id)/", token: token, json: #"{"language":"es-MX","duration_ms":61000}"#, headers: [.ifMatch: "\"t\(id)-v2\""])
                #expect(patch.status == .ok, "\(patch.text)")
                #expect(patch.json["language"].string == "es-MX")
                #expect(patch.json["duration_ms"].int == 61000)
                #expect(patch.json["segment_count"].int == 2, "PATCH without segments keeps them")
                #expect(patch.json["segments"].array?.count == 2)
                // PUT needs the whole resource.
                let partialPut = try await client.call(.put, "/api/transcriptions/\(id)/", token: token, json: #"{"language":"en"}"#)
                #expect(partialPut.status == .badRequest)
                #expect(partialPut.json["error"]["details"]["segments"].string != nil)
                // A stale decision is refused too.
                let staleSubmit = try await client.call(.post, "/api/transcriptions/\(id)/submit/", token: token, headers: [.ifMatch: "\"t\(id)-v1\""])
                #expect(staleSubmit.status == .preconditionFailed)
                // Approved: no more edits.
                _ = try await Self.act(client, token, id, "submit")
                _ = try await Self.act(client, token, id, "approve")
                let late = try await client.call(.patch, "/api/transcriptions/\(id)/", token: token, json: #"{"language":"fr"}"#)
                #expect(late.status == .conflict)
                #expect(late.errorCode == "not_editable")
            }
        }

        // MARK: Bad input

        /// Every malformed body: 400 (or 413) with per-field details, and no row written.
        @Test func malformedBodiesWriteNothing() async throws {
            let database = try LiveDatabase.require()
            let f = try await Self.fixture(database)
            try await database.withApp(["BRIDGE_MAX_BODY_BYTES": "200000"]) { client in
                let token = try await client.token("drsmith", "doctor123")
                func segment(_ fields: [String: JSONValue]) -> JSONValue {
                    var base: [String: JSONValue] = ["order": .number(0), "start_ms": .number(0), "end_ms": .number(10), "text": .string("ok")]
                    for (key, value) in fields { base[key] = value }
                    return .object(base)
                }
                let ok = segment([:])
                let cases: [(String, String, String)] = [
                    ("end before start", Self.body(pid: f.pid, encounter: f.encounter, segments: .array([segment(["start_ms": .number(50), "end_ms": .number(10)])])), "segments.0.end_ms"),
                    ("negative order", Self.body(pid: f.pid, encounter: f.encounter, segments: .array([segment(["order": .number(-1)])])), "segments.0.order"),
                    ("duplicate order", Self.body(pid: f.pid, encounter: f.encounter, segments: .array([ok, ok])), "segments.1.order"),
                    ("missing text", Self.body(pid: f.pid, encounter: f.encounter, segments: .array([.object(["order": .number(0), "start_ms": .number(0), "end_ms": .number(1)])])), "segments.0.text"),
                    ("blank text", Self.body(pid: f.pid, encounter: f.encounter, segments: .array([segment(["text": .string("  ")])])), "segments.0.text"),
                    ("confidence above 1", Self.body(pid: f.pid, encounter: f.encounter, segments: .array([segment(["confidence": .number(1.5)])])), "segments.0.confidence"),
                    ("confidence below 0", Self.body(pid: f.pid, encounter: f.encounter, segments: .array([segment(["confidence": .number(-0.1)])])), "segments.0.confidence"),
                    ("text not a string", Self.body(pid: f.pid, encounter: f.encounter, segments: .array([segment(["text": .number(3)])])), "segments.0.text"),
                    ("unknown patient", Self.body(pid: 987_654_321, encounter: f.encounter, segments: .array([ok])), "pid"),
                    ("unknown encounter", Self.body(pid: f.pid, encounter: 987_654_321, segments: .array([ok])), "encounter"),
                    ("another patient's encounter", Self.body(pid: f.pid, encounter: f.otherEncounter, segments: .array([ok])), "encounter"),
                    ("unknown provider", Self.body(pid: f.pid, encounter: f.encounter, segments: .array([ok]), extra: ["provider_id": .number(987_654)]), "provider_id"),
                    ("missing pid", #"{"encounter":\#(f.encounter),"segments":[]}"#, "pid"),
                    ("bad language", Self.body(pid: f.pid, encounter: f.encounter, segments: .array([ok]), extra: ["language": .string("en us!")]), "language"),
                ]
                let before = try await database.count("mmt_transcriptions")
                let segmentsBefore = try await database.count("mmt_transcription_segments")
                let logBefore = try await database.count("log")
                for (name, body, field) in cases {
                    let response = try await client.call(.post, "/api/transcriptions/", token: token, json: body)
                    #expect(response.status == .badRequest, "\(name): \(response.status) \(response.text)")
                    #expect(hasErrorShape(response), "\(name)")
                    #expect(response.json["error"]["details"][field].string != nil, "\(name): \(response.text)")
                }
                for text in ["", "{", "[]", #"{"pid":"x"}"#] {
                    let response = try await client.call(.post, "/api/transcriptions/", token: token, json: text)
                    #expect(response.status == .badRequest, "\(text): \(response.text)")
                }
                let huge = Self.body(pid: f.pid, encounter: f.encounter, segments: Self.segments(3000))
                let tooLarge = try await client.call(.post, "/api/transcriptions/", token: token, json: huge)
                #expect(tooLarge.status == .contentTooLarge)
                #expect(tooLarge.errorCode == "payload_too_large")
                #expect(try await database.count("mmt_transcriptions") == before)
                #expect(try await database.count("mmt_transcription_segments") == segmentsBefore)
                #expect(try await database.count("log") == logBefore)
                // Filters: bad values are 400 with the field named.
                for (query, field) in [("status=done", "status"), ("date_from=yesterday", "date_from"), ("patient=x", "patient"), ("ordering=name", "ordering")] {
                    let response = try await client.call(.get, "/api/transcriptions/?\(query)", token: token)
                    #expect(response.status == .badRequest, "\(query)")
                    #expect(response.json["error"]["details"][field].string != nil, "\(query)")
                }
            }
        }

        // MARK: Scale and search

        /// 3,000 segments (a three-hour visit) round-trip in order, and full-text search finds a word of segment 2,999.
        @Test func threeThousandSegmentsAndFullTextSearch() async throws {
            let database = try LiveDatabase.require()
            let f = try await Self.fixture(database)
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let marker = "zyxquartz\(Int.random(in: 1000...9999))"
                let segments = Self.segments(3000) { $0 == 2999 ? marker : "word\($0)" }
                // Sent in reverse order: stored and returned by `order`.
                guard case .array(let list) = segments else { return }
                let created = try await client.call(.post, "/api/transcriptions/", token: token, json: Self.body(pid: f.pid, encounter: f.encounter, segments: .array(list.reversed())))
                #expect(created.status == .created, "\(created.text.prefix(300))")
                let object = try JSONSerialization.jsonObject(with: Data(created.body.readableBytesView)) as? [String: Any]
                let id = try #require(object?["id"] as? Int)
                let read = try await client.call(.get, "/api/transcriptions/\(id)/", token: token).json
                let orders = read["segments"].array?.map { $0["order"].int ?? -1 } ?? []
                #expect(orders.count == 3000 && orders == Array(0..<3000), "in order")
                #expect(read["segments"] == segments, "every field round-trips")
                #expect(read["segment_count"].int == 3000)

                let found = try await client.call(.get, "/api/transcriptions/?search=\(marker)", token: token)
                #expect(found.json["count"].int == 1, "\(found.text.prefix(300))")
                #expect(found.json["results"].array?.first?["id"].int == id)
                #expect(found.json["results"].array?.first?["segments"].isNull == true, "pages carry no segments")
                #expect((found.json["results"].array?.first?["full_text"].string?.count ?? 0) <= TranscriptionRepository.excerptLength)
                // Words are required together; short words match whole words; operators are plain text.
                #expect(try await client.call(.get, "/api/transcriptions/?search=\(marker)%20word17", token: token).json["count"].int == 1)
                #expect(try await client.call(.get, "/api/transcriptions/?search=\(marker)%20nosuchword", token: token).json["count"].int == 0)
                #expect(try await client.call(.get, "/api/transcriptions/?search=\(marker)%20ü", token: token).json["count"].int == 1)
                #expect(try await client.call(.get, "/api/transcriptions/?search=%2B-%3C%3E()~*%22", token: token).status == .ok)
                // Filters and ordering.
                let other = try await Self.create(client, token, pid: f.otherPID, encounter: f.otherEncounter)
                let byPatient = try await client.call(.get, "/api/transcriptions/?patient=\(f.otherPID)&page_size=200", token: token)
                #expect(byPatient.json["results"].array?.allSatisfy { $0["pid"].int == f.otherPID } == true)
                #expect(byPatient.json["results"].array?.contains { $0["id"] == other["id"] } == true)
                let byEncounter = try await client.call(.get, "/api/transcriptions/?encounter=\(f.otherEncounter)", token: token)
                #expect(byEncounter.json["results"].array?.allSatisfy { $0["encounter"].int == f.otherEncounter } == true)
                let drafts = try await client.call(.get, "/api/transcriptions/?status=draft&provider=\(f.drsmith)&page_size=200", token: token)
                #expect(drafts.json["results"].array?.allSatisfy { $0["status"].string == "draft" && $0["provider_id"].int == f.drsmith } == true)
                #expect(try await client.call(.get, "/api/transcriptions/?provider=\(f.drjones)", token: token).json["count"].int == 0)
                let ascending = try await client.call(.get, "/api/transcriptions/?ordering=created&page_size=200", token: token)
                let ids = ascending.json["results"].array?.compactMap { $0["id"].int } ?? []
                #expect(ids == ids.sorted() && ids.count >= 2)
                let descending = try await client.call(.get, "/api/transcriptions/?page_size=200", token: token)
                #expect(descending.json["results"].array?.compactMap { $0["id"].int } == ids.reversed(), "default -created")
                let inRange = try await client.call(.get, "/api/transcriptions/?date_from=2000-01-01&date_to=2100-01-01", token: token)
                #expect(inRange.json["count"].int == ascending.json["count"].int)
                #expect(try await client.call(.get, "/api/transcriptions/?date_to=2000-01-01", token: token).json["count"].int == 0)
            }
        }

        // MARK: Audio

        /// The recording streams to disk (memory stays flat), its SHA-256 and size are stored, `Range` returns exactly the
        /// bytes asked; wrong types and oversize uploads are refused and leave no file; patients never download it.
        @Test func audioStreamsAndServesRanges() async throws {
            let database = try LiveDatabase.require()
            let f = try await Self.fixture(database)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emr-audio-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let size = 50 * 1024 * 1024
            let source = FileManager.default.temporaryDirectory.appendingPathComponent("emr-audio-src-\(UUID().uuidString).webm")
            defer { try? FileManager.default.removeItem(at: source) }
            _ = try await TestEnvironment.run("/usr/bin/dd", ["if=/dev/urandom", "of=\(source.path)", "bs=1048576", "count=50"])
            let bytes = [UInt8](try Data(contentsOf: source))
            try #require(bytes.count == size)
            let expectedSHA = try await TestEnvironment.run("/usr/bin/sha256sum", [source.path]).prefix(64)
            try await database.withApp(["BRIDGE_AUDIO_DIR": directory, "BRIDGE_AUDIO_MAX_BYTES": String(60 * 1024 * 1024)], setup: .live) { client in
                let token = try await client.token("drsmith", "doctor123")
                let id = try #require(try await Self.create(client, token, pid: f.pid, encounter: f.encounter)["id"].int)
                let port = try #require(client.port)
                let url = "http://127.0.0.1:\(port)/api/transcriptions/\(id)/audio/"
                func curl(_ arguments: [String]) async throws -> String {
                    String(decoding: try await TestEnvironment.run("/usr/bin/curl", ["-s", "-H", "Authorization: Bearer \(token)"] + arguments), as: UTF8.self)
                }
                let peakBefore = Self.peakRSS()
                let upload = try await curl(["-X", "PUT", "-H", "Content-Type: audio/webm", "--data-binary", "@\(source.path)", "-w", "\n%{http_code}", url])
                let peakGrowth = Self.peakRSS() - peakBefore
                #expect(upload.hasSuffix("\n200"), "\(upload.suffix(300))")
                let json = try JSONValue.parse(Data(upload.dropLast(4).utf8))
                #expect(json["audio"]["size"].int == size)
                #expect(json["audio"]["sha256"].string == String(decoding: expectedSHA, as: UTF8.self))
                #expect(json["audio"]["content_type"].string == "audio/webm")
                #expect(peakGrowth < 30 * 1024 * 1024, "peak RSS grew by \(peakGrowth / 1024 / 1024) MiB for a 50 MiB upload")
                let stored = try FileManager.default.contentsOfDirectory(atPath: directory)
                #expect(stored.count == 1 && stored.first?.hasPrefix("t\(id)-") == true, "\(stored)")

                for (range, lower, upper) in [("bytes=1000-1999", 1000, 1999), ("bytes=\(size - 10)-", size - 10, size - 1), ("bytes=-100", size - 100, size - 1), ("bytes=0-0", 0, 0)] {
                    let response = try await client.execute(uri: "/api/transcriptions/\(id)/audio/", method: .get, headers: [.authorization: "Bearer \(token)", .range: range], body: nil)
                    #expect(response.status == .partialContent, "\(range)")
                    #expect(response.headers[.contentRange] == "bytes \(lower)-\(upper)/\(size)", "\(range)")
                    #expect(Array(response.body.readableBytesView) == Array(bytes[lower...upper]), "\(range)")
                }
                let downloaded = FileManager.default.temporaryDirectory.appendingPathComponent("emr-audio-dl-\(UUID().uuidString)").path
                defer { try? FileManager.default.removeItem(atPath: downloaded) }
                let headers = try await curl(["-D", "-", "-o", downloaded, url])
                #expect(headers.hasPrefix("HTTP/1.1 200"), "\(headers)")
                #expect(headers.lowercased().contains("accept-ranges: bytes"))
                #expect(try Data(contentsOf: URL(fileURLWithPath: downloaded)) == Data(bytes), "the whole recording comes back")
                let outside = try await client.execute(uri: "/api/transcriptions/\(id)/audio/", method: .get, headers: [.authorization: "Bearer \(token)", .range: "bytes=\(size)-"], body: nil)
                #expect(outside.status == .rangeNotSatisfiable)
                #expect(outside.headers[.contentRange] == "bytes */\(size)")

                // Refusals: wrong type (415), over the limit (413, by header or while streaming), a patient (403).
                let wrongType = try await client.execute(
                    uri: "/api/transcriptions/\(id)/audio/", method: .put, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                    body: ByteBuffer(string: "{}")
                )
                #expect(wrongType.status == .unsupportedMediaType)
                #expect(hasErrorShape(wrongType))
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == stored, "refusals leave no file")
                let patient = try await client.portalToken("patient1", "patient123")
                let forbidden = try await client.execute(uri: "/api/transcriptions/\(id)/audio/", method: .get, headers: [.authorization: "Bearer \(patient)"], body: nil)
                #expect(forbidden.status == .forbidden)
                // Replacing the recording removes the old file.
                let small = try await client.execute(
                    uri: "/api/transcriptions/\(id)/audio/", method: .put, headers: [.authorization: "Bearer \(token)", .contentType: "audio/mpeg"],
                    body: ByteBuffer(string: "ID3 tiny")
                )
                #expect(small.status == .ok)
                #expect(small.json["audio"]["size"].int == 8)
                let after = try FileManager.default.contentsOfDirectory(atPath: directory)
                #expect(after.count == 1 && after != stored, "\(after)")
            }
            // Over the limit: 413, and the partial file is removed.
            try await database.withApp(["BRIDGE_AUDIO_DIR": directory, "BRIDGE_AUDIO_MAX_BYTES": String(1024 * 1024)], setup: .live) { client in
                let token = try await client.token("drsmith", "doctor123")
                let id = try #require(try await Self.create(client, token, pid: f.pid, encounter: f.encounter)["id"].int)
                let port = try #require(client.port)
                let before = try FileManager.default.contentsOfDirectory(atPath: directory)
                // With Content-Length: refused before reading; chunked: refused while streaming, once past the limit.
                for extra in [[], ["-H", "Transfer-Encoding: chunked"]] {
                    let output = String(
                        decoding: try await TestEnvironment.run(
                            "/usr/bin/curl",
                            ["-s", "-H", "Authorization: Bearer \(token)", "-X", "PUT", "-H", "Content-Type: audio/webm"] + extra
                                + ["--data-binary", "@\(source.path)", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)/api/transcriptions/\(id)/audio/"]
                        ), as: UTF8.self
                    )
                    #expect(output.hasSuffix("\n413"), "\(extra): \(output.suffix(300))")
                    #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == before, "no partial file left")
                }
                #expect(try await database.string("SELECT audio_file AS v FROM mmt_transcriptions WHERE id = \(id)") == nil)
            }
        }

        /// Peak resident set size of this process (`VmHWM`), in bytes.
        static func peakRSS() -> Int {
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
            for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
                return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
            }
            return 0
        }
    }
}

extension LiveAppTests {
    /// Issue 15 on OpenEMR 8.2's real install schema (a copy of `EMR_TEST_REAL_SCHEMA_DB`, which scripts/test.sh loads
    /// from ../shared/openemr/database.sql): the domain alone, no HTTP, writes the forms as OpenEMR's own screens read
    /// them, including ten integrations at once.
    @Suite("Live: transcriptions on OpenEMR 8.2's real schema", .liveDatabase())
    struct TranscriptionsRealSchema {
        /// A fresh copy of the real schema (tables and their rows), migrated; dropped afterwards.
        static func withRealSchemaCopy(_ body: (MariaDBClient) async throws -> Void) async throws {
            guard let real = TestEnvironment.realSchemaDatabase else {
                if TestEnvironment.isRequired && FileManager.default.fileExists(atPath: TestEnvironment.realSchemaSQLFile.path) {
                    Issue.record("\(TestEnvironment.realSchemaSQLFile.path) exists but EMR_TEST_REAL_SCHEMA_DB is not set")
                }
                return
            }
            let name = TestEnvironment.randomName("emr_real_copy_")
            let logger = TestEnvironment.logger
            do {
                try await TestEnvironment.withAdmin { admin in
                    try await admin.query("CREATE DATABASE \(unescaped: name) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", logger: logger)
                    let tables = try await admin.query(
                        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = \(real) AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'mmt\\_%'",
                        logger: logger
                    ).rows.map { try $0.decode("t", as: String.self) }
                    try #require(tables.contains("form_clinical_notes") && tables.contains("form_soap"))
                    try await admin.withConnection(logger: logger) { connection in
                        for table in tables {
                            try await connection.query("CREATE TABLE `\(unescaped: name)`.`\(unescaped: table)` LIKE `\(unescaped: real)`.`\(unescaped: table)`")
                            try await connection.query("INSERT INTO `\(unescaped: name)`.`\(unescaped: table)` SELECT * FROM `\(unescaped: real)`.`\(unescaped: table)`")
                        }
                    }
                }
                var configuration = try TestEnvironment.adminConfiguration(database: name)
                configuration.options.maximumConnections = 12
                try await TestEnvironment.withClient(configuration) { client in
                    let report = try await LiveDatabase.migrator(client).run(checkOnly: false)
                    try #require(report.missingTables.isEmpty, "OpenEMR 8.2 lacks \(report.missingTables)")
                    try await body(client)
                }
            } catch {
                try? await LiveDatabase.dropDatabase(name)
                throw error
            }
            try await LiveDatabase.dropDatabase(name)
        }

        struct World {
            let client: MariaDBClient
            let repository: TranscriptionRepository
            let provider: Identity
            let pid: Int
            let encounter: Int
        }

        /// A provider, a patient and an encounter, made by the same domain code the API uses.
        static func world(_ client: MariaDBClient) async throws -> World {
            let logger = TestEnvironment.logger
            let inserted = try await client.query(
                "INSERT INTO users (username, password, fname, lname, authorized, active, facility_id) VALUES ('drreal', 'NoLongerUsed', 'Real', 'Doctor', 1, 1, 3)",
                logger: logger
            )
            let provider = Identity(
                role: .provider, userID: Int(inserted.lastInsertID), username: "drreal", groupName: "Default", pid: nil, fname: "Real", lname: "Doctor",
                facilityID: 3, tokenHash: []
            )
            let globals = OpenEMRGlobalsCache(database: client)
            let audit = AuditLogger(database: client, globals: globals, logger: logger)
            let patientInput = try JSONCoding.decoder.decode(
                PatientInput.self, from: Data(#"{"fname":"Rita","lname":"Schema","sex":"Female","dob":"1980-02-03"}"#.utf8)
            )
            let patient = try await PatientRepository(database: client, audit: audit).create(patientInput, by: provider, logger: logger)
            let encounter = try await EncounterRepository(database: client, audit: audit).create(
                try JSONCoding.decoder.decode(EncounterInput.self, from: Data(#"{"pid":\#(patient.pid),"reason":"Video visit"}"#.utf8)).validated(),
                by: provider, logger: logger
            )
            let repository = TranscriptionRepository(database: client, audit: audit, auditQueue: nil, globals: globals, audio: nil)
            return World(client: client, repository: repository, provider: provider, pid: patient.pid, encounter: encounter.encounter)
        }

        static func approved(_ world: World, text: String = "Subjective: cough.") async throws -> Int {
            let logger = TestEnvironment.logger
            let created = try await world.repository.create(
                TranscriptionInput(pid: world.pid, encounter: world.encounter, segments: [TranscriptionSegment(order: 0, startMs: 0, endMs: 10, speaker: "provider", text: text, confidence: 0.9)]),
                by: world.provider, logger: logger
            )
            _ = try await world.repository.perform(.submit, id: created.id, reason: nil, ifMatch: nil, by: world.provider, logger: logger)
            _ = try await world.repository.perform(.approve, id: created.id, reason: nil, ifMatch: nil, by: world.provider, logger: logger)
            return created.id
        }

        /// One copy of the real schema (copying it takes a while) for both checks.
        @Test func formsAsOpenEMRWritesThemAndConcurrentIntegrations() async throws {
            try await Self.withRealSchemaCopy { client in
                let world = try await Self.world(client)
                try await Self.clinicalNotesAndSOAP(world)
                try await Self.concurrentIntegrationsGetDistinctGroupIDs(world)
            }
        }

        static func clinicalNotesAndSOAP(_ world: World) async throws {
            do {
                let client = world.client
                let logger = TestEnvironment.logger
                func int(_ query: MariaDBQuery) async throws -> Int? { try await client.query(query, logger: logger).first?.decode("v", as: Int?.self) }

                let id = try await Self.approved(world, text: "Patient is well.")
                let (integrated, created) = try await world.repository.integrate(id: id, IntegrationRequest(noteType: "consultation_note"), by: world.provider, logger: logger)
                #expect(created)
                let form = try #require(integrated.form)
                let note = try #require(
                    try await client.query("SELECT * FROM form_clinical_notes WHERE form_id = \(form.formId)", logger: logger).first
                )
                #expect(try note.decode("encounter", as: String.self) == String(world.encounter))
                #expect(try note.decode("pid", as: Int.self) == world.pid)
                #expect(try note.decode("activity", as: Int.self) == 1)
                #expect(try note.decode("code", as: String.self) == "LOINC:11488-4")
                #expect(try note.decode("codetext", as: String.self) == "Consultation Note")
                #expect(try note.decode("clinical_notes_type", as: String.self) == "consultation_note")
                #expect(try note.decode("description", as: String.self) == "Patient is well.")
                #expect(try note.decode("user", as: String.self) == "drreal")
                #expect(try note.decode("groupname", as: String.self) == "Default")
                #expect(try note.decode("authorized", as: Int.self) == 1)
                #expect(OpenEMRUUID.string(try note.decode("uuid", as: [UInt8].self)) == form.uuid)
                #expect(try await int("SELECT COUNT(*) AS v FROM uuid_registry WHERE table_name = 'form_clinical_notes' AND uuid = (SELECT uuid FROM form_clinical_notes WHERE form_id = \(form.formId))") == 1)
                #expect(
                    try await int(
                        "SELECT COUNT(*) AS v FROM forms WHERE id = \(form.formsId) AND form_name = 'Clinical Notes Form' AND formdir = 'clinical_notes' AND form_id = \(form.formId) AND encounter = \(world.encounter) AND pid = \(world.pid) AND deleted = 0 AND user = 'drreal'"
                    ) == 1
                )
                // What OpenEMR's encounter report runs (forms of the encounter, then the form's rows by form_id, pid, encounter).
                #expect(
                    try await int(
                        "SELECT COUNT(*) AS v FROM forms f JOIN form_clinical_notes c ON c.form_id = f.form_id AND c.pid = f.pid AND c.encounter = f.encounter WHERE f.formdir = 'clinical_notes' AND f.encounter = \(world.encounter) AND f.deleted = 0 AND c.activity = 1"
                    ) == 1
                )
                #expect(try await int("SELECT COUNT(*) AS v FROM log_comment_encrypt e JOIN log l ON l.id = e.log_id WHERE l.category = 'Clinical Notes' AND l.patient_id = \(world.pid)") == 1)
                let (again, createdAgain) = try await world.repository.integrate(id: id, IntegrationRequest(), by: world.provider, logger: logger)
                #expect(!createdAgain && again.form == form)
                #expect(try await int("SELECT COUNT(*) AS v FROM form_clinical_notes") == 1)

                let soapSource = try await Self.approved(world)
                let sequence = try #require(try await int("SELECT id AS v FROM sequences"))
                let soap = try await world.repository.integrate(id: soapSource, IntegrationRequest(form: "soap"), by: world.provider, logger: logger).transcription
                #expect(soap.form?.formId == sequence + 1)
                #expect(try await int("SELECT COUNT(*) AS v FROM form_soap WHERE id = \(sequence + 1) AND subjective = 'Subjective: cough.' AND activity = 1 AND pid = \(world.pid)") == 1)
                #expect(try await int("SELECT COUNT(*) AS v FROM forms WHERE formdir = 'soap' AND form_name = 'SOAP' AND form_id = \(sequence + 1) AND encounter = \(world.encounter)") == 1)
            }
        }

        /// Ten integrations at once: ten distinct, consecutive Clinical Notes group ids, each with its own forms row.
        static func concurrentIntegrationsGetDistinctGroupIDs(_ world: World) async throws {
            do {
                let client = world.client
                let logger = TestEnvironment.logger
                var ids: [Int] = []
                for index in 0..<10 { ids.append(try await Self.approved(world, text: "Note \(index)")) }
                let forms = try await withThrowingTaskGroup(of: Transcription.OpenEMRForm?.self) { group in
                    for id in ids {
                        group.addTask { try await world.repository.integrate(id: id, IntegrationRequest(), by: world.provider, logger: logger).transcription.form }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let groupIDs = forms.compactMap { $0?.formId }.sorted()
                #expect(groupIDs.count == 10 && Set(groupIDs).count == 10, "\(groupIDs)")
                #expect(groupIDs.last.map { $0 - (groupIDs.first ?? 0) } == 9, "consecutive: \(groupIDs)")
                let rows = try await client.query(
                    "SELECT form_id, COUNT(*) AS n FROM form_clinical_notes GROUP BY form_id HAVING n > 1", logger: logger
                ).rows
                #expect(rows.isEmpty, "no group id shared")
                let formsRows = try await client.query(
                    "SELECT COUNT(DISTINCT form_id) AS v FROM forms WHERE formdir = 'clinical_notes' AND form_id IN (\(list: groupIDs))", logger: logger
                ).first?.decode("v", as: Int.self)
                #expect(formsRows == 10)
            }
        }
    }
}
