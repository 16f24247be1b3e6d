import Foundation
public import Logging
public import MariaDB
import PasswordCrypt

/// An encounter, with OpenEMR's API field names.
public struct EncounterResponse: Encodable, Sendable, Equatable {
    public var encounter: Int
    public var uuid: String?
    public var pid: Int
    public var date: String?
    public var reason: String
    public var facilityId: Int?
    public var facilityName: String
    public var providerId: Int?
    public var pcCatid: Int?
    public var classCode: String
    public var posCode: Int?
    public var sensitivity: String
    public var externalId: String?
    public var lastUpdate: String?

    static let columns =
        "encounter, uuid, pid, date, reason, facility_id, facility, provider_id, pc_catid, class_code, pos_code, sensitivity, external_id, last_update"

    init(row: MariaDBRow) throws {
        func text(_ name: String) throws -> String { try row.decode(name, as: String?.self) ?? "" }
        encounter = try row.decode("encounter", as: Int.self)
        uuid = OpenEMRUUID.string(try row.decode("uuid", as: [UInt8]?.self))
        pid = try row.decode("pid", as: Int?.self) ?? 0
        date = try row.decode("date", as: MariaDBDateTime?.self).flatMap { $0.isZero ? nil : $0.description }
        reason = try text("reason")
        facilityId = try row.decode("facility_id", as: Int?.self)
        facilityName = try text("facility")
        providerId = try row.decode("provider_id", as: Int?.self)
        pcCatid = try row.decode("pc_catid", as: Int?.self)
        classCode = try text("class_code")
        posCode = try row.decode("pos_code", as: Int?.self)
        sensitivity = try text("sensitivity")
        externalId = try row.decode("external_id", as: String?.self)
        lastUpdate = try row.decode("last_update", as: MariaDBDateTime?.self).map(\.description)
    }

    public enum CodingKeys: String, CodingKey {
        case encounter, uuid, pid, date, reason, facilityId = "facility_id", facilityName = "facility_name", providerId = "provider_id"
        case pcCatid = "pc_catid", classCode = "class_code", posCode = "pos_code", sensitivity, externalId = "external_id"
        case lastUpdate = "last_update"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(encounter, forKey: .encounter)
        try c.encode(uuid, forKey: .uuid)
        try c.encode(pid, forKey: .pid)
        try c.encode(date, forKey: .date)
        try c.encode(reason, forKey: .reason)
        try c.encode(facilityId, forKey: .facilityId)
        try c.encode(facilityName, forKey: .facilityName)
        try c.encode(providerId, forKey: .providerId)
        try c.encode(pcCatid, forKey: .pcCatid)
        try c.encode(classCode, forKey: .classCode)
        try c.encode(posCode, forKey: .posCode)
        try c.encode(sensitivity, forKey: .sensitivity)
        try c.encode(externalId, forKey: .externalId)
        try c.encode(lastUpdate, forKey: .lastUpdate)
    }
}

/// How an import row or a request names the patient of an encounter.
public enum PatientReference: Sendable, Hashable {
    case pid(Int)
    /// `patient_data.pubpid` (the clinic's own patient number; not unique in OpenEMR's schema).
    case pubpid(String)
    /// `patient_data.uuid` (FHIR `Patient.id`).
    case uuid([UInt8])

    /// The field that names it (for error details): `pid`, `pubpid`, `patient_uuid`.
    public var field: String {
        switch self {
        case .pid: "pid"
        case .pubpid: "pubpid"
        case .uuid: "patient_uuid"
        }
    }
}

/// How an encounter names its facility.
public enum FacilityReference: Sendable, Hashable {
    case id(Int)
    /// `facility.name`.
    case name(String)
    /// `facility.uuid` (FHIR `Organization.id`).
    case uuid([UInt8])

    public var field: String {
        switch self {
        case .id: "facility_id"
        case .name: "facility"
        case .uuid: "facility_uuid"
        }
    }
}

/// How an encounter names its rendering provider.
public enum ProviderReference: Sendable, Hashable {
    case id(Int)
    /// `users.username`.
    case username(String)
    /// `users.uuid` (FHIR `Practitioner.id`).
    case uuid([UInt8])

