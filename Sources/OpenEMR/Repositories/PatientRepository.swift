import Foundation
public import Logging
public import MariaDB
import PasswordCrypt

/// A patient as the API shows it (OpenEMR's `patient_data`, names as the Django bridge used them).
public struct PatientResponse: Sendable, Equatable {
    public var pid: Int
    public var pubpid: String
    public var uuid: String?
    public var title: String
    public var fname: String
    public var mname: String
    public var lname: String
    public var dob: String?
    public var sex: String
    public var email: String
    public var phoneHome: String
    public var phoneCell: String
    public var street: String
    public var city: String
    public var state: String
    public var postalCode: String
    public var countryCode: String
    public var status: String
    public var providerId: Int?
    public var dateCreated: String?

    /// Strong validator: a digest of the JSON representation, so it changes whenever any shown field changes.
    public var etag: String { Self.etag(of: json) }

    public static func etag(of json: [UInt8]) -> String {
        "\"" + Digest.hex(Digest.sha256(json).prefix(16)) + "\""
    }

    /// The patient's JSON (DRF's keys, nulls written as `null`), written directly into bytes: the one encoder of a
    /// patient, for the hottest response and for pages alike (no `JSONEncoder` reflection or dynamic casts).
    public var json: [UInt8] {
        var w = JSONWriter(capacity: 640)
        write(into: &w)
        return w.bytes
    }

    public func write(into w: inout JSONWriter) {
        w.raw("{\"pid\":"); w.int(pid)
        w.raw(",\"pubpid\":"); w.string(pubpid)
        w.raw(",\"uuid\":"); w.string(uuid)
        w.raw(",\"title\":"); w.string(title)
        w.raw(",\"fname\":"); w.string(fname)
        w.raw(",\"mname\":"); w.string(mname)
        w.raw(",\"lname\":"); w.string(lname)
        w.raw(",\"dob\":"); w.string(dob)
        w.raw(",\"sex\":"); w.string(sex)
        w.raw(",\"email\":"); w.string(email)
        w.raw(",\"phone_home\":"); w.string(phoneHome)
        w.raw(",\"phone_cell\":"); w.string(phoneCell)
        w.raw(",\"street\":"); w.string(street)
        w.raw(",\"city\":"); w.string(city)
        w.raw(",\"state\":"); w.string(state)
        w.raw(",\"postal_code\":"); w.string(postalCode)
        w.raw(",\"country_code\":"); w.string(countryCode)
        w.raw(",\"status\":"); w.string(status)
        w.raw(",\"provider_id\":"); w.int(providerId)
        w.raw(",\"date_created\":"); w.string(dateCreated)
        w.raw("}")
    }

    static let columns =
        "pid, pubpid, uuid, title, fname, mname, lname, DOB, sex, email, phone_home, phone_cell, street, city, state, postal_code, country_code, status, providerID, date"

    public init(row: MariaDBRow) throws {
        func text(_ name: String) throws -> String { try row.decode(name, as: String?.self) ?? "" }
        pid = try row.decode("pid", as: Int.self)
        pubpid = try text("pubpid")
        uuid = OpenEMRUUID.string(try row.decode("uuid", as: [UInt8]?.self))
        title = try text("title")
        fname = try text("fname")
        mname = try text("mname")
        lname = try text("lname")
        let birth = try row.decode("DOB", as: MariaDBDateTime?.self)
        dob = birth.flatMap { $0.isZero ? nil : $0.dateString }
        sex = try text("sex")
        email = try text("email")
        phoneHome = try text("phone_home")
        phoneCell = try text("phone_cell")
        street = try text("street")
        city = try text("city")
        state = try text("state")
        postalCode = try text("postal_code")
        countryCode = try text("country_code")
        status = try text("status")
        providerId = try row.decode("providerID", as: Int?.self)
        let created = try row.decode("date", as: MariaDBDateTime?.self)
        dateCreated = created.flatMap { $0.isZero ? nil : $0.description }
    }
}

/// The writable patient fields, from a JSON body. `nil` means "not sent".
public struct PatientInput: Decodable, Sendable {
    var pubpid: String?
    var title: String?
    var fname: String?
    var mname: String?
    var lname: String?
    var dob: String?
    var sex: String?
    var email: String?
    var phoneHome: String?
    var phoneCell: String?
    var street: String?
    var city: String?
    var state: String?
    var postalCode: String?
    var countryCode: String?
    var status: String?
    var providerId: Int?

