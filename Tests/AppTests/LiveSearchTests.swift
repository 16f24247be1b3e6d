import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import MariaDB
import Testing

@testable import App
@testable import OpenEMR

extension LiveAppTests {
    /// Issue 18: the patient search answers exactly what the straightforward query answers (same matches, same order,
    /// same pages; the count exact or a true lower bound with the right `next`), on 20,000 generated patients in
    /// OpenEMR 8.2's real schema (the fixture when ../shared is absent), including patients changed, added and deleted
    /// directly in the database while the bridge's catch-up reader runs.
    @Suite("Live: patient search at scale", .liveDatabase())
    struct Search {
        static let patients = 20_000
        static let queries = 1_000

        /// The real schema's copy (or a fixture database when there is none), migrated.
        static func withDatabase(_ body: @escaping (MariaDBClient) async throws -> Void) async throws {
            if TestEnvironment.realSchemaDatabase != nil {
                try await TranscriptionsRealSchema.withRealSchemaCopy(body)
            } else {
                try await LiveDatabase.withScratchDatabase(.migrated) { client, _ in try await body(client) }
            }
        }

        /// Patients from `scripts/gen-patients.py`, plus a few made to trip a careless implementation.
        static func load(into client: MariaDBClient, count: Int, firstPID: Int, seed: Int) async throws {
            let script = TestEnvironment.repoRoot.appendingPathComponent("scripts/gen-patients.py").path
            let output = try await TestEnvironment.run(
                "/usr/bin/env", ["python3", script, "--count", String(count), "--first-pid", String(firstPID), "--seed", String(seed), "--format", "sql", "--batch", "500"]
            )
            let logger = TestEnvironment.logger
            try await client.withConnection(logger: logger) { connection in
                for line in String(decoding: output, as: UTF8.self).split(separator: "\n") where !line.isEmpty {
                    try await connection.query(MariaDBQuery(unsafeSQL: String(line)))
                }
            }
        }

        static let tricky: [(fname: String, lname: String, email: String, phone: String, pubpid: String)] = [
            ("50%", "Off_Percent", "a%b@example.org", "555-01%", "X_1"),
            ("Back\\slash", "O'Neil", "back\\slash@example.org", "(555) 123-4567 ext. 89", "X%2"),
            ("  Leading", "Trailing  ", "", "+1 (555) 123 4567", "X 3"),
            ("", "", "", "", ""),
            ("ÉLODIE", "ÑÚÑEZ", "ELODIE@EXAMPLE.ORG", "555١٢٣٤", "x4"),
            ("Jo", "Jo", "jo@jo.jo", "123", "jo"),
            // A word common in one column and rare in others: 12 surnames, 2 first names and an e-mail start with "quorv".
            ("Anna", "Quorvath", "", "617-555-0101", "Q1"), ("Abel", "Quorvath", "", "", "Q2"), ("Ben", "Quorvath", "", "", "Q3"),
            ("Bea", "Quorvath", "", "", "Q4"), ("Ada", "Quorvath", "a.q@example.org", "", "Q5"), ("Cy", "Quorvath", "", "", "Q6"),
            ("Amos", "Quorvath", "", "", "Q7"), ("Bo", "Quorvath", "", "", "Q8"), ("Abe", "Quorvath", "", "", "Q9"),
            ("Ann", "Quorvath", "", "", "Q10"), ("Cal", "Quorvath", "", "", "Q11"), ("Bess", "Quorvath", "", "", "Q12"),
            ("Quorvo", "Adams", "", "", "Q13"), ("Quorva", "Baker", "", "", "Q14"), ("Zia", "Zed", "quorvath.a@example.org", "", "Q15"),
        ]

        static func loadTricky(into client: MariaDBClient, firstPID: Int) async throws {
            for (offset, patient) in tricky.enumerated() {
                try await client.query(
                    """
                    INSERT INTO patient_data (pid, pubpid, fname, lname, email, phone_home, phone_cell, sex, DOB, date)
                    VALUES (\(firstPID + offset), \(patient.pubpid), \(patient.fname), \(patient.lname), \(patient.email), \(patient.phone), '', 'Female', '1990-01-01', NOW())
                    """,
                    logger: TestEnvironment.logger
                )
            }
        }