    public var field: String {
        switch self {
        case .id: "provider_id"
        case .username: "provider_username"
        case .uuid: "provider_uuid"
        }
    }
}

/// A new encounter, validated: the one shape both `POST /api/encounters/` and the batch import use. References are
/// resolved, and OpenEMR's defaults for what is absent applied, by `EncounterRepository` on the database.
public struct NewEncounter: Sendable, Equatable {
    public var patient: PatientReference
    /// `YYYY-MM-DD HH:MM:SS` in the clinic's time zone; nil: now in OpenEMR's time zone (`gbl_time_zone`).
    public var date: MariaDBDateTime?
    public var reason: String
    /// nil: the acting user's facility, else the primary service facility.
    public var facility: FacilityReference?
    /// nil: the acting user when a provider or an admin.
    public var provider: ProviderReference?
    public var pcCatid: Int
    public var classCode: String
    /// nil: the facility's POS code.
    public var posCode: Int?
    public var sensitivity: String
    /// `form_encounter.external_id` (at most 20 characters).
    public var externalID: String?

    public init(
        patient: PatientReference, date: MariaDBDateTime? = nil, reason: String = "", facility: FacilityReference? = nil,
        provider: ProviderReference? = nil, pcCatid: Int = 5, classCode: String = "AMB", posCode: Int? = nil, sensitivity: String = "normal",
        externalID: String? = nil
    ) {
        self.patient = patient
        self.date = date
        self.reason = reason
        self.facility = facility
        self.provider = provider
        self.pcCatid = pcCatid
        self.classCode = classCode
        self.posCode = posCode
        self.sensitivity = sensitivity
        self.externalID = externalID
    }

    public var pid: Int? { if case .pid(let pid) = patient { pid } else { nil } }
    public var facilityID: Int? { if case .id(let id) = facility { id } else { nil } }
    public var providerID: Int? { if case .id(let id) = provider { id } else { nil } }

    /// OpenEMR's limits on the values (field → message): `form_encounter.class_code` is varchar(10), `external_id`
    /// varchar(20), `pos_code` tinyint; longer or larger values would be cut or clamped silently under OpenEMR's empty
    /// sql_mode. The one list of rules, for the API and the import.
    public static func check(
        reason: String?, classCode: String?, sensitivity: String?, externalID: String?, posCode: Int?, pcCatid: Int?
    ) -> [String: String] {
        var details: [String: String] = [:]
        // 16,383 characters (code points, as the OpenAPI document's maxLength counts) always fit the TEXT column's 65,535 bytes.
        if let reason, reason.unicodeScalars.count > 16383 { details["reason"] = "Ensure this field has no more than 16383 characters." }
        if let classCode, classCode.isEmpty || classCode.unicodeScalars.count > 10 { details["class_code"] = "Must be an _ActEncounterCode option id." }
        if let sensitivity, !["normal", "high", ""].contains(sensitivity) { details["sensitivity"] = "Must be \"normal\" or \"high\"." }
        if let externalID, externalID.unicodeScalars.count > 20 { details["external_id"] = "Ensure this field has no more than 20 characters." }
        if let posCode, !(0...99).contains(posCode) { details["pos_code"] = "Must be a two-digit place of service code." }
        if let pcCatid, pcCatid <= 0 || pcCatid > Int(Int32.max) { details["pc_catid"] = "Must be a calendar category id." }
        return details
    }
}

/// The JSON body of `POST /api/encounters/`.
public struct EncounterInput: Decodable, Sendable {
    var pid: Int?
    var date: String?
    var reason: String?
    var facilityId: Int?
    var providerId: Int?
    var pcCatid: Int?
    var classCode: String?
    var posCode: Int?
    var sensitivity: String?
    var externalId: String?