    /// (API field, `patient_data` column, value) for every sent text field.
    var textFields: [(field: String, column: String, value: String)] {
        let all: [(String, String, String?)] = [
            ("pubpid", "pubpid", pubpid), ("title", "title", title), ("fname", "fname", fname), ("mname", "mname", mname),
            ("lname", "lname", lname), ("sex", "sex", sex), ("email", "email", email), ("phone_home", "phone_home", phoneHome),
            ("phone_cell", "phone_cell", phoneCell), ("street", "street", street), ("city", "city", city), ("state", "state", state),
            ("postal_code", "postal_code", postalCode), ("country_code", "country_code", countryCode), ("status", "status", status),
        ]
        return all.compactMap { field, column, value in value.map { (field, column, $0) } }
    }

    /// The earliest birth date accepted (OpenEMR's date pickers and the Flutter apps never offer an earlier one;
    /// `0326-07-02` is a typo, not a patient).
    public static let earliestBirthDate = "1900-01-01"

    /// The input as it is stored: names (`fname`, `mname`, `lname`) and `sex` without surrounding whitespace, as
    /// OpenEMR's demographics form trims them.
    public func normalized() -> PatientInput {
        var copy = self
        func trim(_ value: String?) -> String? { value?.trimmingCharacters(in: .whitespacesAndNewlines) }
        copy.fname = trim(fname)
        copy.mname = trim(mname)
        copy.lname = trim(lname)
        copy.sex = trim(sex)
        return copy
    }

    /// Field errors; `requireAll` for create (and PUT): fname, lname, sex, dob. The list-backed fields are checked
    /// against OpenEMR's lists by `OpenEMRLists.check`.
    public func validate(requireAll: Bool) -> [String: String] {
        var details: [String: String] = [:]
        if requireAll {
            for (name, value) in [("fname", fname), ("lname", lname), ("sex", sex), ("dob", dob)] where (value ?? "").isEmpty {
                details[name] = "This field is required."
            }
        }
        for (field, _, value) in textFields {
            // varchar(255) counts code points, not grapheme clusters (a longer value would be cut silently).
            if value.unicodeScalars.count > 255 { details[field] = "Ensure this field has no more than 255 characters." }
            if ["fname", "lname", "sex"].contains(field), value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                details[field] = "This field may not be blank."
            }
        }
        if let dob, !dob.isEmpty {
            if let date = MariaDBDateTime(parsing: dob), !date.hasTime, date.isValid, !date.isZero {
                if date.dateString > Self.today() {
                    details["dob"] = "Date of birth cannot be in the future."
                } else if date.dateString < Self.earliestBirthDate {
                    details["dob"] = "Date of birth cannot be before \(Self.earliestBirthDate)."
                }
            } else {
                details["dob"] = "Date has wrong format. Use YYYY-MM-DD."
            }
        }
        if let email, !email.isEmpty, !(email.contains("@") && !email.contains(" ")) {
            details["email"] = "Enter a valid email address."
        }
        if let providerId, providerId < 0 || providerId > Int(Int32.max) { details["provider_id"] = "Must be a user id." }
        return details
    }

    static func today() -> String {
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC") ?? .current, from: Date())
        return MariaDBDateTime.date(year: c.year ?? 1970, month: c.month ?? 1, day: c.day ?? 1).dateString
    }
}

/// Filters for `GET /api/patients/`.
public struct PatientFilter: Sendable {
    var search: String?
    var dob: String?
    var sex: String?
    /// For patient tokens: only this pid.
    public var onlyPID: Int?
    /// The requested order: columns from an allow-list, each ascending or descending (pid is added as the last key).
    var orderFields: [(column: String, descending: Bool)] = []

    static let orderable = ["pid": "pid", "pubpid": "pubpid", "fname": "fname", "lname": "lname", "dob": "DOB", "date_created": "date"]

