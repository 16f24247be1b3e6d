import Foundation

/// A streaming reader of newline-delimited JSON: one object a line (LF or CRLF; blank lines skipped; UTF-8 with or
/// without a BOM).
///
/// - `flat`: the object's keys are the CSV column names (`external_id`, `pid`, `date`, …); strings and numbers are
///   taken as text, unknown keys are ignored and named once in the summary.
/// - `fhir`: each line is a FHIR R4 `Encounter` as a FHIR Bulk Data export writes it (`application/fhir+ndjson`):
///   `identifier[0].value` → external_id, `subject` → the patient (`Patient/<uuid>` or an identifier value as pubpid),
///   `period.start` → date, `reasonCode[].text` (or the first coding's display) → reason, `class.code` → class_code,
///   `serviceProvider` → the facility (`Organization/<uuid>`, a numeric id or its display name), the first
///   `participant[].individual` → the provider (`Practitioner/<uuid>`, a numeric id or an identifier value as
///   username).
public struct NDJSONRecordReader: ImportRecordReader {
    public enum Mode: Sendable { case flat, fhir }

    let source: ByteSource
    let mode: Mode
    private var line = 0
    private var bytes: [UInt8] = []
    private var unknown: [String] = []
    private var unknownSet = Set<String>()
    public var unknownColumns: [String] { unknown }
    static let maximumLineBytes = 1 << 20

    public init(source: ByteSource, mode: Mode) throws {
        self.source = source
        self.mode = mode
        if try source.peek() == 0xEF {
            _ = try source.next()
            guard try source.next() == 0xBB, try source.next() == 0xBF else { throw ImportError.unreadable("the input is not UTF-8 text") }
        }
    }

    public mutating func next() throws -> ImportReadResult? {
        while true {
            bytes.removeAll(keepingCapacity: true)
            guard try source.peek() != nil else { return nil }
            line += 1
            var tooLong = false
            while let byte = try source.next(), byte != UInt8(ascii: "\n") {
                if bytes.count < Self.maximumLineBytes { bytes.append(byte) } else { tooLong = true }
            }
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            if tooLong { return .malformed(ImportRejection(line: line, field: nil, reason: "Malformed JSON line: longer than 1 MiB.")) }
            if bytes.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
            let object: [String: Any]
            do {
                guard let parsed = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
                    return .malformed(ImportRejection(line: line, field: nil, reason: "Malformed JSON line: not a JSON object."))
                }
                object = parsed
            } catch {
                return .malformed(ImportRejection(line: line, field: nil, reason: "Malformed JSON line: not valid JSON."))
            }
            switch mode {
            case .flat: return flat(object)
            case .fhir: return Self.fhir(object, line: line)
            }
        }
    }

    private mutating func flat(_ object: [String: Any]) -> ImportReadResult {
        var record = ImportRecord(line: line)
        for (key, value) in object {
            guard let field = ImportField.named(key) else {
                if unknown.count < 100, unknownSet.insert(key).inserted { unknown.append(key) }
                continue
            }
            guard let text = Self.text(value) else {
                return .malformed(ImportRejection(line: line, field: key, reason: "Must be a string or a number.", externalID: Self.text(object["external_id"] ?? "")))
            }
            record[field] = text.trimmingWhitespace()
        }
        return .record(record)
    }

    /// A JSON scalar as text (nil for objects and arrays; NSNull is absent).
    static func text(_ value: Any) -> String? {
        switch value {
        case is NSNull: return ""
        case let string as String: return string
        case let number as NSNumber:
            if let int = Int(exactly: number.doubleValue), Double(int) == number.doubleValue { return String(int) }
            return number.stringValue
        default: return nil
        }
    }

    /// Maps one FHIR R4 Encounter onto the import fields (`sourceNames` keep the FHIR paths for the report).
    static func fhir(_ object: [String: Any], line: Int) -> ImportReadResult {
        var record = ImportRecord(line: line)
        func reject(_ field: String?, _ reason: String, _ id: String? = nil) -> ImportReadResult {
            .malformed(ImportRejection(line: line, field: field, reason: reason, externalID: id))
        }
        guard let type = object["resourceType"] as? String else { return reject("resourceType", "Not a FHIR resource (no resourceType).") }
        let identifier = (object["identifier"] as? [[String: Any]])?.lazy.compactMap { $0["value"] as? String }.first
        guard type == "Encounter" else { return reject("resourceType", "A FHIR \(type), not an Encounter.", identifier) }
        record.sourceNames = [
            .externalID: "identifier", .pid: "subject", .pubpid: "subject", .patientUUID: "subject", .date: "period.start",
            .reason: "reasonCode", .classCode: "class", .facilityID: "serviceProvider", .facilityName: "serviceProvider",
            .facilityUUID: "serviceProvider", .providerID: "participant", .providerUsername: "participant", .providerUUID: "participant",
        ]
        record[.externalID] = identifier
        // subject: Patient/<uuid>, or an identifier (the clinic's number: pubpid).
        if let subject = object["subject"] as? [String: Any] {
            if let reference = subject["reference"] as? String {
                let id = reference.split(separator: "/").last.map(String.init) ?? reference
                guard reference.hasPrefix("Patient/") || !reference.contains("/") else {
                    return reject("subject", "The subject is not a Patient.", identifier)
                }
                record[.patientUUID] = id
            } else if let value = (subject["identifier"] as? [String: Any])?["value"] as? String {
                record[.pubpid] = value
            }
        }
        if let period = object["period"] as? [String: Any], let start = period["start"] as? String { record[.date] = start }
        if let reasons = object["reasonCode"] as? [[String: Any]] {
            let texts = reasons.compactMap { concept -> String? in
                if let text = concept["text"] as? String, !text.isEmpty { return text }
                return ((concept["coding"] as? [[String: Any]])?.first?["display"] as? String)
            }
            record[.reason] = texts.joined(separator: "; ")
        }
        // R4: class is a Coding (R5 made it a list of concepts; accept both).
        if let coding = object["class"] as? [String: Any] {
            record[.classCode] = coding["code"] as? String
        } else if let concepts = object["class"] as? [[String: Any]], let coding = (concepts.first?["coding"] as? [[String: Any]])?.first {
            record[.classCode] = coding["code"] as? String
        }
        if let provider = object["serviceProvider"] as? [String: Any] {
            if let reference = provider["reference"] as? String, let id = reference.split(separator: "/").last.map(String.init) {
                if Int(id) != nil { record[.facilityID] = id } else { record[.facilityUUID] = id }
            } else if let display = provider["display"] as? String {
                record[.facilityName] = display
            }
        }
        if let participants = object["participant"] as? [[String: Any]],
            let individual = participants.lazy.compactMap({ $0["individual"] as? [String: Any] }).first
        {
            if let reference = individual["reference"] as? String, let id = reference.split(separator: "/").last.map(String.init) {
                if Int(id) != nil { record[.providerID] = id } else { record[.providerUUID] = id }
            } else if let value = (individual["identifier"] as? [String: Any])?["value"] as? String {
                record[.providerUsername] = value
            }
        }
        return .record(record)
    }
}