    /// Validates and applies OpenEMR's defaults for what needs no database (pc_catid 5, class_code AMB, sensitivity
    /// normal); a missing date stays nil and becomes "now in OpenEMR's time zone" when the encounter is written.
    public func validated() throws -> NewEncounter {
        var details: [String: String] = [:]
        if pid == nil { details["pid"] = "This field is required." }
        var when: MariaDBDateTime?
        if let date, !date.isEmpty {
            if let parsed = MariaDBDateTime(parsing: date), parsed.isValid, !parsed.isZero {
                when = parsed.hasTime ? parsed : MariaDBDateTime(year: parsed.year, month: parsed.month, day: parsed.day)
            } else {
                details["date"] = "Datetime has wrong format. Use YYYY-MM-DD or YYYY-MM-DD HH:MM:SS."
            }
        }
        details.merge(
            NewEncounter.check(reason: reason, classCode: classCode, sensitivity: sensitivity, externalID: externalId, posCode: posCode, pcCatid: pcCatid)
        ) { first, _ in first }
        if !details.isEmpty { throw OpenEMRError.validation(details) }
        return NewEncounter(
            patient: .pid(pid ?? 0), date: when, reason: reason ?? "", facility: facilityId.map { .id($0) }, provider: providerId.map { .id($0) },
            pcCatid: pcCatid ?? 5, classCode: classCode ?? "AMB", posCode: posCode, sensitivity: sensitivity ?? "normal", externalID: externalId
        )
    }
}

/// Filters for `GET /api/encounters/`.
public struct EncounterFilter: Sendable {
    var pid: Int?
    var provider: Int?
    var dateFrom: String?
    var dateTo: String?

    public init(query: [String: String], onlyPID: Int?) throws {
        var details: [String: String] = [:]
        func int(_ key: String) -> Int? {
            guard let text = query[key], !text.isEmpty else { return nil }
            guard let value = Int(text), value >= 0 else {
                details[key] = "A valid integer is required."
                return nil
            }
            return value
        }
        func date(_ key: String) -> String? {
            guard let text = query[key], !text.isEmpty else { return nil }
            guard let value = MariaDBDateTime(parsing: text), value.isValid else {
                details[key] = "Date has wrong format. Use YYYY-MM-DD."
                return nil
            }
            return value.hasTime ? value.description : value.dateString
        }
        pid = int("patient")
        provider = int("provider")
        dateFrom = date("date_from")
        dateTo = date("date_to")
        if !details.isEmpty { throw OpenEMRError.validation(details) }
        if let onlyPID {
            // A patient asking for someone else's encounters sees none (no existence leak).
            if let pid, pid != onlyPID { self.pid = -1 } else { self.pid = onlyPID }
        }
    }

    var whereClause: MariaDBQuery {
        var clause: MariaDBQuery = "1 = 1"
        if let pid { clause.append(" AND pid = \(pid)") }
        if let provider { clause.append(" AND provider_id = \(provider)") }
        if let dateFrom { clause.append(" AND date >= \(dateFrom)") }
        if let dateTo {
            // An inclusive end date covers the whole day.
            if dateTo.count == 10 { clause.append(" AND date < \(dateTo) + INTERVAL 1 DAY") } else { clause.append(" AND date <= \(dateTo)") }
        }
        return clause
    }
}

/// Reads encounters and creates them exactly as OpenEMR's `EncounterService::insertEncounter` + `addForm` do
/// (REFERENCE.md §4): number from `sequences` on the same connection, a registered uuid, the `form_encounter` row
/// with the facility's name and POS code, and the `newpatient` `forms` row that makes it show in OpenEMR.
public struct EncounterRepository: Sendable {
    let database: MariaDBClient
    let audit: AuditLogger

    public init(database: MariaDBClient, audit: AuditLogger) {
        self.database = database
        self.audit = audit
    }

    public func find(encounter: Int, logger: Logger) async throws -> EncounterResponse? {
        try await database.query(
            "SELECT \(unescaped: EncounterResponse.columns) FROM form_encounter WHERE encounter = \(encounter) ORDER BY id LIMIT 1", logger: logger
        ).first.map(EncounterResponse.init(row:))
    }