    public init(query: [String: String]) throws {
        var details: [String: String] = [:]
        search = query["search"].map { $0.trimmingCharacters(in: " ") }.flatMap { $0.isEmpty ? nil : String($0.prefix(200)) }
        // An empty filter is no filter (as django-filter ignores `?dob=`); a non-empty bad value is a 400.
        if let dob = query["dob"], !dob.isEmpty {
            if let date = MariaDBDateTime(parsing: dob), !date.hasTime, date.isValid {
                self.dob = date.dateString
            } else {
                details["dob"] = "Date has wrong format. Use YYYY-MM-DD."
            }
        }
        sex = query["sex"].flatMap { $0.isEmpty ? nil : $0 }
        if let ordering = query["ordering"] {
            for field in ordering.split(separator: ",") {
                let descending = field.hasPrefix("-")
                let name = descending ? String(field.dropFirst()) : String(field)
                guard let column = Self.orderable[name] else {
                    details["ordering"] = "Unknown ordering field \"\(name)\"; use one of \(Self.orderable.keys.sorted().joined(separator: ", "))."
                    break
                }
                orderFields.append((column, descending))
                if column == "pid" { break }  // pid is unique: later keys could never decide anything
            }
        }
        if !details.isEmpty { throw OpenEMRError.validation(details) }
    }

    /// The search words: at most five, split on spaces.
    var words: [Substring] { search.map { Array($0.split(separator: " ").prefix(5)) } ?? [] }

    /// The digits of a word when it has at least three (then it also matches phone numbers containing them).
    static func phoneDigits(_ word: Substring) -> String? {
        let digits = String(word.filter(\.isNumber))
        return digits.count >= 3 ? digits : nil
    }

    /// `ORDER BY` keys: the requested ones, then pid as the tiebreak in the direction of the last requested key (so
    /// that one index serves the whole order, read forwards or backwards). `date` is `date_created` in the search copy.
    func ordering(copy: Bool) -> String {
        var parts: [String] = []
        for (column, descending) in orderFields {
            parts.append((copy && column == "date" ? "date_created" : column) + (descending ? " DESC" : " ASC"))
        }
        if orderFields.last?.column != "pid" { parts.append((orderFields.last?.descending ?? false) ? "pid DESC" : "pid ASC") }
        return parts.joined(separator: ", ")
    }

    /// The search copy's index that yields rows in the requested order (nil when none does: several keys).
    var orderIndex: String? {
        guard let first = orderFields.first else { return "PRIMARY" }
        if first.column == "pid" { return "PRIMARY" }
        guard orderFields.count == 1 else { return nil }
        return first.column == "date" ? "mmt_patient_search_date" : "mmt_patient_search_\(first.column.lowercased())"
    }

    /// For a filter that is one search word and nothing else, with the page in pid order: whether descending (the
    /// word's matches, sorted by pid, are then the answer); nil for any other filter or order.
    var oneWordInPIDOrder: Bool? {
        guard onlyPID == nil, dob == nil, sex == nil, words.count == 1, orderIndex == "PRIMARY" else { return nil }
        return orderFields.first?.descending ?? false
    }

    /// The WHERE clause on `patient_data` (the straightforward query: the definition of what matches). Each search
    /// word must prefix-match a name part, pubpid, a phone number or the email (case- and accent-insensitive as the
    /// column collation compares); LIKE wildcards in the input are escaped.
    var whereClause: MariaDBQuery { predicate(copy: false) }

    /// The same predicate on `patient_data` (`copy: false`) or on the search copy `mmt_patient_search`, which holds the
    /// same values in the same collations and the phones already reduced to their digits.
    func predicate(copy: Bool) -> MariaDBQuery {
        var clause: MariaDBQuery = "1 = 1"
        if let onlyPID { clause.append(" AND pid = \(onlyPID)") }
        if let dob { clause.append(" AND DOB = \(dob)") }
        if let sex { clause.append(" AND sex = \(sex)") }
        for word in words {
            clause.append(" AND (")
            clause.append(Self.wordMatch(word, copy: copy))
            clause.append(")")
        }
        return clause
    }

    static func wordMatch(_ word: Substring, copy: Bool) -> MariaDBQuery {
        let prefix = escapeLike(String(word)) + "%"
        var term: MariaDBQuery =
            "fname LIKE \(prefix) OR lname LIKE \(prefix) OR mname LIKE \(prefix) OR pubpid LIKE \(prefix) OR email LIKE \(prefix)"
        if let digits = phoneDigits(word) {
            // Phone numbers are stored with punctuation ("555-0101"): compare digits only.
            let phone = "%" + digits + "%"
            if copy {
                term.append(" OR phone_home LIKE \(phone) OR phone_cell LIKE \(phone)")
            } else {
                term.append(
                    " OR REGEXP_REPLACE(phone_home, '[^0-9]', '') LIKE \(phone) OR REGEXP_REPLACE(phone_cell, '[^0-9]', '') LIKE \(phone)"
                )
            }
        }
        return term
    }