        // MARK: The straightforward query, written here independently of the bridge's code

        struct Query: CustomStringConvertible {
            var items: [String: String]
            var description: String { items.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&") }
        }

        static func escape(_ text: String) -> String {
            var result = ""
            for c in text {
                if c == "%" || c == "_" || c == "\\" { result.append("\\") }
                result.append(c)
            }
            return result
        }

        /// All matching pids in the requested order, by the plain query over patient_data.
        static func expected(_ query: Query, on client: MariaDBClient) async throws -> [Int] {
            var sql: MariaDBQuery = "SELECT pid FROM patient_data WHERE 1 = 1"
            if let dob = query.items["dob"], !dob.isEmpty { sql.append(" AND DOB = \(dob)") }
            if let sex = query.items["sex"], !sex.isEmpty { sql.append(" AND sex = \(sex)") }
            let search = (query.items["search"] ?? "").trimmingCharacters(in: " ")
            for word in search.split(separator: " ").prefix(5) {
                let like = escape(String(word)) + "%"
                sql.append(
                    " AND (fname LIKE \(like) OR lname LIKE \(like) OR mname LIKE \(like) OR pubpid LIKE \(like) OR email LIKE \(like)"
                )
                let digits = String(word.filter(\.isNumber))
                if digits.count >= 3 {
                    let anywhere = "%" + digits + "%"
                    sql.append(
                        " OR REGEXP_REPLACE(phone_home, '[^0-9]', '') LIKE \(anywhere) OR REGEXP_REPLACE(phone_cell, '[^0-9]', '') LIKE \(anywhere)"
                    )
                }
                sql.append(")")
            }
            var order: [String] = []
            var lastDescending = false
            let columns = ["pid": "pid", "pubpid": "pubpid", "fname": "fname", "lname": "lname", "dob": "DOB", "date_created": "date"]
            for field in (query.items["ordering"] ?? "").split(separator: ",") {
                let descending = field.hasPrefix("-")
                let column = columns[String(descending ? field.dropFirst() : field)]!
                order.append(column + (descending ? " DESC" : " ASC"))
                lastDescending = descending
                if column == "pid" { break }
            }
            if !order.contains(where: { $0.hasPrefix("pid ") }) { order.append(lastDescending ? "pid DESC" : "pid ASC") }
            sql.append(" ORDER BY \(unescaped: order.joined(separator: ", "))")
            return try await client.query(sql, logger: TestEnvironment.logger).rows.map { try $0.decode("pid", as: Int.self) }
        }

        // MARK: Random queries drawn from the data

        struct Sample {
            var fname: String, lname: String, mname: String, email: String, pubpid: String, phone: String, dob: String?, sex: String
        }

        static func samples(_ client: MariaDBClient) async throws -> [Sample] {
            try await client.query(
                "SELECT fname, lname, mname, email, pubpid, phone_home, phone_cell, CAST(DOB AS CHAR) AS dob, sex FROM patient_data ORDER BY RAND(7) LIMIT 400",
                logger: TestEnvironment.logger
            ).rows.map { row in
                let home = try row.decode("phone_home", as: String.self)
                return Sample(
                    fname: try row.decode("fname", as: String.self), lname: try row.decode("lname", as: String.self),
                    mname: try row.decode("mname", as: String.self), email: try row.decode("email", as: String.self),
                    pubpid: try row.decode("pubpid", as: String.self), phone: home.isEmpty ? try row.decode("phone_cell", as: String.self) : home,
                    dob: try row.decode("dob", as: String?.self), sex: try row.decode("sex", as: String.self)
                )
            }
        }