    public func list(_ filter: EncounterFilter, page: PageRequest, logger: Logger) async throws -> (count: Int, page: PageRequest, items: [EncounterResponse]) {
        try await PagedQuery.run(
            database: database, logger: logger, columns: EncounterResponse.columns, from: "form_encounter WHERE \(fragment: filter.whereClause)",
            orderBy: "date DESC, encounter DESC", page: page, map: EncounterResponse.init(row:)
        )
    }

    /// Creates one encounter in its own transaction: the batch path with N = 1.
    public func create(_ new: NewEncounter, by identity: Identity, logger: Logger) async throws -> EncounterResponse {
        try await database.withTransaction(logger: logger) { connection in
            try await Self.insert(new, by: identity, on: connection, audit: audit)
        }
    }

    /// One encounter on the caller's connection, inside its transaction: `resolve` then `write` with one row.
    /// Throws `OpenEMRError.validation` when the patient, facility or provider does not exist.
    static func insert(_ new: NewEncounter, by identity: Identity, on connection: MariaDBConnection, audit: AuditLogger) async throws
        -> EncounterResponse
    {
        let resolved: ResolvedEncounter
        switch try await resolve([new], by: identity, on: connection, globals: audit.globals)[0] {
        case .success(let row): resolved = row
        case .failure(let error): throw error
        }
        let written = try await write([resolved], by: identity, on: connection, audit: audit)
        guard let row = try await connection.query(
            "SELECT \(unescaped: EncounterResponse.columns) FROM form_encounter WHERE uuid = \(written[0].uuid)"
        ).first else { throw OpenEMRError.inconsistent("encounter not readable after insert") }
        return try EncounterResponse(row: row)
    }

    // MARK: The batch path (API and import)

    /// An encounter whose references exist and whose defaults are applied: what `write` stores.
    public struct ResolvedEncounter: Sendable, Equatable {
        public var pid: Int
        public var date: MariaDBDateTime
        public var reason: String
        public var facilityID: Int
        public var facilityName: String
        public var providerID: Int
        public var pcCatid: Int
        public var classCode: String
        public var posCode: Int?
        public var sensitivity: String
        public var externalID: String?
    }

    /// What `write` made of one row.
    public struct WrittenEncounter: Sendable, Equatable {
        /// The encounter number (from `sequences`).
        public var encounter: Int
        public var uuid: [UInt8]
        public var pid: Int
    }