    static func escapeLike(_ text: String) -> String {
        var result = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { result.append("\\") }
            result.append(character)
        }
        return result
    }
}

/// Reads and writes `patient_data` the way OpenEMR does.
public struct PatientRepository: Sendable {
    let database: MariaDBClient
    let audit: AuditLogger
    let search: PatientSearch
    /// OpenEMR's option lists, for the list-backed fields (`sex`).
    let lists: OpenEMRLists

    public init(database: MariaDBClient, audit: AuditLogger, lists: OpenEMRLists? = nil) {
        self.database = database
        self.audit = audit
        self.search = PatientSearch(database: database, index: PatientSearchIndex(database: database))
        self.lists = lists ?? OpenEMRLists(database: database)
    }

    /// Every field error of an input: its own rules, then (when those pass) the list-backed fields against OpenEMR's
    /// lists. Throws the validation error; returns the normalized input.
    func validated(_ input: PatientInput, requireAll: Bool, logger: Logger) async throws -> PatientInput {
        let input = input.normalized()
        var details = input.validate(requireAll: requireAll)
        details.merge(try await lists.check(input, logger: logger)) { first, _ in first }
        if !details.isEmpty { throw OpenEMRError.validation(details) }
        return input
    }

    /// The select of one or more patients by pid (one row per existing pid).
    static func findQuery(pids: [Int]) -> MariaDBQuery {
        "SELECT \(unescaped: PatientResponse.columns) FROM patient_data WHERE pid IN (\(paddedList: pids))"
    }

    /// Admins and providers create and change patients; staff, patients and guests read.
    static func requireWriter(_ identity: Identity) throws {
        guard identity.canWriteClinical else { throw OpenEMRError.forbidden() }
    }

    /// The one patient select (`findQuery` for several): the patient as the API shows it, nil when there is none;
    /// `lock` reads the latest row and holds it to the end of the caller's transaction.
    static func read(pid: Int, lock: Bool = false, on connection: MariaDBConnection) async throws -> PatientResponse? {
        var query = findQuery(pids: [pid])
        if lock { query.append(" FOR UPDATE") }
        return try await connection.query(query).first.map(PatientResponse.init(row:))
    }

    /// A page of patients (see `PatientSearch`: the count may be a lower bound when the matches are many).
    public func list(_ filter: PatientFilter, page: PageRequest, logger: Logger) async throws -> PatientSearch.Result {
        try await search.list(filter, page: page, logger: logger)
    }

    /// Creates a patient as `PatientService::insert` does: a fresh pid (MAX+1, serialised with a locking read and
    /// retried on a clash with a concurrent writer; above every pid in `mmt_deleted_patients`), pubpid = pid when empty, a registered timestamp-first uuid,
    /// `date`/`regdate` = now, `created_by`/`updated_by` = the acting user; the audit row lands in the same transaction.
    public func create(_ input: PatientInput, by identity: Identity, logger: Logger) async throws -> PatientResponse {
        try Self.requireWriter(identity)
        let input = try await validated(input, requireAll: true, logger: logger)
        for attempt in 1...5 {
            do {
                return try await database.withTransaction(logger: logger) { connection in
                    // The locking MAX read alone does not serialise concurrent creators: each locks the last row, and the
                    // first one's insert after it then deadlocks with the others' waiting locks (20 parallel creates
                    // exhausted the retries). A named lock makes this service's creators (on every replica) take turns
                    // before touching InnoDB locks; it is released once the row is written, and a creator that takes
                    // it before that commit waits on the uncommitted row in the MAX read, then sees it.
                    try await connection.withNamedLock("emr_bridge_new_pid", timeout: 10, busy: { OpenEMRError.busy }) {
                        try await insert(input, by: identity, on: connection)
                    }
                }
            } catch let error as MariaDBError where (error.isDuplicateKey || error.isRetryableTransactionError) && attempt < 5 {
                logger.debug("patient create raced another writer; retrying", metadata: ["attempt": "\(attempt)"])
            }
        }
        throw OpenEMRError.busy
    }