        static func randomQuery(_ samples: [Sample], _ rng: inout some RandomNumberGenerator) -> Query {
            let s = samples.randomElement(using: &rng)!
            func prefix(_ text: String) -> String {
                let words = text.split(separator: " ")
                guard let word = words.randomElement(using: &rng), !word.isEmpty else { return "zq" }
                let cut = String(word.prefix(Int.random(in: 1...max(1, min(7, word.count)), using: &rng)))
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: return cut.uppercased()
                case 1: return cut.lowercased()
                case 2: return cut.folding(options: .diacriticInsensitive, locale: nil)  // "jose" for "José"
                default: return cut
                }
            }
            func digits() -> String {
                let all = s.phone.filter(\.isNumber)
                guard all.count >= 3 else { return "555" }
                let length = Int.random(in: 3...min(8, all.count), using: &rng)
                let start = Int.random(in: 0...(all.count - length), using: &rng)
                let piece = String(Array(all)[start..<(start + length)])
                return Bool.random(using: &rng) ? piece : String(piece.prefix(3)) + "-" + piece.dropFirst(3)
            }
            var items: [String: String] = [:]
            switch Int.random(in: 0..<12, using: &rng) {
            case 0, 1: items["search"] = prefix(s.lname)
            case 2: items["search"] = prefix(s.fname)
            case 3: items["search"] = prefix(s.lname) + " " + prefix(s.fname)
            case 4: items["search"] = prefix(s.fname) + " " + prefix(s.lname)
            case 5: items["search"] = digits()
            case 6: items["search"] = String(s.email.prefix(Int.random(in: 1...max(1, min(12, s.email.count)), using: &rng)))
            case 7: items["search"] = String(s.pubpid.prefix(Int.random(in: 1...max(1, s.pubpid.count), using: &rng)))
            case 8: items["search"] = ["%", "_", "\\", "50%", "o'n", "zzqx", "smith garcia", "j j j", "jo jo", "x_1", "  "].randomElement(using: &rng)!
            case 9: items["search"] = prefix(s.lname) + " " + digits()
            case 10: break  // no search: the plain list, perhaps filtered
            default: items["search"] = String(prefix(s.fname).prefix(1))
            }
            if Int.random(in: 0..<5, using: &rng) == 0 { items["dob"] = Bool.random(using: &rng) ? (s.dob ?? "1990-01-01") : "1990-01-01" }
            if Int.random(in: 0..<4, using: &rng) == 0 { items["sex"] = ["Male", "Female", "female", "UNK", "Other"].randomElement(using: &rng)! }
            if Int.random(in: 0..<2, using: &rng) == 0 {
                items["ordering"] = ["lname", "-lname", "fname", "-fname", "dob", "-dob", "pubpid", "-pid", "-pid", "pid", "date_created", "-date_created", "lname,fname", "-dob,lname", "lname,-pid"]
                    .randomElement(using: &rng)!
            }
            items["page_size"] = String([1, 5, 20, 50].randomElement(using: &rng)!)
            if Int.random(in: 0..<4, using: &rng) == 0 { items["page"] = ["2", "3", "last", "40"].randomElement(using: &rng)! }
            return Query(items: items)
        }

        /// Runs `query` through `search` and compares with the straightforward answer. Returns the path-independent facts.
        static func check(_ query: Query, _ search: PatientSearch, on client: MariaDBClient) async throws {
            let all = try await expected(query, on: client)
            let filter = try PatientFilter(query: query.items)
            let page = PageRequest(query: query.items)
            let lastPage = max(1, (all.count + page.size - 1) / page.size)
            let number = page.page == Int.max ? lastPage : page.page
            do {
                let result = try await search.list(filter, page: page, logger: TestEnvironment.logger)
                #expect(number <= lastPage, "\(query): a page past the end answered")
                let start = (number - 1) * page.size
                let want = Array(all[min(start, all.count)..<min(start + page.size, all.count)])
                #expect(result.items.map(\.pid) == want, "\(query): pids differ")
                #expect(result.page.page == number, "\(query): page \(result.page.page), expected \(number)")
                if result.countIsExact {
                    #expect(result.count == all.count, "\(query): exact count \(result.count), expected \(all.count)")
                } else {
                    #expect(result.count <= all.count && result.count > start + page.size, "\(query): lower bound \(result.count) against \(all.count)")
                }
            } catch let error as OpenEMRError where error.kind == .notFound {
                #expect(number > lastPage, "\(query): 404 for an existing page (\(all.count) matches)")
            }
        }

        // MARK: The test

