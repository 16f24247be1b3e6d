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

// MARK: - Helpers of this file

extension LiveDatabase {
    /// Builds the application as `buildApplication` does, but keeps its `AppServices` (for `auditQueue.flush()`).
    func withClinicalApp<Value: Sendable>(
        _ extra: [String: String] = [:], _ body: @Sendable (any TestClientProtocol, AppServices) async throws -> Value
    ) async throws -> Value {
        let configuration = try configuration(extra)
        try configuration.validateSecrets()
        let client = MariaDBClient(configuration: configuration.database, backgroundLogger: logger)
        let services = AppServices(configuration: configuration, database: client, logger: logger)
        let app = Application(
            router: buildRouter(services: services, metrics: nil),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "emr-bridge"),
            services: [client] + services.backgroundServices, logger: logger
        )
        return try await app.test(.router) { testClient in try await body(testClient, services) }
    }

    func count(_ table: String, _ condition: String = "1 = 1") async throws -> Int {
        try await int("SELECT COUNT(*) AS v FROM \(unescaped: table) WHERE \(unescaped: condition)") ?? -1
    }
}

extension TestClientProtocol {
    /// A request with `Authorization: Bearer <token>` (and a JSON body when given).
    func call(
        _ method: HTTPRequest.Method, _ uri: String, token: String?, json body: String? = nil, headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = headers
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await send(method, uri, json: body, headers: headers)
    }

    func portalToken(_ username: String, _ password: String) async throws -> String {
        try await token(username, password, path: "/api/auth/patient-login/")
    }
}

/// Checks a JSON value against a schema of the OpenAPI document (`$ref`, `type`, `required`, `properties`, `items`,
/// `enum`, `const`, `additionalProperties`); returns the problems found.
func schemaProblems(_ value: JSONValue, _ schema: JSONValue, document: JSONValue, at path: String = "$") -> [String] {
    if let ref = schema["$ref"].string {
        guard ref.hasPrefix("#/components/schemas/") else { return ["\(path): unsupported $ref \(ref)"] }
        let name = String(ref.dropFirst("#/components/schemas/".count))
        let target = document["components"]["schemas"][name]
        if target.isNull { return ["\(path): unknown schema \(name)"] }
        return schemaProblems(value, target, document: document, at: path)
    }
    var problems: [String] = []
    var types: [String] = []
    if let type = schema["type"].string { types = [type] }
    if case .array(let list) = schema["type"] { types = list.compactMap(\.string) }
    if !types.isEmpty {
        let matches = types.contains { type in
            switch (type, value) {
            case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object), ("number", .number): return true
            case ("integer", .number(let n)): return n == n.rounded()
            default: return false
            }
        }
        if !matches { problems.append("\(path): \(value.text.prefix(60)) is not \(types)") }
    }
    if case .array(let allowed) = schema["enum"], !allowed.contains(value) { problems.append("\(path): \(value) not in \(allowed)") }
    if !schema["const"].isNull, schema["const"] != value { problems.append("\(path): \(value) is not \(schema["const"])") }
    if case .object(let object) = value {
        if case .array(let required) = schema["required"] {
            for key in required.compactMap(\.string) where object[key] == nil { problems.append("\(path): missing required \"\(key)\"") }
        }
        let properties = schema["properties"].object ?? [:]
        for (key, child) in object {
            if let propertySchema = properties[key] {
                problems += schemaProblems(child, propertySchema, document: document, at: "\(path).\(key)")
            } else if let additional = schema["additionalProperties"].object {
                problems += schemaProblems(child, .object(additional), document: document, at: "\(path).\(key)")
            }
        }
    }
    if case .array(let items) = value, !schema["items"].isNull {
        for (index, item) in items.enumerated() { problems += schemaProblems(item, schema["items"], document: document, at: "\(path)[\(index)]") }
    }
    return problems
}

/// Polls `condition` every 100 ms for up to `seconds`.
func eventually(seconds: Double = 3, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(100))
    }
}

/// The error shape `{"error":{"code","message","details"}}` and nothing else.
func hasErrorShape(_ response: TestResponse) -> Bool {
    let json = response.json
    return json.object?.keys.sorted() == ["error"] && json["error"]["code"].string?.isEmpty == false
        && json["error"]["message"].string?.isEmpty == false && json["error"]["details"].object != nil
        && response.headers[.contentType]?.hasPrefix("application/json") == true
}

private let publicURL = "https://emr.example.org"

extension LiveAppTests {
    /// Issue 4: the clinical API (patients, encounters, providers, facilities, audit, OpenAPI) against a real MariaDB.
    ///
    /// The tests share one database and run one after the other; counts are always read from the database, never
    /// assumed, so a test does not depend on what an earlier one created.
    @Suite("Live: clinical API", .liveDatabase())
    struct Clinical {
        // MARK: Listing and paging

        @Test func patientPagingArithmeticAndLinks() async throws {
            let database = try LiveDatabase.require()
            let total = try await database.count("patient_data")
            let firstPids = try await database.query("SELECT pid FROM patient_data ORDER BY pid LIMIT 30").rows.map { try $0.decode("pid", as: Int.self) }
            try #require(total > 60, "demo data expected")
            let lastPage = (total + 29) / 30
            try await database.withApp(["BRIDGE_PUBLIC_URL": publicURL]) { client in
                let token = try await client.token("drsmith", "doctor123")
                let first = try await client.call(.get, "/api/patients/?page_size=30", token: token)
                #expect(first.status == .ok, "\(first.text)")
                // Many matches: the count may be a lower bound (issue 18), never above the truth, always beyond this page.
                if first.json["count_exact"].bool == true {
                    #expect(first.json["count"].int == total)
                } else {
                    #expect(first.json["count_exact"].bool == false && (first.json["count"].int ?? 0) > 30 && (first.json["count"].int ?? .max) <= total)
                }
                #expect(first.json["previous"].isNull)
                #expect(first.json["next"].string == "\(publicURL)/api/patients/?page_size=30&page=2")
                guard case .array(let results) = first.json["results"] else { Issue.record("no results"); return }
                #expect(results.map { $0["pid"].int ?? -1 } == firstPids)

                let second = try await client.call(.get, "/api/patients/?page_size=30&page=2", token: token)
                #expect(second.json["previous"].string == "\(publicURL)/api/patients/?page_size=30")
                #expect(second.json["next"].string == "\(publicURL)/api/patients/?page_size=30&page=3")
                #expect(Self.pids(second).count == 30)

                let last = try await client.call(.get, "/api/patients/?page=last&page_size=30", token: token)
                #expect(last.status == .ok)
                #expect(last.json["next"].isNull)
                #expect(last.json["previous"].string == "\(publicURL)/api/patients/?page_size=30&page=\(lastPage - 1)")
                if case .array(let items) = last.json["results"] { #expect(items.count == total - 30 * (lastPage - 1)) }

                let explicitLast = try await client.call(.get, "/api/patients/?page_size=30&page=\(lastPage)", token: token)
                #expect(explicitLast.json == last.json)

                let past = try await client.call(.get, "/api/patients/?page_size=30&page=\(lastPage + 1)", token: token)
                #expect(past.status == .notFound)
                #expect(past.errorCode == "not_found")
                #expect(hasErrorShape(past))

                // Default 50, maximum 200, and the path without its trailing slash.
                for uri in ["/api/patients/", "/api/patients"] {
                    let response = try await client.call(.get, uri, token: token)
                    #expect(response.status == .ok, "\(uri)")
                    if case .array(let items) = response.json["results"] { #expect(items.count == min(50, total), "\(uri)") }
                    // Many matches: the count may be a lower bound (issue 18), never more than the truth, always beyond this page.
                    if response.json["count_exact"].bool == true {
                        #expect(response.json["count"].int == total)
                    } else {
                        #expect(response.json["count_exact"].bool == false)
                        #expect((response.json["count"].int ?? 0) > 50 && (response.json["count"].int ?? .max) <= total)
                    }
                    #expect(response.json["next"].string?.hasSuffix("?page=2") == true, "\(uri): \(response.json["next"])")
                }
                let big = try await client.call(.get, "/api/patients/?page_size=5000", token: token)
                if case .array(let items) = big.json["results"] { #expect(items.count == min(200, total)) }
                // Other query items survive, percent-encoded, in the links.
                let searched = try await client.call(.get, "/api/patients/?search=Jos%C3%A9&page_size=1", token: token)
                #expect(searched.status == .ok)
                #expect((searched.json["count"].int ?? 0) > 1, "several demo patients are named José")
                #expect(searched.json["next"].string == "\(publicURL)/api/patients/?search=Jos%C3%A9&page_size=1&page=2")
            }
            // Without BRIDGE_PUBLIC_URL the links are still absolute.
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let response = try await client.call(.get, "/api/patients/?page_size=10", token: token)
                let next = response.json["next"].string ?? ""
                #expect(next.hasPrefix("http://") && next.hasSuffix("/api/patients/?page_size=10&page=2"), "\(next)")
            }
        }

        static func pids(_ response: TestResponse) -> [Int] {
            guard case .array(let items) = response.json["results"] else { return [] }
            return items.compactMap { $0["pid"].int }
        }

        /// The pids a single-word search must find (the service's rule, restated in SQL).
        static func expectedSearch(_ database: LiveDatabase, _ word: String) async throws -> [Int] {
            let like = PatientFilter.escapeLike(word) + "%"
            return try await database.query(
                """
                SELECT pid FROM patient_data WHERE fname LIKE \(like) OR lname LIKE \(like) OR mname LIKE \(like) OR pubpid LIKE \(like)
                OR email LIKE \(like) ORDER BY pid
                """
            ).rows.map { try $0.decode("pid", as: Int.self) }
        }

        @Test func searchByNamePubpidPhoneAndEmail() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                func search(_ raw: String) async throws -> TestResponse {
                    try await client.call(.get, "/api/patients/?page_size=200&search=\(raw)", token: token)
                }
                // Names, case-insensitively, with accents.
                for (raw, word) in [("jos%C3%A9", "josé"), ("JOS", "JOS"), ("Jos%C3%A9", "José"), ("NGUY%E1%BB%84N", "NGUYỄN"), ("o'brien", "o'brien")] {
                    let response = try await search(raw)
                    #expect(response.status == .ok, "\(word): \(response.text)")
                    let expected = try await Self.expectedSearch(database, word)
                    #expect(!expected.isEmpty, "\(word) finds demo patients")
                    #expect(Self.pids(response) == expected, "\(word)")
                    #expect(response.json["count"].int == expected.count)
                }
                #expect(Self.pids(try await search("jos%C3%A9")).contains(6))
                #expect(Self.pids(try await search("O%27BRIEN")).contains(7))
                // Two words must both match; a space may be sent as %20 or as + (form encoding).
                for raw in ["jos%C3%A9%20nguy%E1%BB%85n", "jos%C3%A9+nguy%E1%BB%85n", "JOS+NGUY"] {
                    let pids = Self.pids(try await search(raw))
                    #expect(pids.contains(6), "\(raw): \(pids)")
                    #expect(!pids.contains(64) && !pids.contains(7), "\(raw): \(pids)")
                }
                // pubpid prefix.
                let pubpid = Self.pids(try await search("6"))
                #expect(pubpid == (try await Self.expectedSearch(database, "6")))
                #expect(pubpid.contains(6))
                // Phone numbers by their digits, with or without punctuation.
                for raw in ["5554780370", "555-478-0370", "4780370", "(555)%20478-0370"] {
                    #expect(Self.pids(try await search(raw)).contains(6), "\(raw)")
                }
                // Email.
                #expect(Self.pids(try await search("jose.nguyen6%40example.org")) == [6])
                // LIKE wildcards are literal.
                for raw in ["%25", "_", "%5C", "%25%25", "j_s%C3%A9", "%25a"] {
                    let response = try await search(raw)
                    #expect(response.status == .ok, "\(raw)")
                    #expect(response.json["count"].int == 0, "\(raw) must not act as a wildcard: \(response.json["count"])")
                }
                // No match is an empty page, not a 404.
                let none = try await search("zzzznotaname")
                #expect(none.status == .ok)
                #expect(none.json["count"].int == 0)
                #expect(none.json["results"] == .array([]))
            }
        }