    /// The inserts of `create`, inside its transaction and named lock.
    private func insert(_ input: PatientInput, by identity: Identity, on connection: MariaDBConnection) async throws -> PatientResponse {
        // OpenEMR's MAX(pid) + 1, but never a pid deleted through this service (mmt_deleted_patients): deleting the
        // highest pid would otherwise hand it to the next patient. Both are locking reads (latest committed rows), in
        // this order: a concurrent delete holds the patient row, so the first read waits until it commits, and the
        // second then sees its mmt_deleted_patients row.
        let maxima = try await connection.queries([
            "SELECT COALESCE(MAX(pid), 0) AS pid FROM patient_data FOR UPDATE",
            "SELECT COALESCE(MAX(pid), 0) AS pid FROM mmt_deleted_patients FOR UPDATE",
        ])
        let pid = try maxima.map { try $0.first?.decode("pid", as: Int.self) ?? 0 }.max().map { $0 + 1 } ?? 1
        let uuid = try await OpenEMRUUID.register(table: "patient_data", idColumn: "id", on: connection)
        var columns = ["pid", "uuid", "date", "regdate", "created_by", "updated_by", "DOB", "providerID"]
        var values: MariaDBQuery = "\(pid), \(uuid), NOW(), NOW(), \(identity.userID), \(identity.userID), \(input.dob), \(input.providerId ?? 0)"
        var sentPubpid = false
        for (_, column, value) in input.textFields {
            if column == "pubpid" {
                if value.isEmpty { continue }
                sentPubpid = true
            }
            columns.append(column)
            values.append(", \(value)")
        }
        if !sentPubpid {
            columns.append("pubpid")
            values.append(", \(String(pid))")
        }
        try await connection.query(
            "INSERT INTO patient_data (\(unescaped: columns.joined(separator: ", "))) VALUES (\(fragment: values))"
        )
        try await PatientSearchIndex.refresh(pids: [pid], on: connection)
        try await audit.write(
            [AuditEvent("patient-record-insert", category: "Patient Demographics", by: identity, patientID: pid, comments: "patient_data insert pid \(pid) via emr-bridge")],
            on: connection
        )
        guard let created = try await Self.read(pid: pid, on: connection) else {
            throw OpenEMRError.inconsistent("The patient could not be read back.")
        }
        return created
    }

    /// Updates only the sent fields. With `ifMatch`, the row is locked and its current ETag compared first (412 when
    /// stale), so concurrent updates never overwrite each other unseen.
    /// `replacing`: every required field must be sent (PUT); otherwise only the sent fields change (PATCH).
    public func update(
        pid: Int, _ input: PatientInput, replacing: Bool, ifMatch: String?, by identity: Identity, logger: Logger
    ) async throws -> PatientResponse? {
        if identity.role == .patient && identity.pid != pid { return nil }
        try Self.requireWriter(identity)
        let input = try await validated(input, requireAll: replacing, logger: logger)
        return try await database.withTransaction(logger: logger) { connection -> PatientResponse? in
            guard let current = try await Self.read(pid: pid, lock: true, on: connection) else { return nil }
            if let ifMatch, !Self.matches(ifMatch, etag: current.etag) {
                throw OpenEMRError(
                    .staleVersion, code: "precondition_failed", message: "The patient was changed by someone else; reload and retry.",
                    details: ["etag": current.etag]
                )
            }
            var assignments: MariaDBQuery = "updated_by = \(identity.userID)"
            var changed: [String] = []
            for (field, column, value) in input.textFields {
                assignments.append(", \(unescaped: column) = \(value)")
                changed.append(field)
            }
            if let dob = input.dob {
                assignments.append(", DOB = \(dob.isEmpty ? nil : dob)")
                changed.append("dob")
            }
            if let provider = input.providerId {
                assignments.append(", providerID = \(provider)")
                changed.append("provider_id")
            }
            try await connection.query("UPDATE patient_data SET \(fragment: assignments) WHERE pid = \(pid)")
            try await PatientSearchIndex.refresh(pids: [pid], on: connection)
            try await audit.write(
                [AuditEvent("patient-record-update", category: "Patient Demographics", by: identity, patientID: pid, comments: "patient_data update fields: \(changed.joined(separator: ","))")],
                on: connection
            )
            return try await Self.read(pid: pid, on: connection)
        }
    }

