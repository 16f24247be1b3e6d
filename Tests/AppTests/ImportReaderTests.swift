import Foundation
import MariaDB
import Testing

@testable import OpenEMR

/// Issue 17: the import's readers (RFC 4180 CSV, NDJSON, FHIR R4 Encounter NDJSON) and row checks, without a database.
@Suite struct ImportReaderTests {
    /// Writes `bytes` to a temporary file and returns everything the reader yields.
    static func read(_ bytes: [UInt8], format: ImportFormat) throws -> (results: [ImportReadResult], unknown: [String]) {
        let path = NSTemporaryDirectory() + "/import-test-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var reader = try format.reader(try ByteSource(path: path))
        var results: [ImportReadResult] = []
        while let item = try reader.next() { results.append(item) }
        return (results, reader.unknownColumns)
    }

    static func read(_ text: String, format: ImportFormat = .csv) throws -> (results: [ImportReadResult], unknown: [String]) {
        try read(Array(text.utf8), format: format)
    }

    static func records(_ results: [ImportReadResult]) -> [ImportRecord] {
        results.compactMap { if case .record(let record) = $0 { record } else { nil } }
    }

    static func malformed(_ results: [ImportReadResult]) -> [ImportRejection] {
        results.compactMap { if case .malformed(let rejection) = $0 { rejection } else { nil } }
    }

    // MARK: CSV (RFC 4180)

    @Test func csvQuotesEmbeddedNewlinesCommasAndDoubledQuotes() throws {
        let csv = "external_id,pid,reason\r\nA1,1,\"Cough, fever\"\r\nA2,2,\"He said \"\"ouch\"\"\"\r\nA3,3,\"line one\r\nline two\nline three\"\r\nA4,4,plain\r\n"
        let (results, unknown) = try Self.read(csv)
        let rows = Self.records(results)
        #expect(unknown.isEmpty)
        #expect(rows.map { $0[.externalID] } == ["A1", "A2", "A3", "A4"])
        #expect(rows[0][.reason] == "Cough, fever")
        #expect(rows[1][.reason] == "He said \"ouch\"")
        #expect(rows[2][.reason] == "line one\r\nline two\nline three")
        // Line numbers are physical lines: the row after the three-line field starts on line 7.
        #expect(rows.map(\.line) == [2, 3, 4, 7])
    }

    @Test func csvWithBOMAndLFAnyColumnOrderAndUnknownColumns() throws {
        let csv = [0xEF, 0xBB, 0xBF] + Array("Reason,colour,PID,External_ID,notes\nVisit,blue,5,X-1,n\n\nCheck,red,6,X-2,m".utf8)
        let (results, unknown) = try Self.read(csv, format: .csv)
        let rows = Self.records(results)
        #expect(unknown == ["colour", "notes"])
        #expect(rows.count == 2)
        #expect(rows[0][.externalID] == "X-1" && rows[0][.pid] == "5" && rows[0][.reason] == "Visit")
        #expect(rows[1][.externalID] == "X-2" && rows[1][.pid] == "6" && rows[1].line == 4)  // blank line 3 skipped; no final newline
    }

    @Test func csvMalformedLinesAreReportedAndTheRestStillReads() throws {
        let csv = """
            external_id,pid,reason
            A1,1,ok
            A2,2,bad "quote
            A3,3,"closed"trailing
            A4,4
            A5,5,"fine"
            A6,6,"never closed

            """
        let (results, _) = try Self.read(csv)
        let rows = Self.records(results)
        let bad = Self.malformed(results)
        #expect(rows.map { $0[.externalID] } == ["A1", "A5"])
        #expect(bad.map(\.line) == [3, 4, 5, 7])
        #expect(bad[0].field == "reason" && bad[0].reason.contains("double quote inside an unquoted field"))
        #expect(bad[1].field == "reason" && bad[1].reason.contains("after a closing quote"))
        #expect(bad[2].field == nil && bad[2].reason.contains("2 fields where the header has 3"))
        #expect(bad[3].reason.contains("unterminated quoted field"))
    }

    @Test func csvInvalidUTF8IsAMalformedLine() throws {
        let csv = Array("external_id,pid,reason\nA1,1,".utf8) + [0xC3, 0x28] + Array("\nA2,2,ok\n".utf8)
        let (results, _) = try Self.read(csv, format: .csv)
        #expect(Self.malformed(results).map(\.line) == [2])
        #expect(Self.malformed(results).first?.reason.contains("UTF-8") == true)
        #expect(Self.records(results).map { $0[.externalID] } == ["A2"])
    }