    /// Resolves the references of a batch in a few bulk reads (patients by pid, pubpid or uuid; facilities by id, name
    /// or uuid; active, authorized providers by id, username or uuid), and applies OpenEMR's defaults for what is
    /// absent: the acting user's facility, else the primary service facility; the facility's POS code; the acting
    /// user as provider when a provider or an admin; now in OpenEMR's time zone. One result per row, in order; a
    /// failure is `OpenEMRError.validation` keyed by the reference's field (`pid`, `pubpid`, `patient_uuid`,
    /// `facility_id`, `facility`, `provider_id`, `provider_username`, …).
    public static func resolve(
        _ batch: [NewEncounter], by identity: Identity, on connection: MariaDBConnection, globals: OpenEMRGlobalsCache
    ) async throws -> [Result<ResolvedEncounter, OpenEMRError>] {
        guard !batch.isEmpty else { return [] }
        // Patients.
        var pids = Set<Int>(), pubpids = Set<String>(), patientUUIDs = Set<[UInt8]>()
        var facilityIDs = Set<Int>(), facilityNames = Set<String>(), facilityUUIDs = Set<[UInt8]>()
        var providerIDs = Set<Int>(), usernames = Set<String>(), providerUUIDs = Set<[UInt8]>()
        let defaultFacilityID = identity.facilityID.flatMap { $0 > 0 ? $0 : nil }
        let defaultProviderID = identity.role == .provider || identity.role == .admin ? identity.userID : nil
        var needsDefaultFacility = false
        for new in batch {
            switch new.patient {
            case .pid(let pid): pids.insert(pid)
            case .pubpid(let pubpid): pubpids.insert(pubpid)
            case .uuid(let uuid): patientUUIDs.insert(uuid)
            }
            switch new.facility {
            case .id(let id): facilityIDs.insert(id)
            case .name(let name): facilityNames.insert(name)
            case .uuid(let uuid): facilityUUIDs.insert(uuid)
            case nil:
                if let defaultFacilityID { facilityIDs.insert(defaultFacilityID) } else { needsDefaultFacility = true }
            }
            switch new.provider {
            case .id(let id): providerIDs.insert(id)
            case .username(let name): usernames.insert(name)
            case .uuid(let uuid): providerUUIDs.insert(uuid)
            case nil: if let defaultProviderID { providerIDs.insert(defaultProviderID) }
            }
        }
        var queries: [MariaDBQuery] = []
        var slots: [String] = []
        func add(_ slot: String, _ query: MariaDBQuery) {
            slots.append(slot)
            queries.append(query)
        }
        if !pids.isEmpty { add("pid", "SELECT pid FROM patient_data WHERE pid IN (\(paddedList: pids.sorted()))") }
        // pubpid has no index in OpenEMR's schema: one scan per batch.
        if !pubpids.isEmpty { add("pubpid", "SELECT pid, pubpid FROM patient_data WHERE pubpid IN (\(paddedList: pubpids.sorted()))") }
        if !patientUUIDs.isEmpty {
            add("patient_uuid", "SELECT pid, uuid FROM patient_data WHERE uuid IN (\(paddedList: patientUUIDs.sorted { $0.lexicographicallyPrecedes($1) }))")
        }
        let facilityColumns = "SELECT id, name, pos_code, uuid FROM facility"
        if !facilityIDs.isEmpty { add("facility_id", "\(unescaped: facilityColumns) WHERE id IN (\(paddedList: facilityIDs.sorted()))") }
        if !facilityNames.isEmpty { add("facility", "\(unescaped: facilityColumns) WHERE name IN (\(paddedList: facilityNames.sorted()))") }
        if !facilityUUIDs.isEmpty {
            add("facility_uuid", "\(unescaped: facilityColumns) WHERE uuid IN (\(paddedList: facilityUUIDs.sorted { $0.lexicographicallyPrecedes($1) }))")
        }
        if needsDefaultFacility {
            add("default_facility", "\(unescaped: facilityColumns) WHERE service_location = 1 ORDER BY primary_business_entity DESC, id LIMIT 1")
        }
        let providerColumns = "SELECT id, username, uuid FROM users WHERE active = 1 AND authorized = 1 AND"
        if !providerIDs.isEmpty { add("provider_id", "\(unescaped: providerColumns) id IN (\(paddedList: providerIDs.sorted()))") }
        if !usernames.isEmpty { add("provider_username", "\(unescaped: providerColumns) BINARY username IN (\(paddedList: usernames.sorted()))") }
        if !providerUUIDs.isEmpty {
            add("provider_uuid", "\(unescaped: providerColumns) uuid IN (\(paddedList: providerUUIDs.sorted { $0.lexicographicallyPrecedes($1) }))")
        }
        let results = try await connection.queries(queries)
        var rowsBySlot: [String: [MariaDBRow]] = [:]
        for (slot, result) in zip(slots, results) { rowsBySlot[slot] = result.rows }

        // Lookup tables. A pubpid or facility name held by two rows is ambiguous (-1).
        var knownPIDs = Set<Int>(), pidByPubpid: [String: Int] = [:], pidByUUID: [[UInt8]: Int] = [:]
        for row in rowsBySlot["pid"] ?? [] { knownPIDs.insert(try row.decode("pid", as: Int.self)) }
        for row in rowsBySlot["pubpid"] ?? [] {
            let key = try row.decode("pubpid", as: String?.self) ?? ""
            let pid = try row.decode("pid", as: Int.self)
            pidByPubpid[key] = pidByPubpid[key] == nil ? pid : -1
        }
        for row in rowsBySlot["patient_uuid"] ?? [] {
            if let uuid = try row.decode("uuid", as: [UInt8]?.self) { pidByUUID[uuid] = try row.decode("pid", as: Int.self) }
        }
        struct Facility { var id: Int, name: String, pos: Int? }
        var facilityByID: [Int: Facility] = [:], facilityByName: [String: Facility?] = [:], facilityByUUID: [[UInt8]: Facility] = [:]
        func facility(_ row: MariaDBRow) throws -> Facility {
            Facility(id: try row.decode("id", as: Int.self), name: try row.decode("name", as: String?.self) ?? "", pos: try row.decode("pos_code", as: Int?.self))
        }
        for row in rowsBySlot["facility_id"] ?? [] { let f = try facility(row); facilityByID[f.id] = f }
        for row in rowsBySlot["facility"] ?? [] {
            let f = try facility(row)
            facilityByName[f.name] = facilityByName[f.name] == nil ? f : .some(nil)
        }
        for row in rowsBySlot["facility_uuid"] ?? [] {
            if let uuid = try row.decode("uuid", as: [UInt8]?.self) { facilityByUUID[uuid] = try facility(row) }
        }
        let defaultFacility = try rowsBySlot["default_facility"]?.first.map(facility)
        var providerByID = Set<Int>(), providerByName: [String: Int] = [:], providerByUUID: [[UInt8]: Int] = [:]
        for row in rowsBySlot["provider_id"] ?? [] { providerByID.insert(try row.decode("id", as: Int.self)) }
        for row in rowsBySlot["provider_username"] ?? [] {
            providerByName[try row.decode("username", as: String?.self) ?? ""] = try row.decode("id", as: Int.self)
        }
        for row in rowsBySlot["provider_uuid"] ?? [] {
            if let uuid = try row.decode("uuid", as: [UInt8]?.self) { providerByUUID[uuid] = try row.decode("id", as: Int.self) }
        }

        var now: MariaDBDateTime?
        var results2: [Result<ResolvedEncounter, OpenEMRError>] = []
        results2.reserveCapacity(batch.count)
        for new in batch {
            var details: [String: String] = [:]
            var pid: Int?
            switch new.patient {
            case .pid(let value): pid = knownPIDs.contains(value) ? value : nil
            case .pubpid(let value):
                pid = pidByPubpid[value]
                if pid == -1 {
                    pid = nil
                    details["pubpid"] = "Ambiguous: several patients have this pubpid."
                }
            case .uuid(let value): pid = pidByUUID[value]
            }
            if pid == nil && details.isEmpty { details[new.patient.field] = "Unknown patient." }
            var place: Facility?
            switch new.facility {
            case .id(let id): place = facilityByID[id]
            case .name(let name):
                if case .some(.none) = facilityByName[name] { details["facility"] = "Ambiguous: several facilities have this name." }
                place = facilityByName[name] ?? nil
            case .uuid(let uuid): place = facilityByUUID[uuid]
            case nil: place = defaultFacilityID.flatMap { facilityByID[$0] } ?? (defaultFacilityID == nil ? defaultFacility : nil)
            }
            if place == nil && details["facility"] == nil {
                details[new.facility?.field ?? "facility_id"] =
                    new.facility == nil && defaultFacilityID == nil ? "No service facility is configured." : "Unknown facility."
            }
            var providerID: Int?
            switch new.provider {
            case .id(let id): providerID = providerByID.contains(id) ? id : nil
            case .username(let name): providerID = providerByName[name]
            case .uuid(let uuid): providerID = providerByUUID[uuid]
            case nil: providerID = defaultProviderID.flatMap { providerByID.contains($0) ? $0 : nil }
            }
            if providerID == nil {
                details[new.provider?.field ?? "provider_id"] =
                    new.provider == nil && defaultProviderID == nil ? "This field is required." : "Unknown or inactive provider."
            }
            guard details.isEmpty, let pid, let place, let providerID else {
                results2.append(.failure(.validation(details)))
                continue
            }
            if new.date == nil && now == nil {
                let timeZone = try await globals.current(on: connection).timeZone
                now = MariaDBDateTime(parsing: AuditLogger.localTimestamp(Date(), timeZone: timeZone)) ?? MariaDBDateTime(year: 1970, month: 1, day: 1)
            }
            results2.append(
                .success(
                    ResolvedEncounter(
                        pid: pid, date: new.date ?? now!, reason: new.reason, facilityID: place.id, facilityName: place.name, providerID: providerID,
                        pcCatid: new.pcCatid, classCode: new.classCode, posCode: new.posCode ?? place.pos, sensitivity: new.sensitivity,
                        externalID: new.externalID
                    )
                )
            )
        }
        return results2
    }