    /// OpenEMR tables holding a patient's clinical, billing or scheduling rows that `delete` does not remove:
    /// (table, patient column, whether that column is text). A patient with a row in any of them (among those
    /// that exist in the database) is not deleted (409 `patient_has_records`): delete it in OpenEMR instead.
    static let recordTables: [(table: String, column: String, text: Bool)] = [
        ("lists", "pid", false), ("prescriptions", "patient_id", false), ("billing", "pid", false), ("documents", "foreign_id", false),
        ("pnotes", "pid", false), ("immunizations", "patient_id", false), ("insurance_data", "pid", false), ("history_data", "pid", false),
        ("form_clinical_notes", "pid", false), ("form_soap", "pid", false), ("openemr_postcalendar_events", "pc_pid", true),
        // The bridge's own: a transcription (and its recording) is part of the patient's record.
        ("mmt_transcriptions", "pid", false),
    ]

    /// Deletes a patient in one transaction: refused (409 `patient_has_records`) while any `recordTables` row
    /// references it; otherwise removes its uuid registrations, encounters and their `forms` rows, portal account
    /// and demographics, revokes its portal API tokens, records the pid in `mmt_deleted_patients` (never handed
    /// out again) and writes the audit row. Returns false when there is no such patient.
    public func delete(pid: Int, by identity: Identity, logger: Logger) async throws -> Bool {
        guard identity.isAdmin else { throw OpenEMRError.forbidden() }
        return try await database.withTransaction(logger: logger) { connection -> Bool in
            guard try await Self.read(pid: pid, lock: true, on: connection) != nil else { return false }
            let blocking = try await Self.tablesWithRecords(of: pid, on: connection)
            if !blocking.isEmpty {
                throw OpenEMRError(
                    .conflict, code: "patient_has_records",
                    message: "The patient has records this service does not delete; delete the patient in OpenEMR instead.",
                    details: ["tables": blocking.joined(separator: ",")]
                )
            }
            try await connection.queries([
                "DELETE r FROM uuid_registry r JOIN form_encounter e ON e.uuid = r.uuid WHERE e.pid = \(pid)",
                "DELETE r FROM uuid_registry r JOIN patient_data p ON p.uuid = r.uuid WHERE p.pid = \(pid)",
                "DELETE FROM forms WHERE pid = \(pid)",
                "DELETE FROM form_encounter WHERE pid = \(pid)",
                "DELETE FROM patient_access_onsite WHERE pid = \(pid)",
                "DELETE FROM patient_data WHERE pid = \(pid)",
                "UPDATE mmt_api_tokens SET revoked_at = UTC_TIMESTAMP() WHERE kind = 'patient' AND pid = \(pid) AND revoked_at IS NULL",
                """
                INSERT INTO mmt_deleted_patients (pid, deleted_at, deleted_by) VALUES (\(pid), UTC_TIMESTAMP(), \(identity.username))
                ON DUPLICATE KEY UPDATE deleted_at = VALUES(deleted_at), deleted_by = VALUES(deleted_by)
                """,
            ])
            try await PatientSearchIndex.refresh(pids: [pid], on: connection)
            try await audit.write(
                [AuditEvent("patient-record-delete", category: "Patient Demographics", by: identity, patientID: pid, comments: "patient deleted via emr-bridge")],
                on: connection
            )
            return true
        }
    }

    /// The `recordTables` (that exist in this database) holding at least one row of the patient.
    static func tablesWithRecords(of pid: Int, on connection: MariaDBConnection) async throws -> [String] {
        let existing = Set(
            try await connection.query(
                """
                SELECT TABLE_NAME AS name FROM information_schema.TABLES
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (\(list: recordTables.map(\.table)))
                """
            ).rows.map { try $0.decode("name", as: String.self).lowercased() }
        )
        let checked = recordTables.filter { existing.contains($0.table) }
        guard !checked.isEmpty else { return [] }
        var query: MariaDBQuery = ""
        for (index, entry) in checked.enumerated() {
            query.append("\(unescaped: index == 0 ? "" : " UNION ALL ")(SELECT \(entry.table) AS name FROM \(unescaped: entry.table) WHERE \(unescaped: entry.column) = ")
            // A text column (openemr_postcalendar_events.pc_pid) is compared as text, so its index is used.
            if entry.text { query.append("\(String(pid)) LIMIT 1)") } else { query.append("\(pid) LIMIT 1)") }
        }
        return try await connection.query(query).rows.map { try $0.decode("name", as: String.self) }
    }

    /// `If-Match` holds one or more ETags, or `*`.
    public static func matches(_ header: String, etag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingCharacters(in: " ")
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}
