public import Foundation
public import MariaDB
import PasswordCrypt

/// The fields of an import row (CSV column names, flat NDJSON keys; FHIR resources are mapped onto them).
public enum ImportField: Int, CaseIterable, Sendable {
    case externalID, pid, pubpid, patientUUID, date, reason, facilityID, facilityName, facilityUUID, providerID, providerUsername, providerUUID
    case pcCatid, classCode, posCode, sensitivity

    /// The column (or key) name.
    public var name: String {
        switch self {
        case .externalID: "external_id"
        case .pid: "pid"
        case .pubpid: "pubpid"
        case .patientUUID: "patient_uuid"
        case .date: "date"
        case .reason: "reason"
        case .facilityID: "facility_id"
        case .facilityName: "facility"
        case .facilityUUID: "facility_uuid"
        case .providerID: "provider_id"
        case .providerUsername: "provider_username"
        case .providerUUID: "provider_uuid"
        case .pcCatid: "pc_catid"
        case .classCode: "class_code"
        case .posCode: "pos_code"
        case .sensitivity: "sensitivity"
        }
    }

    /// The field a column or key names (case-insensitive, surrounding blanks ignored); `facility_name` is an alias
    /// of `facility`.
    public static func named(_ text: String) -> ImportField? {
        let key = text.trimmingCharacters(in: .whitespaces).lowercased()
        if key == "facility_name" { return .facilityName }
        return byName[key]
    }

    static let byName: [String: ImportField] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })
}

/// One row as read from the file: the value of each field (nil when absent or empty) and the line it starts on.
public struct ImportRecord: Sendable {
    public var line: Int
    public var values: [String?]
    /// For FHIR: the path each field came from (`subject`, `period.start`, …), for the report.
    public var sourceNames: [ImportField: String]

    public init(line: Int) {
        self.line = line
        values = Array(repeating: nil, count: ImportField.allCases.count)
        sourceNames = [:]
    }

    public subscript(_ field: ImportField) -> String? {
        get { values[field.rawValue] }
        set { values[field.rawValue] = newValue.flatMap { $0.isEmpty ? nil : $0 } }
    }

    /// The name of `field` in the source file.
    public func sourceName(_ field: ImportField) -> String { sourceNames[field] ?? field.name }

    /// The name in the source of a domain error detail key (`pid`, `provider_username`, `facility_id`, …).
    func sourceName(ofDetail key: String) -> String { ImportField.named(key).map(sourceName) ?? key }

    /// SHA-256 over every field's value (unit-separated), so the same visit from a CSV or a FHIR line hashes alike
    /// and any change of content gives another hash.
    var contentHash: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        for value in values {
            if let value {
                bytes.append(1)
                bytes.append(contentsOf: value.utf8)
            }
            bytes.append(0x1F)
        }
        return Digest.sha256(bytes)
    }
}