    /// Multi-row statements go in chunks of these sizes, so their texts stay few and stay prepared.
    static let chunkSizes = [500, 100, 20, 5, 1]

    static func numberBlock(_ count: Int) -> [MariaDBQuery] {
        ["UPDATE sequences SET id = LAST_INSERT_ID(id + \(count))", "SELECT LAST_INSERT_ID() AS id"]
    }

    /// Reserves a block of `count` encounter numbers in its own short statement, outside any transaction, as OpenEMR's
    /// `GenID` takes one: the `sequences` row is locked only for that statement, so parallel batches do not queue on
    /// it until their commits. A batch that fails after this leaves a gap in the numbers, as a failed OpenEMR form does.
    public static func reserveNumbers(_ count: Int, on connection: MariaDBConnection) async throws -> ClosedRange<Int> {
        let results = try await connection.queries(numberBlock(count))
        guard let last = try results.last?.first?.decode("id", as: Int.self), last >= count else {
            throw OpenEMRError.inconsistent("sequences did not return a number")
        }
        return (last - count + 1)...last
    }

    static func chunks(_ count: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        while start < count {
            let size = chunkSizes.first { $0 <= count - start } ?? 1
            ranges.append(start..<(start + size))
            start += size
        }
        return ranges
    }

    /// The `form_encounter.id`s of the rows with the encounter numbers `numbers`, in number order, read back (`firstID`,
    /// the statement's `LAST_INSERT_ID()`, is its first row's id and ids only grow, so `id >= firstID` with the block's
    /// numbers finds exactly them). A plain read, not
    /// `INSERT … SELECT`: that would take shared locks on every later row of form_encounter, other writers' uncommitted
    /// rows included, and make parallel batches wait for each other.
    static func readIDs(count: Int, numbers: ClosedRange<Int>, firstID: Int, on connection: MariaDBConnection) async throws -> [Int] {
        let rows = try await connection.query(
            "SELECT id, encounter FROM form_encounter WHERE id >= \(firstID) AND encounter BETWEEN \(numbers.lowerBound) AND \(numbers.upperBound) ORDER BY id"
        ).rows
        guard rows.count == count else { throw OpenEMRError.inconsistent("form_encounter rows of the batch not found after insert") }
        var ids = [Int](repeating: 0, count: count)
        for row in rows { ids[try row.decode("encounter", as: Int.self) - numbers.lowerBound] = try row.decode("id", as: Int.self) }
        return ids
    }