        @Test func sameAnswersAsTheStraightforwardQuery() async throws {
            try await Self.withDatabase { client in
                let logger = TestEnvironment.logger
                try await client.query("DELETE FROM patient_data", logger: logger)
                try await Self.load(into: client, count: Self.patients, firstPID: 1000, seed: 18)
                try await Self.loadTricky(into: client, firstPID: 900)
                let index = PatientSearchIndex(database: client)
                try await index.setFreshnessIndex(true, logger: logger)
                #expect(try await index.hasFreshnessIndex(logger: logger))
                let built = try await index.rebuild(logger: logger)
                #expect(built == Self.patients + Self.tricky.count)

                // The prefix columns of migration 0009 are there, in a collation the prefix streams may use.
                #expect(try await index.state(logger: logger)?.prefixes == true)
                // The default planner, one with tiny limits so that every path (few candidates, ordered scan, budget
                // run out, full candidates) is taken on 20,000 patients, and one that goes to the prefix streams as
                // soon as a word has more than three matches, and one that skips the quick scan.
                let searches = [
                    PatientSearch(database: client, index: index),
                    PatientSearch(database: client, index: index, probeLimit: 3, dateLimit: 2, scanBudget: 150, quickBudget: 40, streamBudget: 60, phoneStreamLimit: 2),
                    PatientSearch(database: client, index: index, probeLimit: 3, quickBudget: 1),
                    // Straight to the probes, with the default limit: single words in pid order are answered by them alone.
                    PatientSearch(database: client, index: index, quickBudget: 1),
                ]
                var rng = SystemRandomNumberGenerator()
                var samples = try await Self.samples(client)
                for number in 0..<(Self.queries / 2) {
                    try await Self.check(Self.randomQuery(samples, &rng), searches[number % searches.count], on: client)
                }
                // The "quorv" patients: with a second word, the tiny planners stream the surnames and read the first names'
                // and e-mails' few matches in the same statement; the default one checks them all.
                for search in ["quorv a", "QUORVATH b", "quo a", "a quorv", "quorv 555", "quorvath"] {
                    for ordering in [nil, "-pid", "lname"] {
                        for size in ["1", "5", "20"] {
                            var items = ["search": search, "page_size": size]
                            items["ordering"] = ordering
                            for search in searches { try await Self.check(Query(items: items), search, on: client) }
                        }
                    }
                }

                // Changes made behind the bridge's back, while its catch-up reader runs as it does in `serve`.
                let sync = PatientSearchSync(index: index, database: client, interval: .milliseconds(200), sweepInterval: .seconds(1), logger: logger)
                let reader = Task { try await sync.run() }
                defer { reader.cancel() }
                try await client.query(
                    """
                    UPDATE patient_data SET lname = CONCAT('Zed', lname), fname = UPPER(fname), phone_home = CONCAT('(999) ', phone_home),
                      email = CONCAT('moved.', email), DOB = '1999-09-09', sex = 'UNK'
                    WHERE pid % 97 = 0
                    """,
                    logger: logger
                )
                try await Self.load(into: client, count: 300, firstPID: 100_000, seed: 99)
                try await client.query("DELETE FROM patient_data WHERE pid % 89 = 0", logger: logger)
                let changedPID = try #require(try await client.query("SELECT MIN(pid) AS p FROM patient_data WHERE pid % 97 = 0", logger: logger).first?.decode("p", as: Int.self))
                let started = ContinuousClock.now
                var caughtUp = false
                while ContinuousClock.now - started < .seconds(30) {
                    let copy = try await client.query(
                        """
                        SELECT (SELECT COUNT(*) FROM mmt_patient_search) AS n, (SELECT COUNT(*) FROM patient_data) AS m,
                               (SELECT lname FROM mmt_patient_search WHERE pid = \(changedPID)) AS lname
                        """,
                        logger: logger
                    ).first
                    if try copy?.decode("n", as: Int.self) == copy?.decode("m", as: Int.self), try copy?.decode("lname", as: String?.self)?.hasPrefix("Zed") == true {
                        caughtUp = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(caughtUp, "the catch-up reader did not take in the direct changes within 30 s")
                print("search copy caught up with direct changes in \(ContinuousClock.now - started)")

                samples = try await Self.samples(client)
                for number in 0..<(Self.queries / 2) {
                    var query = Self.randomQuery(samples, &rng)
                    if number % 10 == 0 { query.items["search"] = "Zed" }
                    try await Self.check(query, searches[number % searches.count], on: client)
                }
                reader.cancel()
            }
        }

        /// The API's own writes update the copy in their transaction: a created patient is found at once.
        @Test func apiWritesAreSearchableAtOnce() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client in
                let index = PatientSearchIndex(database: database.client)
                try await index.rebuild(logger: TestEnvironment.logger)
                let token = try await client.token("drsmith", "doctor123")
                let auth: HTTPFields = [.authorization: "Bearer \(token)"]
                let created = try await client.send(
                    .post, "/api/patients/", json: #"{"fname":"Quillon","lname":"Searchable","sex":"Female","dob":"1970-01-02","phone_home":"(617) 555-8080"}"#,
                    headers: auth
                )
                #expect(created.status == .created)
                let pid = try #require(created.json["pid"].int)
                for search in ["quill", "SEARCHABLE", "5558080", "searchable qui"] {
                    let page = try await client.send(.get, "/api/patients/?search=\(search)", headers: auth)
                    #expect(page.status == .ok)
                    #expect(page.json["results"].array?.map { $0["pid"].int } == [pid], "\(search): \(page.text)")
                    #expect(page.json["count"].int == 1 && page.json["count_exact"].bool == true)
                }
                let patched = try await client.send(.patch, "/api/patients/\(pid)/", json: #"{"lname":"Renamed"}"#, headers: auth)
                #expect(patched.status == .ok)
                #expect(try await client.send(.get, "/api/patients/?search=searchable", headers: auth).json["count"].int == 0)
                #expect(try await client.send(.get, "/api/patients/?search=renamed", headers: auth).json["count"].int == 1)
                // Many matches: a lower bound and a next page.
                let many = try await client.send(.get, "/api/patients/?page_size=5", headers: auth)
                #expect(many.json["count_exact"].bool == false && many.json["next"].string != nil, "\(many.text)")
            }
        }

        /// `emr-bridge migrate` adds the index on patient_data(last_updated) and builds the copy; the options leave it out
        /// or take it away again (the one change the bridge makes to an OpenEMR table is optional and reversible).
        @Test func migrateAddsAndRemovesTheFreshnessIndex() async throws {
            let database = try LiveDatabase.require()
            let binary = TestEnvironment.bridgeBinary
            let settings = try database.environment(["LOG_LEVEL": "error"]).map { "\($0.key)=\($0.value)" }
            func migrate(_ options: [String]) async throws -> String {
                String(decoding: try await TestEnvironment.run("/usr/bin/env", settings + [binary, "migrate"] + options), as: UTF8.self)
            }
            let index = PatientSearchIndex(database: database.client)
            let logger = TestEnvironment.logger
            try await database.query("UPDATE mmt_patient_search_state SET built_at = NULL WHERE id = 1")
            let first = try await migrate([])
            #expect(first.contains("built    patient search copy"), "\(first)")
            #expect(try await index.hasFreshnessIndex(logger: logger))
            #expect(try await index.state(logger: logger)?.built == true)
            let copied = try await database.int("SELECT COUNT(*) AS v FROM mmt_patient_search")
            #expect(copied == (try await database.int("SELECT COUNT(*) AS v FROM patient_data")) && (copied ?? 0) > 0)

            let removed = try await migrate(["--remove-patient-data-index"])
            #expect(removed.contains("removed"), "\(removed)")
            #expect(try await !index.hasFreshnessIndex(logger: logger))
            _ = try await migrate(["--without-patient-data-index"])
            #expect(try await !index.hasFreshnessIndex(logger: logger))
            let again = try await migrate([])
            #expect(again.contains("added    index"), "\(again)")
            #expect(!again.contains("built    patient search copy"), "built only when it is not: \(again)")
            #expect(try await index.hasFreshnessIndex(logger: logger))
        }
    }
}