    @Test func csvHeaderProblemsStopTheRun() throws {
        #expect(throws: ImportError.self) { try Self.read("pid,reason\n1,x\n") }  // no external_id column
        #expect(throws: ImportError.self) { try Self.read("external_id,pid,PID\nA,1,1\n") }  // a column twice
        #expect(throws: ImportError.self) { try Self.read("") }
    }

    // MARK: NDJSON

    @Test func ndjsonFlatRowsNumbersAndBadLines() throws {
        let text = """
            {"external_id":"N1","pid":7,"reason":"Flu","extra":true}
            not json
            [1,2]

            {"external_id":"N2","pubpid":"P-9","date":"2025-02-03T10:00:00"}\r
            """
        let (results, unknown) = try Self.read(text, format: .ndjson)
        let rows = Self.records(results)
        #expect(unknown == ["extra"])
        #expect(rows.count == 2)
        #expect(rows[0][.pid] == "7" && rows[0].line == 1)
        #expect(rows[1][.pubpid] == "P-9" && rows[1].line == 5)
        #expect(Self.malformed(results).map(\.line) == [2, 3])
    }

    // MARK: FHIR

    static let fhirEncounter = #"""
        {"resourceType":"Encounter","id":"e1","identifier":[{"system":"urn:oid:1.2.3","value":"F-100"}],"status":"finished",\#
        "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"EMER","display":"emergency"},\#
        "subject":{"reference":"Patient/9cfb9f75-d03a-4cf3-800b-accbb1fc23e0"},\#
        "participant":[{"type":[{"text":"PPRF"}],"individual":{"reference":"Practitioner/9d15db5b-8ad2-434a-a106-c1cafffbb48a"}}],\#
        "period":{"start":"2025-03-01T09:30:00+01:00","end":"2025-03-01T10:00:00+01:00"},\#
        "reasonCode":[{"text":"Chest pain"},{"coding":[{"display":"Dyspnea"}]}],\#
        "serviceProvider":{"reference":"Organization/9cfb9fd2-3b4f-477d-b129-c2706cc6d691"}}
        """#

    @Test func fhirEncounterMapsOntoTheImportFields() throws {
        let text = Self.fhirEncounter + "\n" + #"{"resourceType":"Patient","id":"p1","identifier":[{"value":"X"}]}"# + "\n"
            + #"{"resourceType":"Encounter","identifier":[{"value":"F-101"}],"subject":{"identifier":{"value":"MRN-7"}},"serviceProvider":{"display":"Lakeview Community Clinic"},"participant":[{"individual":{"reference":"Practitioner/4"}}]}"#
        let (results, _) = try Self.read(text, format: .fhir)
        let rows = Self.records(results)
        #expect(rows.count == 2)
        let first = try #require(rows.first)
        #expect(first[.externalID] == "F-100")
        #expect(first[.patientUUID] == "9cfb9f75-d03a-4cf3-800b-accbb1fc23e0")
        #expect(first[.providerUUID] == "9d15db5b-8ad2-434a-a106-c1cafffbb48a")
        #expect(first[.facilityUUID] == "9cfb9fd2-3b4f-477d-b129-c2706cc6d691")
        #expect(first[.classCode] == "EMER")
        #expect(first[.reason] == "Chest pain; Dyspnea")
        #expect(first[.date] == "2025-03-01T09:30:00+01:00")
        #expect(first.sourceName(.date) == "period.start" && first.sourceName(.patientUUID) == "subject")
        // period.start with an offset, in the clinic's time zone.
        guard case .success(let parsed) = first.parsed(timeZone: ImportValues.timeZone("America/Chicago")) else {
            Issue.record("the FHIR row did not parse")
            return
        }
        #expect(parsed.encounter.date?.description == "2025-03-01 02:30:00")
        #expect(parsed.encounter.classCode == "EMER")
        #expect(rows[1][.pubpid] == "MRN-7" && rows[1][.facilityName] == "Lakeview Community Clinic" && rows[1][.providerID] == "4")
        let wrongType = try #require(Self.malformed(results).first)
        #expect(wrongType.line == 2 && wrongType.field == "resourceType" && wrongType.reason.contains("Patient"))
    }

    @Test func fhirAndCSVOfTheSameVisitHashAlike() throws {
        let csv = """
            external_id,patient_uuid,provider_uuid,facility_uuid,class_code,reason,date
            F-100,9cfb9f75-d03a-4cf3-800b-accbb1fc23e0,9d15db5b-8ad2-434a-a106-c1cafffbb48a,9cfb9fd2-3b4f-477d-b129-c2706cc6d691,EMER,Chest pain; Dyspnea,2025-03-01T09:30:00+01:00
            """
        let fromCSV = try #require(Self.records(try Self.read(csv).results).first)
        let fromFHIR = try #require(Self.records(try Self.read(Self.fhirEncounter, format: .fhir).results).first)
        #expect(fromCSV.contentHash == fromFHIR.contentHash)
        var changed = fromCSV
        changed[.reason] = "Other"
        #expect(changed.contentHash != fromCSV.contentHash)
    }

    // MARK: Rows

    @Test func rowChecksNameTheFieldAndReason() throws {
        let utc = ImportValues.timeZone("UTC")
        func rejection(_ csvRow: String, header: String = "external_id,pid,date,pc_catid,pos_code,class_code,sensitivity,provider_id") throws -> ImportRejection? {
            let record = try #require(Self.records(try Self.read(header + "\n" + csvRow + "\n").results).first)
            if case .failure(let rejection) = record.parsed(timeZone: utc) { return rejection }
            return nil
        }
        #expect(try rejection(",1,2025-01-01,,,,,")?.field == "external_id")
        #expect(try rejection("A,1,2025-13-01,,,,,")?.field == "date")
        #expect(try rejection("A,1,yesterday,,,,,")?.field == "date")
        #expect(try rejection("A,x,2025-01-01,,,,,")?.field == "pid")
        #expect(try rejection("A,,2025-01-01,,,,,")?.field == "pid")
        #expect(try rejection("A,1,,0,,,,")?.field == "pc_catid")
        #expect(try rejection("A,1,,,100,,,")?.field == "pos_code")
        #expect(try rejection("A,1,,,,ABCDEFGHIJKL,,")?.field == "class_code")
        #expect(try rejection("A,1,,,,,secret,")?.field == "sensitivity")
        #expect(try rejection("A,1,,,,,,two")?.field == "provider_id")
        #expect(try rejection("A,1,2025-01-01 08:00,9,22,EMER,high,2") == nil)
    }

    @Test func clinicDatesAndOffsets() {
        let chicago = ImportValues.timeZone("America/Chicago")
        #expect(ImportValues.clinicDateTime("2025-01-02", timeZone: chicago)?.description == "2025-01-02 00:00:00")
        #expect(ImportValues.clinicDateTime("2025-01-02 13:14", timeZone: chicago)?.description == "2025-01-02 13:14:00")
        #expect(ImportValues.clinicDateTime("2025-01-02T13:14:15.250", timeZone: chicago)?.description == "2025-01-02 13:14:15")
        #expect(ImportValues.clinicDateTime("2025-01-02T13:14:15Z", timeZone: chicago)?.description == "2025-01-02 07:14:15")
        #expect(ImportValues.clinicDateTime("2025-07-02T13:14:15-0400", timeZone: chicago)?.description == "2025-07-02 12:14:15")
        #expect(ImportValues.clinicDateTime("2025-02-30", timeZone: chicago) == nil)
        #expect(ImportValues.clinicDateTime("02/03/2025", timeZone: chicago) == nil)
    }

    @Test func formatsFromNamesAndContentTypes() {
        #expect(ImportFormat.guess(path: "/x/visits.CSV") == .csv)
        #expect(ImportFormat.guess(path: "visits.ndjson") == .ndjson)
        #expect(ImportFormat.guess(path: "Encounter.ndjson") == .fhir)
        #expect(ImportFormat.guess(path: "export.fhir.ndjson") == .fhir)
        #expect(ImportFormat.guess(path: "visits.txt") == nil)
        #expect(ImportFormat.from(contentType: "text/csv; charset=utf-8") == .csv)
        #expect(ImportFormat.from(contentType: "application/x-ndjson") == .ndjson)
        #expect(ImportFormat.from(contentType: "application/fhir+ndjson") == .fhir)
        #expect(ImportFormat.from(contentType: "application/json") == nil)
    }
}
