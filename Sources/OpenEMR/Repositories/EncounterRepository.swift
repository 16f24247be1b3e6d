public import Foundation
public import Logging
public import MariaDB

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

/// A new encounter, validated: the one shape both `POST /api/encounters/` and the batch import use.
public struct NewEncounter: Sendable, Equatable {
    public var pid: Int
    /// `YYYY-MM-DD HH:MM:SS`.
    public var date: MariaDBDateTime
    public var reason: String
    public var facilityID: Int?
    public var providerID: Int?
    public var pcCatid: Int
    public var classCode: String
    public var posCode: Int?
    public var sensitivity: String
    public var externalID: String?
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

    /// Validates and applies OpenEMR's defaults (date: now in OpenEMR's time zone `gbl_time_zone`, pc_catid 5,
    /// class_code AMB, sensitivity normal).
    public func validated(now: Date = Date(), timeZone: String = "") throws -> NewEncounter {
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
        if let reason, reason.utf8.count > 65535 { details["reason"] = "Too long." }
        // form_encounter.class_code is varchar(10), external_id varchar(20), pos_code tinyint: longer or larger values
        // would be cut or clamped silently under OpenEMR's empty sql_mode.
        if let classCode, classCode.isEmpty || classCode.unicodeScalars.count > 10 { details["class_code"] = "Must be an _ActEncounterCode option id." }
        if let sensitivity, !["normal", "high", ""].contains(sensitivity) { details["sensitivity"] = "Must be \"normal\" or \"high\"." }
        if let externalId, externalId.unicodeScalars.count > 20 { details["external_id"] = "Ensure this field has no more than 20 characters." }
        if let posCode, !(0...99).contains(posCode) { details["pos_code"] = "Must be a two-digit place of service code." }
        if let pcCatid, pcCatid <= 0 || pcCatid > Int(Int32.max) { details["pc_catid"] = "Must be a calendar category id." }
        if !details.isEmpty { throw OpenEMRError.validation(details) }
        let current = when ?? {
            MariaDBDateTime(parsing: AuditLogger.localTimestamp(now, timeZone: timeZone)) ?? MariaDBDateTime(year: 1970, month: 1, day: 1)
        }()
        return NewEncounter(
            pid: pid ?? 0, date: current, reason: reason ?? "", facilityID: facilityId, providerID: providerId, pcCatid: pcCatid ?? 5,
            classCode: classCode ?? "AMB", posCode: posCode, sensitivity: sensitivity ?? "normal", externalID: externalId
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

    /// Creates one encounter in its own transaction.
    public func create(_ new: NewEncounter, by identity: Identity, logger: Logger) async throws -> EncounterResponse {
        try await database.withTransaction(logger: logger) { connection in
            try await Self.insert(new, by: identity, on: connection, audit: audit)
        }
    }

    /// The shared insert path (API and batch import): runs on the caller's connection, inside its transaction.
    /// Throws `OpenEMRError.validation` when the patient, facility or provider does not exist.
    static func insert(_ new: NewEncounter, by identity: Identity, on connection: MariaDBConnection, audit: AuditLogger) async throws
        -> EncounterResponse
    {
        // References, with OpenEMR's defaults: the user's facility, else the primary service facility; the acting
        // provider when none is given.
        let facilityID = new.facilityID ?? identity.facilityID.flatMap { $0 > 0 ? $0 : nil }
        let providerID = new.providerID ?? (identity.role == .provider || identity.role == .admin ? identity.userID : nil)
        let facilityCondition: MariaDBQuery
        if let facilityID { facilityCondition = "f.id = \(facilityID)" } else { facilityCondition = "f.service_location = 1" }
        guard
            let refs = try await connection.query(
                """
                SELECT (SELECT COUNT(*) FROM patient_data WHERE pid = \(new.pid)) AS patient,
                       f.id AS facility_id, f.name AS facility_name, f.pos_code,
                       (SELECT COUNT(*) FROM users WHERE id = \(providerID) AND active = 1 AND authorized = 1) AS provider
                FROM facility f
                WHERE \(fragment: facilityCondition)
                ORDER BY f.primary_business_entity DESC, f.id LIMIT 1
                """
            ).first
        else {
            throw OpenEMRError.validation(["facility_id": new.facilityID == nil ? "No service facility is configured." : "Unknown facility."])
        }
        var details: [String: String] = [:]
        if try refs.decode("patient", as: Int.self) == 0 { details["pid"] = "Unknown patient." }
        if providerID == nil {
            details["provider_id"] = "This field is required."
        } else if try refs.decode("provider", as: Int.self) == 0 {
            details["provider_id"] = "Unknown or inactive provider."
        }
        if !details.isEmpty { throw OpenEMRError.validation(details) }
        let facility = try refs.decode("facility_id", as: Int.self)
        let facilityName = try refs.decode("facility_name", as: String?.self) ?? ""
        let facilityPOS = try refs.decode("pos_code", as: Int?.self)
        let posCode = new.posCode ?? facilityPOS

        // 1. The encounter number from `sequences`, on this connection (ADOdb GenID).
        try await connection.query("UPDATE sequences SET id = LAST_INSERT_ID(id + 1)")
        guard let number = try await connection.query("SELECT LAST_INSERT_ID() AS id").first?.decode("id", as: Int.self) else {
            throw OpenEMRError.inconsistent("sequences did not return a number")
        }
        // 2. The uuid, registered.
        let uuid = try await OpenEMRUUID.register(table: "form_encounter", idColumn: "id", on: connection)
        // 3. form_encounter.
        let inserted = try await connection.query(
            """
            INSERT INTO form_encounter (uuid, date, reason, facility, facility_id, pid, encounter, pc_catid, provider_id, billing_facility,
                                        pos_code, class_code, sensitivity, external_id)
            VALUES (\(uuid), \(new.date), \(new.reason), \(facilityName), \(facility), \(new.pid), \(number), \(new.pcCatid), \(providerID),
                    \(facility), \(posCode), \(new.classCode), \(new.sensitivity), \(new.externalID))
            """
        )
        // 4. forms row `newpatient` pointing at form_encounter.id.
        let userName = identity.role == .provider || identity.role == .admin || identity.role == .staff ? identity.username : "emr-bridge"
        try await connection.query(
            """
            INSERT INTO forms (date, encounter, form_name, form_id, pid, user, groupname, authorized, deleted, formdir, therapy_group_id)
            VALUES (\(new.date), \(number), 'New Patient Encounter', \(Int64(inserted.lastInsertID)), \(new.pid), \(userName),
                    \(identity.groupName.isEmpty ? "Default" : identity.groupName), 1, 0, 'newpatient', NULL)
            """
        )
        // 5. Audit, in the same transaction.
        try await audit.write(
            [AuditEvent("patient-record-insert", category: "Encounter Form", by: identity, patientID: new.pid, comments: "form_encounter insert encounter \(number) via emr-bridge")],
            on: connection
        )
        guard let row = try await connection.query(
            "SELECT \(unescaped: EncounterResponse.columns) FROM form_encounter WHERE id = \(Int64(inserted.lastInsertID))"
        ).first else { throw OpenEMRError.inconsistent("encounter not readable after insert") }
        return try EncounterResponse(row: row)
    }
}