    /// Writes resolved encounters exactly as OpenEMR's `EncounterService::insertEncounter` + `addForm` do
    /// (REFERENCE.md §4), batched, on the caller's connection and inside its transaction:
    ///
    /// 1. one uuid per encounter, registered in `uuid_registry` (multi-row; its primary key and
    ///    `form_encounter.uuid`'s unique key turn a collision into a duplicate-key error, which rolls back the batch);
    /// 2. a block of N encounter numbers from `sequences` (`UPDATE sequences SET id = LAST_INSERT_ID(id + N)` on this
    ///    connection: OpenEMR's own `GenID` takes the next number after the block, or waits for this transaction), or
    ///    the block `numbers` reserved beforehand (`reserveNumbers`);
    /// 3. the `form_encounter` rows (multi-row) and 4. the `newpatient` `forms` rows pointing at `form_encounter.id`
    ///    (`readIDs`);
    /// 5. one audit entry for the batch (`patient-record-insert`, `Encounter Form`).
    ///
    /// `extra` runs after step 4 in the same transaction with the numbers (the import's mapping rows).
    @discardableResult
    public static func write(
        _ rows: [ResolvedEncounter], by identity: Identity, on connection: MariaDBConnection, audit: AuditLogger, note: String = "",
        numbers reserved: ClosedRange<Int>? = nil, extra: (([WrittenEncounter]) -> [MariaDBQuery])? = nil
    ) async throws -> [WrittenEncounter] {
        guard !rows.isEmpty else { return [] }
        let count = rows.count
        let now = Date()
        var random = Digest.randomBytes(count: 16 * count)
        var uuids: [[UInt8]] = []
        uuids.reserveCapacity(count)
        for index in 0..<count { uuids.append(OpenEMRUUID.make(now: now, random: random[(16 * index)..<(16 * index + 16)])) }
        random.removeAll()

        // 1. uuid_registry (one bulk statement: one row's text, all the rows' values).
        var statements: [MariaDBQuery] = [
            .bulk(
                "INSERT INTO uuid_registry (uuid, table_name, table_id, table_vertical, couchdb, document_drive, mapped, created) VALUES ",
                rows: uuids.map { "(\($0), 'form_encounter', 'id', '', '', 0, 0, NOW())" }
            )
        ]
        // 2. The block of numbers: first = LAST_INSERT_ID() - N + 1.
        let first: Int, last: Int
        if let reserved {
            guard reserved.count == count else { throw OpenEMRError.inconsistent("reserved \(reserved.count) encounter numbers for \(count) rows") }
            try await connection.queries(statements)
            (first, last) = (reserved.lowerBound, reserved.upperBound)
        } else {
            statements += Self.numberBlock(count)
            let results = try await connection.queries(statements)
            guard let end = try results.last?.first?.decode("id", as: Int.self), end >= count else {
                throw OpenEMRError.inconsistent("sequences did not return a number")
            }
            (first, last) = (end - count + 1, end)
        }
        let written = (0..<count).map { WrittenEncounter(encounter: first + $0, uuid: uuids[$0], pid: rows[$0].pid) }

        // 3. form_encounter.
        statements = [
            .bulk(
                """
                INSERT INTO form_encounter (uuid, date, reason, facility, facility_id, pid, encounter, pc_catid, provider_id, billing_facility,
                                            pos_code, class_code, sensitivity, external_id) VALUES
                """ + " ",
                rows: rows.indices.map { index in
                    let row = rows[index]
                    return """
                        (\(uuids[index]), \(row.date), \(row.reason), \(row.facilityName), \(row.facilityID), \(row.pid), \(first + index), \
                        \(row.pcCatid), \(row.providerID), \(row.facilityID), \(row.posCode), \(row.classCode), \(row.sensitivity), \(row.externalID))
                        """
                }
            )
        ]
        let inserted = try await connection.queries(statements)
        // 4. forms rows `newpatient`, form_id = form_encounter.id. A bulk statement's rows are not one block of ids
        //    (each row takes its id as it is written, between other sessions' rows), so a batch reads them back.
        let userName = identity.role == .provider || identity.role == .admin || identity.role == .staff ? identity.username : "emr-bridge"
        let groupName = identity.groupName.isEmpty ? "Default" : identity.groupName
        let firstID = Int(inserted[0].lastInsertID)
        let formID = count == 1 ? [firstID] : try await Self.readIDs(count: count, numbers: first...last, firstID: firstID, on: connection)
        statements = [
            .bulk(
                "INSERT INTO forms (date, encounter, form_name, form_id, pid, user, groupname, authorized, deleted, formdir, therapy_group_id) VALUES ",
                rows: rows.indices.map { index in
                    "(\(rows[index].date), \(first + index), 'New Patient Encounter', \(formID[index]), \(rows[index].pid), \(userName), \(groupName), 1, 0, 'newpatient', NULL)"
                }
            )
        ]
        statements += extra?(written) ?? []
        try await connection.queries(statements)
        // 5. One audit entry, in the same transaction.
        let pids = Set(rows.map(\.pid))
        let comments =
            count == 1
            ? "form_encounter insert encounter \(first) via emr-bridge\(note)"
            : "form_encounter insert encounters \(first)-\(last) (\(count) rows) via emr-bridge\(note)"
        try await audit.write(
            [AuditEvent("patient-record-insert", category: "Encounter Form", by: identity, patientID: pids.count == 1 ? pids.first : nil, comments: comments)],
            on: connection
        )
        return written
    }
}