        @Test func filtersAndOrdering() async throws {
            let database = try LiveDatabase.require()
            let byDOB = try await database.query("SELECT pid FROM patient_data WHERE DOB = '1942-07-31' ORDER BY pid").rows.map { try $0.decode("pid", as: Int.self) }
            let females = try await database.count("patient_data", "sex = 'Female'")
            // Ties are broken by pid in the direction of the last key (issue 18: one index serves the whole order).
            let byLname = try await database.query("SELECT pid FROM patient_data ORDER BY lname DESC, pid DESC LIMIT 200").rows.map {
                try $0.decode("pid", as: Int.self)
            }
            let byDobDesc = try await database.query("SELECT pid FROM patient_data ORDER BY DOB DESC, pid DESC LIMIT 20").rows.map {
                try $0.decode("pid", as: Int.self)
            }
            try await database.withApp { client in
                let token = try await client.token("frontdesk", "front123")
                let dob = try await client.call(.get, "/api/patients/?dob=1942-07-31", token: token)
                #expect(dob.status == .ok)
                #expect(Self.pids(dob) == byDOB)
                #expect(byDOB.contains(6))
                let sex = try await client.call(.get, "/api/patients/?sex=Female&page_size=200", token: token)
                #expect(sex.json["count"].int == females)
                if case .array(let items) = sex.json["results"] { #expect(items.allSatisfy { $0["sex"].string == "Female" }) }
                let ordered = try await client.call(.get, "/api/patients/?ordering=-lname&page_size=200", token: token)
                #expect(ordered.status == .ok)
                #expect(Self.pids(ordered) == byLname)
                let dobDesc = try await client.call(.get, "/api/patients/?ordering=-dob&page_size=20", token: token)
                #expect(Self.pids(dobDesc) == byDobDesc)

                for (query, field) in [
                    ("ordering=password", "ordering"), ("ordering=%3Bdrop", "ordering"), ("ordering=lname%3B%20DROP%20TABLE%20patient_data", "ordering"),
                    ("dob=1942-02-30", "dob"), ("dob=31.07.1942", "dob"),
                ] {
                    let response = try await client.call(.get, "/api/patients/?\(query)", token: token)
                    #expect(response.status == .badRequest, "\(query)")
                    #expect(response.errorCode == "validation_error", "\(query)")
                    #expect(response.json["error"]["details"][field].string != nil, "\(query): \(response.text)")
                    #expect(hasErrorShape(response))
                }
            }
            #expect(try await database.count("patient_data") > 0)
        }

        // MARK: Roles

        @Test func staffReadsButCannotWrite() async throws {
            let database = try LiveDatabase.require()
            let before = try await database.count("patient_data")
            let sequence = try await database.int("SELECT id AS v FROM sequences")
            let fnameBefore = try await database.string("SELECT fname AS v FROM patient_data WHERE pid = 3")
            try await database.withApp { client in
                let token = try await client.token("frontdesk", "front123")
                #expect(try await client.call(.get, "/api/patients/", token: token).status == .ok)
                #expect(try await client.call(.get, "/api/patients/3/", token: token).status == .ok)
                #expect(try await client.call(.get, "/api/encounters/", token: token).status == .ok)
                let body = #"{"fname":"Staff","lname":"Made","sex":"Female","dob":"1990-01-01"}"#
                for (method, uri, json) in [
                    (HTTPRequest.Method.post, "/api/patients/", body), (.patch, "/api/patients/3/", #"{"fname":"Changed"}"#), (.put, "/api/patients/3/", body),
                    (.post, "/api/encounters/", #"{"pid":3}"#),
                ] {
                    let response = try await client.call(method, uri, token: token, json: json)
                    #expect(response.status == .forbidden, "\(method) \(uri): \(response.text)")
                    #expect(response.errorCode == "permission_denied")
                    #expect(hasErrorShape(response))
                }
                // No token at all: 401.
                let anonymous = try await client.call(.get, "/api/patients/", token: nil)
                #expect(anonymous.status == .unauthorized)
                #expect(try await client.call(.get, "/api/patients/", token: String(repeating: "0", count: 64)).status == .unauthorized)
            }
            #expect(try await database.count("patient_data") == before)
            #expect(try await database.int("SELECT id AS v FROM sequences") == sequence)
            #expect(try await database.string("SELECT fname AS v FROM patient_data WHERE pid = 3") == fnameBefore)
        }

        @Test func patientTokenSeesOnlyItsOwnRecord() async throws {
            let database = try LiveDatabase.require()
            let ownEncounters = try await database.count("form_encounter", "pid = 1")
            let ownEncounter = try await database.int("SELECT MIN(encounter) AS v FROM form_encounter WHERE pid = 1")
            let otherEncounter = try #require(try await database.int("SELECT MIN(encounter) AS v FROM form_encounter WHERE pid <> 1"))
            let before = try await database.count("patient_data")
            try await database.withApp { client in
                let token = try await client.portalToken("patient1", "patient123")
                let list = try await client.call(.get, "/api/patients/", token: token)
                #expect(list.status == .ok)
                #expect(list.json["count"].int == 1)
                #expect(Self.pids(list) == [1])
                // Filters cannot widen it.
                let searched = try await client.call(.get, "/api/patients/?search=Zo%C3%AB&page_size=200", token: token)
                #expect(Self.pids(searched).allSatisfy { $0 == 1 })

                #expect(try await client.call(.get, "/api/patients/1/", token: token).status == .ok)
                let other = try await client.call(.get, "/api/patients/2/", token: token)
                #expect(other.status == .notFound)
                #expect(other.errorCode == "not_found")
                #expect(try await client.call(.get, "/api/patients/99999/", token: token).status == .notFound)

                let encounters = try await client.call(.get, "/api/encounters/?page_size=200", token: token)
                #expect(encounters.status == .ok)
                #expect(encounters.json["count"].int == ownEncounters)
                #expect(Self.pids(encounters).allSatisfy { $0 == 1 })
                let asked = try await client.call(.get, "/api/encounters/?patient=2", token: token)
                #expect(asked.json["count"].int == 0)
                if let ownEncounter {
                    #expect(try await client.call(.get, "/api/encounters/\(ownEncounter)/", token: token).status == .ok)
                }
                let foreign = try await client.call(.get, "/api/encounters/\(otherEncounter)/", token: token)
                #expect(foreign.status == .notFound)
                #expect(foreign.errorCode == "not_found")

                let createEncounter = try await client.call(.post, "/api/encounters/", token: token, json: #"{"pid":1}"#)
                #expect(createEncounter.status == .forbidden)
                let createPatient = try await client.call(
                    .post, "/api/patients/", token: token, json: #"{"fname":"A","lname":"B","sex":"Male","dob":"1990-01-01"}"#
                )
                #expect(createPatient.status == .forbidden)
                #expect(try await client.call(.patch, "/api/patients/1/", token: token, json: #"{"city":"X"}"#).status == .forbidden)
                #expect(try await client.call(.patch, "/api/patients/2/", token: token, json: #"{"city":"X"}"#).status == .notFound)
            }
            #expect(try await database.count("patient_data") == before)
        }

        /// `GET /api/patients/{pid}/` coalesces concurrent reads into shared database round trips: every request must
        /// still get exactly its own answer (its own token's rules, its own pid), whatever else shares its batch.
        @Test func concurrentReadsWithMixedTokensEachGetTheirOwnAnswer() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp(["BRIDGE_READ_BATCHES": "2"]) { client in
                let provider = try await client.token("drsmith", "doctor123")
                let patient = try await client.portalToken("patient1", "patient123")
                let revoked = try await client.token("admin", "pass")
                #expect(try await client.call(.post, "/api/auth/logout/", token: revoked).status == .noContent)
                let tokens = [("provider", provider), ("patient1", patient), ("revoked", revoked), ("unknown", String(repeating: "a", count: 64))]
                let pids = [1, 2, 3, 99_999]
                let outcomes = try await withThrowingTaskGroup(of: (String, Int, HTTPResponse.Status, Int?).self) { group in
                    for _ in 0..<5 {
                        for (name, token) in tokens {
                            for pid in pids {
                                group.addTask {
                                    let response = try await client.call(.get, "/api/patients/\(pid)/", token: token)
                                    return (name, pid, response.status, response.json["pid"].int)
                                }
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(outcomes.count == 80)
                for (name, pid, status, returnedPID) in outcomes {
                    let expected: HTTPResponse.Status =
                        switch name {
                        case "provider": pid == 99_999 ? .notFound : .ok
                        case "patient1": pid == 1 ? .ok : .notFound
                        default: .unauthorized
                        }
                    #expect(status == expected, "\(name) reading \(pid)")
                    if status == .ok { #expect(returnedPID == pid, "\(name) reading \(pid)") }
                }
            }
        }

        @Test func badIDsAre404() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client in
                let token = try await client.token("admin", "pass")
                for id in ["abc", "0", "99999", "-1", "1.5", "99999999999999999999999", "%20", "1e3"] {
                    for uri in ["/api/patients/\(id)/", "/api/encounters/\(id)/"] {
                        let response = try await client.call(.get, uri, token: token)
                        #expect(response.status == .notFound, "\(uri): \(response.status)")
                        #expect(response.errorCode == "not_found", "\(uri)")
                        #expect(hasErrorShape(response))
                    }
                    let patch = try await client.call(.patch, "/api/patients/\(id)/", token: token, json: #"{"city":"Nowhere"}"#)
                    #expect(patch.status == .notFound, "PATCH \(id)")
                }
            }
        }

        // MARK: Creating and updating patients

        @Test func createPatientAsOpenEMRDoes() async throws {
            let database = try LiveDatabase.require()
            let maxPid = try #require(try await database.int("SELECT MAX(pid) AS v FROM patient_data"))
            let registry = try await database.count("uuid_registry")
            let (created, etag) = try await database.withApp { client -> (JSONValue, String?) in
                let token = try await client.token("drsmith", "doctor123")
                let response = try await client.call(
                    .post, "/api/patients/", token: token,
                    json: #"{"fname":"Łukasz","lname":"Nowak-Ñúñez","sex":"Male","dob":"1985-04-12","email":"lukasz@example.org","phone_cell":"555-101-2020","city":"Springfield","pubpid":""}"#
                )
                #expect(response.status == .created, "\(response.text)")
                let pid = response.json["pid"].int
                #expect(response.headers[.location] == "/api/patients/\(pid ?? -1)/")
                let etag = response.headers[.eTag]
                #expect(etag != nil)
                // A GET shows the same record and the same validator.
                let read = try await client.call(.get, "/api/patients/\(pid ?? -1)/", token: token)
                #expect(read.status == .ok)
                #expect(read.json == response.json)
                #expect(read.headers[.eTag] == etag)
                return (response.json, etag)
            }
            #expect(etag != nil)
            let pid = try #require(created["pid"].int)
            #expect(pid == maxPid + 1)
            #expect(created["pubpid"].string == String(pid))
            #expect(created["fname"].string == "Łukasz")
            #expect(created["lname"].string == "Nowak-Ñúñez")
            #expect(created["dob"].string == "1985-04-12")
            #expect(created["provider_id"].int == 0)
            #expect(created["date_created"].string != nil)

            let row = try #require(
                try await database.query(
                    """
                    SELECT LOWER(HEX(uuid)) AS uuid, pubpid, fname, lname, CAST(DOB AS CHAR) AS dob, email, phone_cell, city, created_by, updated_by,
                           TIMESTAMPDIFF(SECOND, date, NOW()) AS age, TIMESTAMPDIFF(SECOND, regdate, NOW()) AS regage, id IS NOT NULL AS has_id
                    FROM patient_data WHERE pid = \(pid)
                    """
                ).first
            )
            let uuid = try row.decode("uuid", as: String.self)
            #expect(created["uuid"].string?.replacingOccurrences(of: "-", with: "") == uuid)
            #expect(try row.decode("pubpid", as: String.self) == String(pid))
            #expect(try row.decode("dob", as: String.self) == "1985-04-12")
            #expect(try row.decode("email", as: String.self) == "lukasz@example.org")
            #expect(try row.decode("created_by", as: Int.self) == 2)
            #expect(try row.decode("updated_by", as: Int.self) == 2)
            let age = try row.decode("age", as: Int?.self)
            let regage = try row.decode("regage", as: Int?.self)
            #expect(age.map { (-5...300).contains($0) } == true, "date set to now: \(String(describing: age))")
            #expect(regage.map { (-5...300).contains($0) } == true, "regdate set to now: \(String(describing: regage))")
            // The uuid is registered as OpenEMR's UuidRegistry does.
            let registered = try #require(
                try await database.query(
                    "SELECT table_name, table_id, table_vertical, couchdb, document_drive, mapped, created IS NOT NULL AS c FROM uuid_registry WHERE LOWER(HEX(uuid)) = \(uuid)"
                ).first
            )
            #expect(try registered.decode("table_name", as: String.self) == "patient_data")
            #expect(try registered.decode("table_id", as: String.self) == "id")
            #expect(try registered.decode("table_vertical", as: String.self) == "")
            #expect(try registered.decode("mapped", as: Int.self) == 0)
            #expect(try registered.decode("c", as: Int.self) == 1)
            #expect(try await database.count("uuid_registry") == registry + 1)
            // Version 4, timestamp first: the first 6 bytes are close to now in 10 µs units.
            let prefix = try #require(UInt64(uuid.prefix(12), radix: 16))
            #expect(abs(Double(prefix) / 100_000 - Date().timeIntervalSince1970) < 600)
            #expect(Array(uuid)[12] == "4")
            // The write is audited in its transaction.
            #expect(
                try await database.count(
                    "log l JOIN log_comment_encrypt c ON c.log_id = l.id",
                    "l.event = 'patient-record-insert' AND l.patient_id = \(pid) AND l.user = 'drsmith' AND l.category = 'Patient Demographics' AND c.version = 4"
                ) == 1
            )

            // An explicit pubpid is kept.
            let explicit = try await database.withApp { client -> JSONValue in
                let token = try await client.token("admin", "pass")
                let response = try await client.call(
                    .post, "/api/patients/", token: token, json: #"{"fname":"Ann","lname":"Explicit","sex":"Female","dob":"2001-02-03","pubpid":"MRN-77"}"#
                )
                #expect(response.status == .created)
                return response.json
            }
            #expect(explicit["pubpid"].string == "MRN-77")
            #expect(explicit["pid"].int == pid + 1)
            #expect(try await database.int("SELECT created_by AS v FROM patient_data WHERE pid = \(pid + 1)") == 1)
        }

        @Test func createValidationIsPerField() async throws {
            let database = try LiveDatabase.require()
            let patients = try await database.count("patient_data")
            let registry = try await database.count("uuid_registry")
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let empty = try await client.call(.post, "/api/patients/", token: token, json: "{}")
                #expect(empty.status == .badRequest)
                #expect(empty.errorCode == "validation_error")
                #expect(empty.json["error"]["details"].object?.keys.sorted() == ["dob", "fname", "lname", "sex"])
                for detail in ["dob", "fname", "lname", "sex"] {
                    #expect(empty.json["error"]["details"][detail].string == "This field is required.")
                }
                let cases: [(String, [String])] = [
                    (#"{"fname":"A","lname":"B","sex":"Male"}"#, ["dob"]),
                    (#"{"fname":"A","lname":"B","dob":"1990-01-01"}"#, ["sex"]),
                    (#"{"fname":"A","lname":"B","sex":"Male","dob":"1990-13-01"}"#, ["dob"]),
                    (#"{"fname":"A","lname":"B","sex":"Male","dob":"01/02/1990"}"#, ["dob"]),
                    (#"{"fname":"A","lname":"B","sex":"Male","dob":"2999-01-01"}"#, ["dob"]),
                    (#"{"fname":"  ","lname":"B","sex":"Male","dob":"1990-01-01"}"#, ["fname"]),
                    (#"{"fname":"A","lname":"B","sex":"Male","dob":"1990-01-01","email":"nope"}"#, ["email"]),
                    (#"{"fname":"A","lname":"B","sex":"Male","dob":"1990-01-01","city":"\#(String(repeating: "x", count: 256))"}"#, ["city"]),
                    (#"{"fname":"A","lname":"B","sex":"Male","dob":1990}"#, ["dob"]),
                ]
                for (body, fields) in cases {
                    let response = try await client.call(.post, "/api/patients/", token: token, json: body)
                    #expect(response.status == .badRequest, "\(body.prefix(80))")
                    #expect(response.json["error"]["details"].object?.keys.sorted() == fields, "\(body.prefix(80)): \(response.text)")
                }
                let future = try await client.call(.post, "/api/patients/", token: token, json: #"{"fname":"A","lname":"B","sex":"Male","dob":"2999-01-01"}"#)
                #expect(future.json["error"]["details"]["dob"].string == "Date of birth cannot be in the future.")
            }
            #expect(try await database.count("patient_data") == patients)
            #expect(try await database.count("uuid_registry") == registry)
        }

        /// Every column of a patient row except the ones named, as one text (NULLs visible).
        static func rowSnapshot(_ database: LiveDatabase, pid: Int, except: Set<String>) async throws -> [String: String] {
            let columns = try await database.query(
                "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'patient_data' ORDER BY ORDINAL_POSITION"
            ).rows.map { try $0.decode("c", as: String.self) }.filter { !except.contains($0) }
            let select = columns.map { "COALESCE(HEX(CAST(`\($0)` AS BINARY)), '<NULL>') AS `\($0)`" }.joined(separator: ", ")
            let row = try #require(try await database.query("SELECT \(unescaped: select) FROM patient_data WHERE pid = \(pid)").first)
            var result: [String: String] = [:]
            for column in columns { result[column] = try row.decode(column, as: String?.self) ?? "<NULL>" }
            return result
        }

        @Test func patchChangesOnlyTheSentFields() async throws {
            let database = try LiveDatabase.require()
            let pid = 10
            let before = try await Self.rowSnapshot(database, pid: pid, except: ["phone_cell", "city", "updated_by", "last_updated"])
            #expect(before.count > 20)
            let response = try await database.withApp { client -> TestResponse in
                let token = try await client.token("drsmith", "doctor123")
                let original = try await client.call(.get, "/api/patients/\(pid)/", token: token)
                let patched = try await client.call(.patch, "/api/patients/\(pid)/", token: token, json: #"{"phone_cell":"555-000-1111","city":"Peoria"}"#)
                #expect(patched.status == .ok, "\(patched.text)")
                // The response differs from the original only in the two fields.
                var expected = original.json.object ?? [:]
                expected["phone_cell"] = .string("555-000-1111")
                expected["city"] = .string("Peoria")
                #expect(patched.json == .object(expected))
                #expect(patched.headers[.eTag] != original.headers[.eTag])
                return patched
            }
            #expect(response.json["city"].string == "Peoria")
            #expect(try await database.string("SELECT phone_cell AS v FROM patient_data WHERE pid = \(pid)") == "555-000-1111")
            #expect(try await database.string("SELECT city AS v FROM patient_data WHERE pid = \(pid)") == "Peoria")
            #expect(try await database.int("SELECT updated_by AS v FROM patient_data WHERE pid = \(pid)") == 2)
            let after = try await Self.rowSnapshot(database, pid: pid, except: ["phone_cell", "city", "updated_by", "last_updated"])
            #expect(after == before, "\(after.filter { before[$0.key] != $0.value })")
            #expect(
                try await database.count("log l JOIN log_comment_encrypt c ON c.log_id = l.id", "l.event = 'patient-record-update' AND l.patient_id = \(pid) AND l.user = 'drsmith'")
                    == 1
            )
            // PUT requires the four fields; a partial PUT changes nothing.
            let putBefore = try await Self.rowSnapshot(database, pid: pid, except: [])
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let put = try await client.call(.put, "/api/patients/\(pid)/", token: token, json: #"{"city":"Nope"}"#)
                #expect(put.status == .badRequest)
                #expect(put.json["error"]["details"].object?.keys.sorted() == ["dob", "fname", "lname", "sex"])
            }
            #expect(try await Self.rowSnapshot(database, pid: pid, except: []) == putBefore)
        }

        @Test func ifMatchGuardsUpdates() async throws {
            let database = try LiveDatabase.require()
            let pid = 11
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let original = try await client.call(.get, "/api/patients/\(pid)/", token: token)
                let etag = try #require(original.headers[.eTag])
                let snapshot = try await Self.rowSnapshot(database, pid: pid, except: [])

                let stale = try await client.call(.patch, "/api/patients/\(pid)/", token: token, json: #"{"city":"Stale"}"#, headers: [.ifMatch: "\"0000\""])
                #expect(stale.status == .preconditionFailed, "\(stale.text)")
                #expect(stale.errorCode == "precondition_failed")
                #expect(stale.json["error"]["details"]["etag"].string == etag)
                #expect(hasErrorShape(stale))
                #expect(try await Self.rowSnapshot(database, pid: pid, except: []) == snapshot, "a 412 changes nothing")

                let fresh = try await client.call(.patch, "/api/patients/\(pid)/", token: token, json: #"{"city":"Fresh"}"#, headers: [.ifMatch: etag])
                #expect(fresh.status == .ok, "\(fresh.text)")
                let newETag = try #require(fresh.headers[.eTag])
                #expect(newETag != etag)
                let reread = try await client.call(.get, "/api/patients/\(pid)/", token: token)
                #expect(reread.headers[.eTag] == newETag)

                // The old validator is now stale, for PATCH and PUT alike.
                let again = try await client.call(.patch, "/api/patients/\(pid)/", token: token, json: #"{"city":"Again"}"#, headers: [.ifMatch: etag])
                #expect(again.status == .preconditionFailed)
                let put = try await client.call(
                    .put, "/api/patients/\(pid)/", token: token, json: #"{"fname":"P","lname":"Q","sex":"Male","dob":"1970-01-01"}"#, headers: [.ifMatch: etag]
                )
                #expect(put.status == .preconditionFailed)
                #expect(try await database.string("SELECT city AS v FROM patient_data WHERE pid = \(pid)") == "Fresh")

                // A list with the current one, and `*`, match.
                let listed = try await client.call(
                    .patch, "/api/patients/\(pid)/", token: token, json: #"{"city":"Listed"}"#, headers: [.ifMatch: "\"nope\", \(newETag)"]
                )
                #expect(listed.status == .ok)
                let star = try await client.call(.patch, "/api/patients/\(pid)/", token: token, json: #"{"city":"Star"}"#, headers: [.ifMatch: "*"])
                #expect(star.status == .ok)

                // If-None-Match on GET: 304 with the current ETag.
                let current = try #require(star.headers[.eTag])
                let notModified = try await client.call(.get, "/api/patients/\(pid)/", token: token, headers: [.ifNoneMatch: current])
                #expect(notModified.status == .notModified)
                #expect(notModified.headers[.eTag] == current)
                let modified = try await client.call(.get, "/api/patients/\(pid)/", token: token, headers: [.ifNoneMatch: etag])
                #expect(modified.status == .ok)
            }
        }

        @Test func concurrentPatchesWithTheSameIfMatch() async throws {
            let database = try LiveDatabase.require()
            let pid = 12
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                for round in 0..<5 {
                    let etag = try #require(try await client.call(.get, "/api/patients/\(pid)/", token: token).headers[.eTag])
                    let statuses = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                        for writer in 0..<2 {
                            group.addTask {
                                let city = "Round\(round)Writer\(writer)"
                                let response = try await client.call(
                                    .patch, "/api/patients/\(pid)/", token: token, json: #"{"city":"\#(city)"}"#, headers: [.ifMatch: etag]
                                )
                                return (Int(response.status.code), city)
                            }
                        }
                        var results: [(Int, String)] = []
                        for try await result in group { results.append(result) }
                        return results
                    }
                    #expect(statuses.map(\.0).sorted() == [200, 412], "round \(round): \(statuses)")
                    let winner = statuses.first { $0.0 == 200 }?.1
                    #expect(try await database.string("SELECT city AS v FROM patient_data WHERE pid = \(pid)") == winner)
                }
            }
        }

        @Test func concurrentCreatesGetDistinctPids() async throws {
            let database = try LiveDatabase.require()
            let maxPid = try #require(try await database.int("SELECT MAX(pid) AS v FROM patient_data"))
            let before = try await database.count("patient_data")
            let registered = try await database.count("uuid_registry", "table_name = 'patient_data'")
            // A pool as large as the burst: all 20 transactions really run at once.
            let results = try await database.withApp(["DB_POOL_SIZE": "20"]) { client -> [(Int, Int?, String)] in
                let token = try await client.token("drsmith", "doctor123")
                return try await withThrowingTaskGroup(of: (Int, Int?, String).self) { group in
                    for index in 0..<20 {
                        group.addTask {
                            let response = try await client.call(
                                .post, "/api/patients/", token: token, json: #"{"fname":"Concurrent","lname":"Create\#(index)","sex":"Female","dob":"1999-09-09"}"#
                            )
                            return (Int(response.status.code), response.json["pid"].int, response.text)
                        }
                    }
                    var results: [(Int, Int?, String)] = []
                    for try await result in group { results.append(result) }
                    return results
                }
            }
            for result in results { #expect(result.0 == 201, "\(result.2.prefix(300))") }
            let pids = results.compactMap(\.1)
            #expect(Set(pids).count == 20)
            #expect(Set(pids) == Set((maxPid + 1)...(maxPid + 20)))
            #expect(try await database.count("patient_data") == before + 20)
            #expect(try await database.count("uuid_registry", "table_name = 'patient_data'") == registered + 20)
            #expect(try await database.count("patient_data", "lname LIKE 'Create%' AND fname = 'Concurrent' AND pubpid = CAST(pid AS CHAR)") == 20)
        }

        // MARK: Encounters

        @Test func createEncounterAsOpenEMRDoes() async throws {
            let database = try LiveDatabase.require()
            let sequence = try #require(try await database.int("SELECT id AS v FROM sequences"))
            let facilityName = try #require(try await database.string("SELECT name AS v FROM facility WHERE id = 2"))
            let facilityPOS = try await database.int("SELECT pos_code AS v FROM facility WHERE id = 2")
            let (created, fetched) = try await database.withApp { client -> (JSONValue, JSONValue) in
                let token = try await client.token("drsmith", "doctor123")
                let response = try await client.call(
                    .post, "/api/encounters/", token: token, json: #"{"pid":6,"reason":"Cough — 3 days","facility_id":2,"date":"2025-05-06 07:08:09"}"#
                )
                #expect(response.status == .created, "\(response.text)")
                let number = response.json["encounter"].int ?? -1
                #expect(response.headers[.location] == "/api/encounters/\(number)/")
                let read = try await client.call(.get, "/api/encounters/\(number)/", token: token)
                #expect(read.status == .ok)
                return (response.json, read.json)
            }
            #expect(created == fetched)
            let number = try #require(created["encounter"].int)
            #expect(number == sequence + 1)
            #expect(try await database.int("SELECT id AS v FROM sequences") == sequence + 1, "sequences advanced exactly once")
            #expect(created["pid"].int == 6)
            #expect(created["facility_id"].int == 2)
            #expect(created["facility_name"].string == facilityName)
            #expect(created["provider_id"].int == 2)
            #expect(created["pc_catid"].int == 5)
            #expect(created["class_code"].string == "AMB")
            #expect(created["sensitivity"].string == "normal")
            #expect(created["reason"].string == "Cough — 3 days")
            #expect(created["date"].string == "2025-05-06 07:08:09")

            let row = try #require(
                try await database.query(
                    """
                    SELECT id, LOWER(HEX(uuid)) AS uuid, pid, facility, facility_id, billing_facility, pos_code, pc_catid, class_code, provider_id,
                           sensitivity, CAST(date AS CHAR) AS date
                    FROM form_encounter WHERE encounter = \(number)
                    """
                ).first
            )
            let rowID = try row.decode("id", as: Int.self)
            let uuid = try row.decode("uuid", as: String.self)
            #expect(created["uuid"].string?.replacingOccurrences(of: "-", with: "") == uuid)
            #expect(try row.decode("facility", as: String.self) == facilityName)
            #expect(try row.decode("facility_id", as: Int.self) == 2)
            #expect(try row.decode("billing_facility", as: Int.self) == 2)
            #expect(try row.decode("pos_code", as: Int?.self) == facilityPOS)
            #expect(created["pos_code"].int == facilityPOS)
            #expect(try row.decode("pc_catid", as: Int.self) == 5)
            #expect(try row.decode("class_code", as: String.self) == "AMB")
            #expect(try row.decode("provider_id", as: Int.self) == 2)
            #expect(try row.decode("sensitivity", as: String.self) == "normal")
            #expect(try await database.count("form_encounter", "encounter = \(number)") == 1)
            let registry = try #require(try await database.query("SELECT table_name, table_id FROM uuid_registry WHERE LOWER(HEX(uuid)) = \(uuid)").first)
            #expect(try registry.decode("table_name", as: String.self) == "form_encounter")
            #expect(try registry.decode("table_id", as: String.self) == "id")

            let forms = try await database.query(
                """
                SELECT form_name, form_id, pid, user, groupname, authorized, deleted, formdir, therapy_group_id, CAST(date AS CHAR) AS date
                FROM forms WHERE encounter = \(number)
                """
            ).rows
            try #require(forms.count == 1, "one forms row")
            let form = forms[0]
            #expect(try form.decode("formdir", as: String.self) == "newpatient")
            #expect(try form.decode("form_name", as: String.self) == "New Patient Encounter")
            #expect(try form.decode("form_id", as: Int.self) == rowID)
            #expect(try form.decode("pid", as: Int.self) == 6)
            #expect(try form.decode("user", as: String.self) == "drsmith")
            #expect(try form.decode("groupname", as: String.self) == "Default")
            #expect(try form.decode("authorized", as: Int.self) == 1)
            #expect(try form.decode("deleted", as: Int.self) == 0)
            #expect(try form.decode("therapy_group_id", as: Int?.self) == nil)
            #expect(try form.decode("date", as: String.self) == (try row.decode("date", as: String.self)))
            #expect(
                try await database.count(
                    "log l JOIN log_comment_encrypt c ON c.log_id = l.id",
                    "l.event = 'patient-record-insert' AND l.category = 'Encounter Form' AND l.patient_id = 6 AND l.user = 'drsmith'"
                ) == 1
            )

            // Defaults: the user's facility (drsmith: 1) with its name, today's date.
            let defaulted = try await database.withApp { client -> JSONValue in
                let token = try await client.token("drsmith", "doctor123")
                let response = try await client.call(.post, "/api/encounters/", token: token, json: #"{"pid":7}"#)
                #expect(response.status == .created, "\(response.text)")
                return response.json
            }
            #expect(defaulted["encounter"].int == number + 1)
            #expect(defaulted["facility_id"].int == 1)
            #expect(defaulted["facility_name"].string == (try await database.string("SELECT name AS v FROM facility WHERE id = 1")))
            #expect(defaulted["date"].string?.count == 19)
        }

        @Test func concurrentEncounterCreates() async throws {
            let database = try LiveDatabase.require()
            let sequence = try #require(try await database.int("SELECT id AS v FROM sequences"))
            let results = try await database.withApp(["DB_POOL_SIZE": "10"]) { client -> [(Int, Int?)] in
                let token = try await client.token("drsmith", "doctor123")
                return try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
                    for index in 0..<10 {
                        group.addTask {
                            let response = try await client.call(.post, "/api/encounters/", token: token, json: #"{"pid":\#(20 + index)}"#)
                            return (Int(response.status.code), response.json["encounter"].int)
                        }
                    }
                    var results: [(Int, Int?)] = []
                    for try await result in group { results.append(result) }
                    return results
                }
            }
            #expect(results.map(\.0) == Array(repeating: 201, count: 10))
            let numbers = Set(results.compactMap(\.1))
            #expect(numbers == Set((sequence + 1)...(sequence + 10)))
            #expect(try await database.int("SELECT id AS v FROM sequences") == sequence + 10)
            #expect(try await database.count("forms", "formdir = 'newpatient' AND encounter > \(sequence) AND encounter <= \(sequence + 10)") == 10)
        }

        @Test func unknownReferencesRollEverythingBack() async throws {
            let database = try LiveDatabase.require()
            func counts() async throws -> [Int] {
                [
                    try await database.int("SELECT id AS v FROM sequences") ?? -1, try await database.count("uuid_registry"),
                    try await database.count("form_encounter"), try await database.count("forms"), try await database.count("log", "event LIKE 'patient-record%'"),
                ]
            }
            let before = try await counts()
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let cases: [(String, String)] = [
                    (#"{"pid":99999}"#, "pid"), (#"{"pid":6,"facility_id":999}"#, "facility_id"), (#"{"pid":6,"provider_id":999}"#, "provider_id"),
                    (#"{"pid":6,"provider_id":6}"#, "provider_id"),  // drformer: inactive
                    (#"{"pid":6,"provider_id":5}"#, "provider_id"),  // frontdesk: not a provider
                    (#"{"pid":0}"#, "pid"), (#"{"pid":-4}"#, "pid"), (#"{"reason":"no pid"}"#, "pid"),
                    (#"{"pid":9223372036854775807}"#, "pid"), (#"{"pid":6,"facility_id":-1}"#, "facility_id"),
                ]
                for (body, field) in cases {
                    let response = try await client.call(.post, "/api/encounters/", token: token, json: body)
                    #expect(response.status == .badRequest, "\(body): \(response.text)")
                    #expect(response.errorCode == "validation_error", "\(body)")
                    #expect(response.json["error"]["details"][field].string != nil, "\(body): \(response.text)")
                }
                let both = try await client.call(.post, "/api/encounters/", token: token, json: #"{"pid":99999,"provider_id":999}"#)
                #expect(both.json["error"]["details"].object?.keys.sorted() == ["pid", "provider_id"])
            }
            #expect(try await counts() == before, "sequences, uuid_registry, form_encounter, forms, log unchanged")
        }

        @Test func encounterListFilters() async throws {
            let database = try LiveDatabase.require()
            let total = try await database.count("form_encounter")
            let forSix = try await database.count("form_encounter", "pid = 6")
            let byProvider = try await database.count("form_encounter", "provider_id = 3")
            let inRange = try await database.count("form_encounter", "date >= '2025-01-01' AND date < '2025-03-01'")
            try await database.withApp { client in
                let token = try await client.token("drjones", "doctor123")
                #expect(try await client.call(.get, "/api/encounters/", token: token).json["count"].int == total)
                let six = try await client.call(.get, "/api/encounters/?patient=6&page_size=200", token: token)
                #expect(six.json["count"].int == forSix)
                #expect(Self.pids(six).allSatisfy { $0 == 6 })
                #expect(try await client.call(.get, "/api/encounters/?provider=3", token: token).json["count"].int == byProvider)
                let range = try await client.call(.get, "/api/encounters/?date_from=2025-01-01&date_to=2025-02-28", token: token)
                #expect(range.json["count"].int == inRange)
                for query in ["patient=abc", "patient=-1", "date_from=2025-02-30", "provider=1.5"] {
                    let response = try await client.call(.get, "/api/encounters/?\(query)", token: token)
                    #expect(response.status == .badRequest, "\(query)")
                    #expect(hasErrorShape(response))
                }
            }
        }

        // MARK: Audit

        static func selectRows(_ database: LiveDatabase, pid: Int, user: String) async throws -> Int {
            try await database.count(
                "log l JOIN log_comment_encrypt c ON c.log_id = l.id",
                "l.event = 'patient-record-select' AND l.patient_id = \(pid) AND l.user = '\(user)' AND c.encrypt = 'No' AND c.version = 4 AND LENGTH(c.checksum) = 128"
            )
        }

        @Test func readsAreAuditedThroughTheQueue() async throws {
            let database = try LiveDatabase.require()
            let before = try await Self.selectRows(database, pid: 8, user: "drsmith")
            let portalBefore = try await Self.selectRows(database, pid: 1, user: "patient1")
            try await database.withClinicalApp { client, services in
                let token = try await client.token("drsmith", "doctor123")
                #expect(try await client.call(.get, "/api/patients/8/", token: token).status == .ok)
                await services.auditQueue.flush()
                // (The background flush may hold the batch right now: allow it to commit.)
                #expect(try await eventually { try await Self.selectRows(database, pid: 8, user: "drsmith") == before + 1 })
                let row = try #require(
                    try await database.query(
                        "SELECT category, groupname, log_from, success, CAST(FROM_BASE64(comments) AS CHAR) AS comments FROM log WHERE event = 'patient-record-select' AND patient_id = 8 ORDER BY id DESC LIMIT 1"
                    ).first
                )
                #expect(try row.decode("category", as: String.self) == "Patient Demographics")
                #expect(try row.decode("groupname", as: String.self) == "Default")
                #expect(try row.decode("log_from", as: String.self) == "open-emr")
                #expect(try row.decode("success", as: Int.self) == 1)
                #expect(try row.decode("comments", as: String?.self)?.contains("emr-bridge") == true)

                // A list audits every patient shown.
                let listed = try await client.call(.get, "/api/patients/?page_size=3", token: token)
                await services.auditQueue.flush()
                for pid in Self.pids(listed) {
                    #expect(try await eventually { try await Self.selectRows(database, pid: pid, user: "drsmith") >= 1 }, "pid \(pid)")
                }

                // Without an explicit flush the background service writes it within ~200 ms.
                let portal = try await client.portalToken("patient1", "patient123")
                #expect(try await client.call(.get, "/api/patients/1/", token: portal).status == .ok)
                var written = false
                for _ in 0..<30 where !written {
                    try await Task.sleep(for: .milliseconds(100))
                    written = try await Self.selectRows(database, pid: 1, user: "patient1") > portalBefore
                }
                #expect(written, "read audit row not written within 3 s")
                #expect(
                    try await database.string("SELECT log_from AS v FROM log WHERE event = 'patient-record-select' AND user = 'patient1' ORDER BY id DESC LIMIT 1")
                        == "patient-portal"
                )
            }
        }

        // MARK: Delete

        @Test func deleteIsDisabledByDefaultAndAdminOnly() async throws {
            let database = try LiveDatabase.require()
            // A patient of our own, with an encounter and a portal account.
            let (pid, encounter) = try await database.withApp { client -> (Int, Int) in
                let token = try await client.token("drsmith", "doctor123")
                let patient = try await client.call(.post, "/api/patients/", token: token, json: #"{"fname":"Del","lname":"Etable","sex":"Male","dob":"1950-05-05"}"#)
                let pid = try #require(patient.json["pid"].int)
                let encounter = try await client.call(.post, "/api/encounters/", token: token, json: #"{"pid":\#(pid)}"#)
                return (pid, try #require(encounter.json["encounter"].int))
            }
            let patientUUID = try #require(try await database.string("SELECT HEX(uuid) AS v FROM patient_data WHERE pid = \(pid)"))
            let encounterUUID = try #require(try await database.string("SELECT HEX(uuid) AS v FROM form_encounter WHERE encounter = \(encounter)"))

            try await database.withApp { client in
                let admin = try await client.token("admin", "pass")
                let refused = try await client.call(.delete, "/api/patients/\(pid)/", token: admin)
                #expect(refused.status == .forbidden)
                #expect(refused.errorCode == "delete_disabled")
                #expect(hasErrorShape(refused))
            }
            #expect(try await database.count("patient_data", "pid = \(pid)") == 1)

            try await database.withApp(["BRIDGE_ALLOW_PATIENT_DELETE": "1"]) { client in
                let doctor = try await client.token("drsmith", "doctor123")
                let forbidden = try await client.call(.delete, "/api/patients/\(pid)/", token: doctor)
                #expect(forbidden.status == .forbidden)
                #expect(forbidden.errorCode == "permission_denied")
                let staff = try await client.token("frontdesk", "front123")
                #expect(try await client.call(.delete, "/api/patients/\(pid)/", token: staff).status == .forbidden)
                #expect(try await database.count("patient_data", "pid = \(pid)") == 1)

                let admin = try await client.token("admin", "pass")
                let deleted = try await client.call(.delete, "/api/patients/\(pid)/", token: admin)
                #expect(deleted.status == .noContent, "\(deleted.text)")
                #expect(try await client.call(.get, "/api/patients/\(pid)/", token: admin).status == .notFound)
                #expect(try await client.call(.delete, "/api/patients/\(pid)/", token: admin).status == .notFound)
            }
            #expect(try await database.count("patient_data", "pid = \(pid)") == 0)
            #expect(try await database.count("form_encounter", "pid = \(pid)") == 0)
            #expect(try await database.count("forms", "pid = \(pid)") == 0)
            #expect(try await database.count("uuid_registry", "HEX(uuid) IN ('\(patientUUID)', '\(encounterUUID)')") == 0)
            #expect(try await database.count("log", "event = 'patient-record-delete' AND patient_id = \(pid) AND user = 'admin'") == 1)
            // Other patients are untouched.
            #expect(try await database.count("patient_data", "pid = 6") == 1)
        }

        // MARK: Reference lists

        @Test func providersAndFacilities() async throws {
            let database = try LiveDatabase.require()
            let expected = try await database.query(
                "SELECT username FROM users WHERE active = 1 AND authorized = 1 AND username IS NOT NULL AND username <> '' ORDER BY lname, fname, id"
            ).rows.map { try $0.decode("username", as: String.self) }
            try await database.withApp { client in
                let token = try await client.token("frontdesk", "front123")
                let providers = try await client.call(.get, "/api/openemr/providers/", token: token)
                #expect(providers.status == .ok)
                guard case .array(let items) = providers.json["results"] else { Issue.record("\(providers.text)"); return }
                let usernames = items.compactMap { $0["username"].string }
                #expect(usernames == expected)
                #expect(usernames.contains("drsmith"))
                #expect(!usernames.contains("drformer"))
                #expect(!usernames.contains("frontdesk"))
                #expect(providers.json["count"].int == expected.count)
                let smith = items.first { $0["username"].string == "drsmith" }
                #expect(smith?["id"].int == 2)
                #expect(smith?["uuid"].string?.count == 36)

                let facilities = try await client.call(.get, "/api/openemr/facilities", token: token)
                #expect(facilities.status == .ok)
                #expect(facilities.json["count"].int == 2)
                guard case .array(let list) = facilities.json["results"] else { Issue.record("\(facilities.text)"); return }
                #expect(Set(list.compactMap { $0["id"].int }) == [1, 2])
                #expect(list.allSatisfy { $0["pos_code"].int == 11 && $0["service_location"].bool == true })
                let paged = try await client.call(.get, "/api/openemr/facilities/?page_size=1&page=2", token: token)
                #expect(paged.json["previous"].isNull == false)
                #expect(try await client.call(.get, "/api/openemr/facilities/?page=3&page_size=1", token: token).status == .notFound)
                #expect(try await client.call(.get, "/api/openemr/providers/", token: nil).status == .unauthorized)
            }
        }

        // MARK: OpenAPI

        @Test func openAPIDocumentMatchesTheRoutesAndResponses() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client in
                let documentResponse = try await client.send(.get, "/api/openapi.json")
                #expect(documentResponse.status == .ok)
                let document = try JSONValue.parse(documentResponse.body)
                #expect(document["openapi"].string == "3.1.0")
                #expect(document["info"]["version"].string == EMRBridgeVersion.current)

                let admin = try await client.token("admin", "pass")
                let logoutToken = try await client.token("drjones", "doctor123")
                var createdPid = 6
                var createdEncounter = 1
                var createdTranscription = 0
                var checked: Set<String> = []
                for operation in OpenAPIDocument.operations {
                    let name = "\(operation.method.uppercased()) \(operation.path)"
                    let entry = document["paths"][operation.path][operation.method]
                    #expect(entry.object != nil, "\(name) missing from the document")
                    let documented = Set((entry["responses"].object ?? [:]).keys.compactMap { Int($0) })
                    #expect(documented == Set(operation.statuses.map(\.status)), "\(name)")

                    let uri = operation.path.replacingOccurrences(of: "{pid}", with: String(createdPid))
                        .replacingOccurrences(of: "{encounter}", with: String(createdEncounter))
                        .replacingOccurrences(of: "{id}", with: String(createdTranscription))
                    var token: String? = operation.authenticated ? admin : nil
                    var body: String?
                    switch (operation.method, operation.path) {
                    case ("post", "/api/auth/login/"): body = #"{"username":"drpatel","password":"doctor123"}"#
                    case ("post", "/api/auth/patient-login/"): body = #"{"username":"patient2","password":"patient123"}"#
                    case ("post", "/api/auth/openemr-session/"): body = #"{"session_id":"0123456789abcdefghijklmnop"}"#
                    case ("post", "/api/auth/logout/"): token = logoutToken
                    case ("post", "/api/patients/"): body = #"{"fname":"Open","lname":"Api","sex":"Female","dob":"1977-07-07"}"#
                    case ("post", "/api/transcriptions/"), ("put", "/api/transcriptions/{id}/"):
                        body = #"{"pid":\#(createdPid),"encounter":\#(createdEncounter),"segments":[{"start_ms":0,"end_ms":5,"text":"Hello"}]}"#
                    case ("patch", "/api/transcriptions/{id}/"): body = #"{"language":"es"}"#
                    case ("post", "/api/transcriptions/{id}/reject/"): body = #"{"reason":"Too late: already approved"}"#
                    case ("post", "/api/transcriptions/{id}/integrate_with_openemr/"): body = #"{"form":"soap"}"#
                    case ("put", "/api/transcriptions/{id}/audio/"): body = "{}"
                    case ("put", _): body = #"{"fname":"Open","lname":"Api","sex":"Female","dob":"1977-07-08"}"#
                    case ("patch", _): body = #"{"city":"Schema"}"#
                    case ("post", "/api/encounters/"): body = "{\"pid\":\(createdPid)}"
                    default: break
                    }
                    let response = try await client.call(
                        HTTPRequest.Method(rawValue: operation.method.uppercased()) ?? .get, uri, token: token, json: body
                    )
                    let status = Int(response.status.code)
                    #expect(documented.contains(status), "\(name) answered \(status), documented \(documented.sorted()): \(response.text.prefix(300))")
                    if !operation.path.contains("{") && operation.path != "/api/auth/guest/" {
                        #expect(!(status == 404 && response.errorCode == "not_found"), "\(name) is not routed")
                    }
                    if let ref = entry["responses"][String(status)]["content"]["application/json"]["schema"].object {
                        let problems = schemaProblems(response.json, .object(ref), document: document)
                        #expect(problems.isEmpty, "\(name) \(status): \(problems)")
                        checked.insert(ref["$ref"]?.string ?? "")
                    }
                    if operation.method == "post" && operation.path == "/api/patients/" { createdPid = response.json["pid"].int ?? createdPid }
                    if operation.method == "post" && operation.path == "/api/transcriptions/" {
                        createdTranscription = response.json["id"].int ?? createdTranscription
                    }
                    if operation.method == "post" && operation.path == "/api/encounters/" {
                        createdEncounter = response.json["encounter"].int ?? createdEncounter
                    }
                }
                #expect(createdPid != 6 && createdEncounter != 1 && createdTranscription != 0, "the create operations worked")
                #expect(try await database.string("SELECT status AS v FROM mmt_transcriptions WHERE id = \(createdTranscription)") == "integrated")
                for schema in [
                    "Patient", "PatientPage", "Encounter", "EncounterPage", "Error", "ProviderPage", "FacilityPage", "Login", "User", "Health", "Transcription",
                    "TranscriptionPage",
                ] {
                    #expect(checked.contains("#/components/schemas/\(schema)"), "\(schema) was never checked against a real response")
                }

                // Real records with every nullable field, and the error of each family, against their schemas.
                let samples: [(String, String)] = [
                    ("/api/patients/7/", "Patient"), ("/api/patients/?page_size=200", "PatientPage"), ("/api/patients/?page=last&page_size=7", "PatientPage"),
                    ("/api/encounters/?page_size=200", "EncounterPage"), ("/api/patients/99999/", "Error"), ("/api/patients/?ordering=x", "Error"),
                    ("/api/openemr/providers/?page_size=200", "ProviderPage"), ("/api/openemr/facilities/", "FacilityPage"),
                    ("/api/transcriptions/?page_size=200", "TranscriptionPage"), ("/api/transcriptions/\(createdTranscription)/", "Transcription"),
                ]
                for (uri, schema) in samples {
                    let response = try await client.call(.get, uri, token: admin)
                    let problems = schemaProblems(response.json, .object(["$ref": .string("#/components/schemas/\(schema)")]), document: document)
                    #expect(problems.isEmpty, "\(uri) as \(schema): \(problems.prefix(5))")
                }
                // The schema walker itself catches a missing required property and a wrong type.
                let broken = schemaProblems(
                    .object(["count": .string("1"), "next": .null, "results": .array([])]), .object(["$ref": .string("#/components/schemas/PatientPage")]),
                    document: document
                )
                #expect(broken.count == 3, "\(broken)")  // count_exact and previous missing, count a string
            }
        }

        // MARK: Hostile input

        enum Expect { case clientError, okOrClientError }

        @Test func hostileInputsNeverCauseA500() async throws {
            let database = try LiveDatabase.require()
            let patients = try await database.count("patient_data")
            let sequence = try await database.int("SELECT id AS v FROM sequences")
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
                let huge = String(repeating: "ж", count: 600_000)
                let cases: [(HTTPRequest.Method, String, String?, Expect)] = [
                    (.get, "/api/patients/?page_size=-1", nil, .okOrClientError),
                    (.get, "/api/patients/?page_size=99999999999999999999999", nil, .okOrClientError),
                    (.get, "/api/patients/?page=-9223372036854775808", nil, .okOrClientError),
                    (.get, "/api/patients/?page=1000000", nil, .clientError),
                    (.get, "/api/patients/?ordering=%3Bdrop", nil, .clientError),
                    (.get, "/api/patients/?ordering=lname%27%20--", nil, .clientError),
                    (.get, "/api/patients/?dob=9999-99-99", nil, .clientError),
                    (.get, "/api/patients/?dob=%00", nil, .clientError),
                    (.get, "/api/patients/?search=%25", nil, .okOrClientError),
                    (.get, "/api/patients/?search=%27%20OR%201%3D1%20--", nil, .okOrClientError),
                    (.get, "/api/patients/?search=\(String(repeating: "%F0%9F%92%A9", count: 300))", nil, .okOrClientError),
                    (.get, "/api/patients/?search=%00%0A%0D", nil, .okOrClientError),
                    (.get, "/api/patients/?sex=\(String(repeating: "x", count: 5000))", nil, .okOrClientError),
                    (.get, "/api/encounters/?patient=99999999999999999999", nil, .clientError),
                    (.get, "/api/encounters/?date_to=2025-02-31", nil, .clientError),
                    (.get, "/api/patients/%00/", nil, .clientError),
                    (.get, "/api/encounters/-9223372036854775808/", nil, .clientError),
                    (.post, "/api/patients/", "[]", .clientError),
                    (.post, "/api/patients/", "null", .clientError),
                    (.post, "/api/patients/", "\"text\"", .clientError),
                    (.post, "/api/patients/", "42", .clientError),
                    (.post, "/api/patients/", "{", .clientError),
                    (.post, "/api/patients/", "", .clientError),
                    (.post, "/api/patients/", deep, .clientError),
                    (.post, "/api/patients/", #"{"fname":["A"],"lname":"B","sex":"Male","dob":"1990-01-01"}"#, .clientError),
                    (.post, "/api/patients/", #"{"fname":{"x":1},"lname":"B","sex":"Male","dob":"1990-01-01"}"#, .clientError),
                    (.post, "/api/patients/", #"{"fname":null,"lname":null,"sex":null,"dob":null}"#, .clientError),
                    (.post, "/api/patients/", #"{"fname":"A","lname":"B","sex":"Male","dob":"1990-01-01","provider_id":1e400}"#, .clientError),
                    (.post, "/api/patients/", #"{"fname":"A","lname":"B","sex":"Male","dob":"1990-01-01","provider_id":99999999999999999999999}"#, .clientError),
                    (.post, "/api/patients/", #"{"fname":"A","lname":"B","sex":"Male","dob":"1990-01-01","provider_id":1.5}"#, .clientError),
                    (.post, "/api/patients/", #"{"fname":"A","lname":"B","sex":"Male","dob":"1990-01-01","provider_id":9999999999}"#, .clientError),
                    (.post, "/api/patients/", #"{"fname":"\#(String(repeating: "🇵🇱", count: 200))","lname":"B","sex":"Male","dob":"1990-01-01"}"#, .clientError),
                    (.post, "/api/patients/", #"{"fname":"A","lname":"B","sex":"Male","dob":"+1990-01-01"}"#, .clientError),
                    (.post, "/api/patients/", #"{"fname":"A","lname":"B","sex":"Male","dob":"1990-01-01\u0000"}"#, .clientError),
                    (.post, "/api/patients/", #"{"fname":"\#(huge)"}"#, .clientError),
                    (.patch, "/api/patients/6/", #"{"dob":"0000-00-00"}"#, .clientError),
                    (.patch, "/api/patients/6/", #"{"email":"<script>"}"#, .clientError),
                    (.patch, "/api/patients/6/", #"[{"city":"x"}]"#, .clientError),
                    (.post, "/api/encounters/", #"{"pid":"6"}"#, .clientError),
                    (.post, "/api/encounters/", #"{"pid":6,"facility_id":99999999999}"#, .clientError),
                    (.post, "/api/encounters/", #"{"pid":6,"pos_code":99999}"#, .clientError),
                    (.post, "/api/encounters/", #"{"pid":6,"pc_catid":99999999999}"#, .clientError),
                    (.post, "/api/encounters/", #"{"pid":6,"class_code":"ÅÅÅÅÅÅÅÅÅÅÅ"}"#, .clientError),
                    (.post, "/api/encounters/", #"{"pid":6,"date":"2025-02-29"}"#, .clientError),
                    (.post, "/api/encounters/", #"{"pid":6,"external_id":"\#(String(repeating: "e\u{301}", count: 15))"}"#, .clientError),
                    (.post, "/api/encounters/", #"{"pid":6,"reason":\#(deep)}"#, .clientError),
                ]
                for (method, uri, body, expectation) in cases {
                    let label = "\(method) \(uri.prefix(80)) \(body?.prefix(60) ?? "")"
                    let response = try await client.call(method, uri, token: token, json: body)
                    let status = Int(response.status.code)
                    switch expectation {
                    case .clientError: #expect((400..<500).contains(status), "\(label): \(status) \(response.text.prefix(200))")
                    case .okOrClientError: #expect(status == 200 || (400..<500).contains(status), "\(label): \(status)")
                    }
                    if status >= 400 { #expect(hasErrorShape(response), "\(label): \(response.text.prefix(200))") }
                }
                // A garbage If-Match is just a stale validator.
                let garbage = try await client.call(.patch, "/api/patients/6/", token: token, json: #"{"city":"G"}"#, headers: [.ifMatch: "\"\u{7F}\", W/, ,,"])
                #expect(garbage.status == .preconditionFailed)
            }
            #expect(try await database.count("patient_data") == patients, "nothing hostile was created")
            #expect(try await database.int("SELECT id AS v FROM sequences") == sequence)
        }
    }
}