/// A row the import did not take, for the report.
public struct ImportRejection: Error, Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable {
        /// The row is invalid (or the line malformed).
        case rejected
        /// Its external_id was imported before with other content: reported, not changed.
        case conflict
    }

    public var line: Int
    public var status: Status
    /// The column or field (nil when the whole line is at fault).
    public var field: String?
    public var reason: String
    public var externalID: String?

    public init(line: Int, status: Status = .rejected, field: String?, reason: String, externalID: String? = nil) {
        self.line = line
        self.status = status
        self.field = field
        self.reason = reason
        self.externalID = externalID
    }

    enum CodingKeys: String, CodingKey {
        case line, status, field, reason, externalID = "external_id"
    }

    /// One JSON line of `--report`.
    public var jsonLine: String {
        var writer = JSONWriter(capacity: 128)
        writer.raw("{\"line\":")
        writer.int(line)
        writer.raw(",\"status\":")
        writer.string(status.rawValue)
        writer.raw(",\"field\":")
        writer.string(field)
        writer.raw(",\"reason\":")
        writer.string(reason)
        writer.raw(",\"external_id\":")
        writer.string(externalID)
        writer.raw("}")
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

/// A row ready for the database: its external id, the encounter it asks for and the hash of its content. A class:
/// a batch's rows pass through several lists (unique, fresh, valid), and a struct of a dozen strings was copied, with a
/// retain and a release per string, at each (a tenth of the import's CPU).
final class ParsedRow: Sendable {
    let record: ImportRecord
    let externalID: String
    let encounter: NewEncounter
    let contentHash: [UInt8]

    init(record: ImportRecord, externalID: String, encounter: NewEncounter, contentHash: [UInt8]) {
        self.record = record
        self.externalID = externalID
        self.encounter = encounter
        self.contentHash = contentHash
    }
}

extension ImportRecord {
    /// Checks the values' formats and builds the encounter (references are resolved later, in bulk). The rules on
    /// values are `NewEncounter.check`, the API's own.
    func parsed(timeZone: TimeZone) -> Result<ParsedRow, ImportRejection> {
        var errors: [(String, String)] = []
        func fail(_ field: ImportField, _ reason: String) { errors.append((sourceName(field), reason)) }
        func int(_ field: ImportField) -> Int? {
            guard let text = self[field] else { return nil }
            guard let value = Int(text), value >= 0 else {
                fail(field, "A valid integer is required.")
                return nil
            }
            return value
        }
        func uuid(_ field: ImportField) -> [UInt8]? {
            guard let text = self[field] else { return nil }
            guard let bytes = ImportValues.uuidBytes(text) else {
                fail(field, "Must be a uuid.")
                return nil
            }
            return bytes
        }
        guard let externalID = self[.externalID] else {
            return .failure(ImportRejection(line: line, field: sourceName(.externalID), reason: "Missing external_id."))
        }
        if externalID.unicodeScalars.count > 255 { fail(.externalID, "Ensure this field has no more than 255 characters.") }

        var patient: PatientReference?
        if let pid = int(.pid) {
            patient = .pid(pid)
        } else if let pubpid = self[.pubpid] {
            patient = .pubpid(pubpid)
        } else if let bytes = uuid(.patientUUID) {
            patient = .uuid(bytes)
        } else if self[.pid] == nil && self[.patientUUID] == nil {
            errors.append((sourceNames[.patientUUID] ?? "pid", "A patient is required (pid, pubpid or patient_uuid)."))
        }
        var date: MariaDBDateTime?
        if let text = self[.date] {
            date = ImportValues.clinicDateTime(text, timeZone: timeZone)
            if date == nil { fail(.date, "Date has wrong format. Use an ISO date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM:SS[±HH:MM])." ) }
        }
        var facility: FacilityReference?
        if let id = int(.facilityID) {
            facility = .id(id)
        } else if let name = self[.facilityName] {
            facility = .name(name)
        } else if let bytes = uuid(.facilityUUID) {
            facility = .uuid(bytes)
        }
        var provider: ProviderReference?
        if let id = int(.providerID) {
            provider = .id(id)
        } else if let name = self[.providerUsername] {
            provider = .username(name)
        } else if let bytes = uuid(.providerUUID) {
            provider = .uuid(bytes)
        }
        let pcCatid = int(.pcCatid)
        let posCode = int(.posCode)
        for (key, reason) in NewEncounter.check(
            reason: self[.reason], classCode: self[.classCode], sensitivity: self[.sensitivity], externalID: nil, posCode: posCode, pcCatid: pcCatid
        ).sorted(by: { $0.key < $1.key }) {
            errors.append((sourceName(ofDetail: key), reason))
        }
        if let (field, reason) = errors.first {
            let more = errors.count > 1 ? " (and \(errors.dropFirst().map(\.0).joined(separator: ", ")))" : ""
            return .failure(ImportRejection(line: line, field: field, reason: reason + more, externalID: externalID))
        }
        guard let patient else { return .failure(ImportRejection(line: line, field: "pid", reason: "A patient is required.", externalID: externalID)) }
        let encounter = NewEncounter(
            patient: patient, date: date, reason: self[.reason] ?? "", facility: facility, provider: provider, pcCatid: pcCatid ?? 5,
            classCode: self[.classCode] ?? "AMB", posCode: posCode, sensitivity: self[.sensitivity] ?? "normal",
            // form_encounter.external_id is varchar(20): longer ids live in the mapping table only.
            externalID: externalID.unicodeScalars.count <= 20 ? externalID : nil
        )
        return .success(ParsedRow(record: self, externalID: externalID, encounter: encounter, contentHash: contentHash))
    }
}

/// Value formats shared by the readers.
public enum ImportValues {
    /// `8-4-4-4-12` hex (or 32 hex digits) → 16 bytes.
    public static func uuidBytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        var high: UInt8?
        for scalar in text.utf8 {
            if scalar == UInt8(ascii: "-") { continue }
            let nibble: UInt8
            switch scalar {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = scalar - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = scalar - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = scalar - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes.count == 16 && high == nil ? bytes : nil
    }

    /// An ISO date or date-time in the clinic's time zone: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.f]]` or with `T`, taken as
    /// clinic time; with `Z` or an offset (`+01:00`, `-0500`), converted to clinic time. Fractions of a second are
    /// dropped (`form_encounter.date` is a DATETIME).
    public static func clinicDateTime(_ text: String, timeZone: TimeZone) -> MariaDBDateTime? {
        var local = Substring(text)
        var offsetSeconds: Int?
        if local.count > 10 {
            if local.hasSuffix("Z") || local.hasSuffix("z") {
                offsetSeconds = 0
                local = local.dropLast()
            } else if let sign = local.dropFirst(11).lastIndex(where: { $0 == "+" || $0 == "-" }) {
                let zone = local[local.index(after: sign)...].filter { $0 != ":" }
                guard zone.count == 4 || zone.count == 2, let value = Int(zone) else { return nil }
                let hours = zone.count == 4 ? value / 100 : value
                let minutes = zone.count == 4 ? value % 100 : 0
                guard hours <= 18, minutes < 60 else { return nil }
                offsetSeconds = (local[sign] == "-" ? -1 : 1) * (hours * 3600 + minutes * 60)
                local = local[..<sign]
            }
        }
        guard var parsed = MariaDBDateTime(parsing: local), parsed.isValid, !parsed.isZero else { return nil }
        parsed.microsecond = 0
        if !parsed.hasTime { return MariaDBDateTime(year: parsed.year, month: parsed.month, day: parsed.day) }
        guard let offsetSeconds else { return parsed }
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(secondsFromGMT: 0) ?? timeZone
        guard
            let instant = utc.date(
                from: DateComponents(year: parsed.year, month: parsed.month, day: parsed.day, hour: parsed.hour, minute: parsed.minute, second: parsed.second)
            )
        else { return nil }
        var clinic = Calendar(identifier: .gregorian)
        clinic.timeZone = timeZone
        let c = clinic.dateComponents([.year, .month, .day, .hour, .minute, .second], from: instant.addingTimeInterval(Double(-offsetSeconds)))
        return MariaDBDateTime(year: c.year ?? 1970, month: c.month ?? 1, day: c.day ?? 1, hour: c.hour ?? 0, minute: c.minute ?? 0, second: c.second ?? 0)
    }

    /// OpenEMR's time zone setting as a `TimeZone` (UTC when empty or unknown, as `AuditLogger.localTimestamp`).
    public static func timeZone(_ identifier: String) -> TimeZone {
        TimeZone(identifier: identifier.isEmpty ? "UTC" : identifier) ?? TimeZone(secondsFromGMT: 0) ?? .current
    }
}
