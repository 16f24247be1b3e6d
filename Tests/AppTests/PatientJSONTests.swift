import Foundation
import MariaDB
import Testing

@testable import App
@testable import OpenEMR

/// The patient's one JSON writer says exactly what the row holds, in valid JSON (escapes included).
@Suite("Patient JSON")
struct PatientJSONTests {
    static func patient(_ values: [MariaDBValue]) throws -> PatientResponse {
        let names = PatientResponse.columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return try PatientResponse(row: MariaDBRow(columns: MariaDBColumns(names: names), values: values))
    }

    static let cases: [[MariaDBValue]] = [
        [
            .int(7), .text("7"), .bytes(Array(0..<16)), .text("Ms."), .text("Zoë"), .text("B"), .text("O'Brien \"Q\" \\ \n\t\u{1}"),
            .dateTime(.date(year: 1961, month: 2, day: 17)), .text("Female"), .text("zoe@example.org"), .text("555-1"), .text("555-2"),
            .text("9553 Maple 😀"), .text("Lincoln"), .text("IL"), .text("62612"), .text("USA"), .text("widowed"), .int(4),
            .dateTime(MariaDBDateTime(year: 2024, month: 9, day: 16, hour: 22, minute: 48, second: 50)),
        ],
        [
            .int(8), .text("\u{2028}a\u{2029}\u{7F}\u{1F}\r"), .null, .text("\u{E2}"), .text("€‚"), .text(""), .text("\\\""),
            .null, .text("x\u{0}y"), .null, .null, .null, .null, .null, .null, .null, .null, .null, .int(-3), .null,
        ],
        [
            .int(1), .null, .null, .null, .null, .null, .null, .dateTime(.date(year: 0, month: 0, day: 0)), .null, .null, .null, .null,
            .null, .null, .null, .null, .null, .null, .null, .null,
        ],
    ]

    /// What the JSON must hold, built by Foundation from the decoded fields (NSNull for nil).
    static func expected(_ p: PatientResponse) -> NSDictionary {
        func value(_ v: Any?) -> Any { v ?? NSNull() }
        return [
            "pid": p.pid, "pubpid": p.pubpid, "uuid": value(p.uuid), "title": p.title, "fname": p.fname, "mname": p.mname, "lname": p.lname,
            "dob": value(p.dob), "sex": p.sex, "email": p.email, "phone_home": p.phoneHome, "phone_cell": p.phoneCell, "street": p.street,
            "city": p.city, "state": p.state, "postal_code": p.postalCode, "country_code": p.countryCode, "status": p.status,
            "provider_id": value(p.providerId), "date_created": value(p.dateCreated),
        ]
    }

    @Test(arguments: cases)
    func writtenJSONSaysWhatTheRowHolds(_ values: [MariaDBValue]) throws {
        let patient = try Self.patient(values)
        let written = try JSONSerialization.jsonObject(with: Data(patient.json)) as? NSDictionary
        #expect(written == Self.expected(patient))
        #expect(written?.count == 20)
    }

    @Test func stringsAreEscapedForJSONAndJavaScript() {
        #expect(JSONText.quoted("a\u{2028}b\u{2029}") == #""a\u2028b\u2029""#)
        #expect(JSONText.quoted("\u{1}\u{1F}\n\"\\é😀") == #""\u0001\u001f\n\"\\é😀""#)
        #expect(JSONText.quoted("") == #""""#)
        #expect(JSONText.quoted("\u{E2}\u{80}") == "\"\u{E2}\u{80}\"")
    }
}
