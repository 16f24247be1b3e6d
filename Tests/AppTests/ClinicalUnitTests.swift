import Foundation
import HTTPTypes
import Hummingbird
import MariaDB
import NIOCore
import Testing

@testable import App
@testable import OpenEMR

/// The clinical API's pure parts: paging, links, filters, input validation, uuids, ETags. No database.
@Suite("Clinical: units")
struct ClinicalUnitTests {
    // MARK: PageRequest

    @Test func pageRequestDefaults() throws {
        let request = PageRequest(query: [:])
        #expect(request == PageRequest(page: 1, size: 50))
        #expect(request.offset == 0)
        #expect(PageRequest.defaultSize == 50)
        #expect(PageRequest.maximumSize == 200)
    }

    @Test func pageRequestReadsAndClamps() throws {
        #expect(PageRequest(query: ["page": "3", "page_size": "20"]) == PageRequest(page: 3, size: 20))
        #expect(PageRequest(query: ["page": "3", "page_size": "20"]).offset == 40)
        #expect(PageRequest(query: ["page_size": "200"]).size == 200)
        #expect(PageRequest(query: ["page_size": "201"]).size == 200)
        #expect(PageRequest(query: ["page_size": "100000"]).size == 200)
        #expect(PageRequest(query: ["page_size": "1"]).size == 1)
        #expect(PageRequest(query: ["page": "1000000"]).page == 1_000_000)
    }

    /// DRF leniency (issue 19): an empty or invalid `page` is the first page, an empty or invalid `page_size` the
    /// default size; a page number far past the end stays a page number (404 once the count is known).
    @Test(arguments: [
        (["page": "0"], PageRequest(page: 1, size: 50)), (["page": "-1"], PageRequest(page: 1, size: 50)),
        (["page": "abc"], PageRequest(page: 1, size: 50)), (["page": ""], PageRequest(page: 1, size: 50)),
        (["page": "1.5"], PageRequest(page: 1, size: 50)), (["page": "99999999999999999999999"], PageRequest(page: 1, size: 50)),
        (["page": "-9223372036854775808"], PageRequest(page: 1, size: 50)), (["page": " 2 "], PageRequest(page: 2, size: 50)),
        (["page": "9223372036854775807"], PageRequest(page: 1_000_000, size: 50)),
        (["page_size": "0"], PageRequest(page: 1, size: 50)), (["page_size": "-1"], PageRequest(page: 1, size: 50)),
        (["page_size": "x"], PageRequest(page: 1, size: 50)), (["page_size": ""], PageRequest(page: 1, size: 50)),
        (["page": "0", "page_size": "0"], PageRequest(page: 1, size: 50)), (["page": "", "page_size": "7"], PageRequest(page: 1, size: 7)),
    ])
    func invalidPageValuesFallBackAsDRFDoes(query: [String: String], expected: PageRequest) throws {
        #expect(PageRequest(query: query) == expected, "\(query)")
        #expect(throws: OpenEMRError.self) { try PageRequest(query: ["page": "1000001"]).resolved(count: 10) }
    }

    @Test func pageLastResolvesToTheLastPage() throws {
        let last = PageRequest(query: ["page": "last", "page_size": "10"])
        #expect(try last.resolved(count: 0) == PageRequest(page: 1, size: 10))
        #expect(try last.resolved(count: 10) == PageRequest(page: 1, size: 10))
        #expect(try last.resolved(count: 11) == PageRequest(page: 2, size: 10))
        #expect(try last.resolved(count: 200) == PageRequest(page: 20, size: 10))
        #expect(try last.resolved(count: 201).offset == 200)
    }

    @Test func pagesPastTheEndAre404() throws {
        #expect(try PageRequest(page: 1, size: 50).resolved(count: 0) == PageRequest(page: 1, size: 50))
        #expect(try PageRequest(page: 4, size: 50).resolved(count: 200) == PageRequest(page: 4, size: 50))
        for (page, count) in [(2, 0), (5, 200), (2, 50), (3, 51)] {
            do {
                _ = try PageRequest(page: page, size: 50).resolved(count: count)
                Issue.record("page \(page) of \(count) accepted")
            } catch let domain as OpenEMRError {
                let error = AppError(domain)  // the status the API answers
                #expect(error.status == .notFound)
                #expect(error.code == "not_found")
            }
        }
    }

    // MARK: Page links

    static let base = "https://emr.example.org"

    func page(count: Int, page: Int, size: Int, query: [(String, String)] = []) -> Page<Int> {
        Page(count: count, page: PageRequest(page: page, size: size), results: [], baseURL: Self.base, path: "/api/patients/", query: query)
    }

    @Test func emptyResultHasNoLinks() {
        let empty = page(count: 0, page: 1, size: 50)
        #expect(empty.count == 0)
        #expect(empty.next == nil)
        #expect(empty.previous == nil)
    }

    @Test func exactMultiplesEndOnTheLastFullPage() {
        #expect(page(count: 50, page: 1, size: 50).next == nil)
        #expect(page(count: 100, page: 1, size: 50).next == Self.base + "/api/patients/?page=2")
        #expect(page(count: 100, page: 2, size: 50).next == nil)
        #expect(page(count: 101, page: 2, size: 50).next == Self.base + "/api/patients/?page=3")
        // The previous link of page 2 is the bare URL: page 1 is the default.
        #expect(page(count: 100, page: 2, size: 50).previous == Self.base + "/api/patients/")
    }

    @Test func middleAndLastPageLinksKeepOtherItemsAndReplacePage() {
        let query = [("search", "smith"), ("page", "3"), ("page_size", "20")]
        let middle = page(count: 95, page: 3, size: 20, query: query)
        #expect(middle.next == Self.base + "/api/patients/?search=smith&page_size=20&page=4")
        #expect(middle.previous == Self.base + "/api/patients/?search=smith&page_size=20&page=2")
        let last = page(count: 95, page: 5, size: 20, query: [("page", "last"), ("page_size", "20")])
        #expect(last.next == nil)
        #expect(last.previous == Self.base + "/api/patients/?page_size=20&page=4")
        let second = page(count: 95, page: 2, size: 20, query: [("page", "2"), ("page_size", "20")])
        #expect(second.previous == Self.base + "/api/patients/?page_size=20")
    }

    @Test func percentEncodingKeepsOnlyUnreservedCharacters() {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        for text in ["", "abc", "José O'Brien & co=1/2+%", "a b", "ü€😀", "~-._", "x\u{0}y", "\u{7F}", "Ωmega 9"] {
            #expect(PageLinks.percentEncode(text) == text.addingPercentEncoding(withAllowedCharacters: allowed), "\(text)")
        }
    }

    @Test func linksArePercentEncoded() {
        let query = [("search", "José O'Brien & co=1/2+%"), ("page_size", "10")]
        let first = page(count: 30, page: 1, size: 10, query: query)
        #expect(first.next == Self.base + "/api/patients/?search=Jos%C3%A9%20O%27Brien%20%26%20co%3D1%2F2%2B%25&page_size=10&page=2")
        // Round trip: the link's query decodes back to the same items.
        let link: String? = first.next
        let raw = link.flatMap { $0.split(separator: "?", maxSplits: 1).last.map(String.init) }
        let items = RequestInfo.queryItems(rawQuery: raw)
        #expect(items.map(\.0) == ["search", "page_size", "page"])
        #expect(items.map(\.1) == ["José O'Brien & co=1/2+%", "10", "2"])
    }

    @Test func pageJSONAlwaysHasNextAndPrevious() throws {
        let data = try JSONCoding.encoder.encode(page(count: 0, page: 1, size: 50))
        let json = try JSONValue.parse(data)
        #expect(json == .object(["count": .number(0), "next": .null, "previous": .null, "results": .array([])]))
    }

    // MARK: Query decoding

    @Test func queryItemsDecodeFormEncoding() throws {
        let items = RequestInfo.queryItems(rawQuery: "search=jos%C3%A9+nguy%E1%BB%85n&page%5Fsize=5&flag&plus=a%2Bb&empty=")
        #expect(items.map(\.0) == ["search", "page_size", "flag", "plus", "empty"])
        #expect(items.map(\.1) == ["josé nguyễn", "5", "", "a+b", ""])
        #expect(RequestInfo.queryItems(rawQuery: nil).isEmpty)
        #expect(RequestInfo.queryItems(rawQuery: "").isEmpty)
        // A bad escape is kept as sent rather than failing.
        #expect(RequestInfo.queryItems(rawQuery: "search=%ZZ").first?.1 == "%ZZ")
        #expect(RequestInfo.queryItems(rawQuery: "search=a+%2").first?.1 == "a %2")
        #expect(RequestInfo.queryItems(rawQuery: "search=%").first?.1 == "%")
        #expect(RequestInfo.queryItems(rawQuery: "search=%C3+b").first?.1 == "%C3 b")  // an escaped byte that is not UTF-8
        #expect(RequestInfo.queryItems(rawQuery: "search=%e2%82%ac%2b%25%20x").first?.1 == "€+% x")
        // The same as Foundation's decoding on every kind of input.
        for raw in ["a+b", "%41%42", "%4", "%%41", "jos%C3%A9", "%FF%FE", "%c3%a9+%2B", "+++", "%2", "100%", "a%2Fb%3F", "%E2%82", "%E2%82%AC"] {
            let spaced = raw.replacingOccurrences(of: "+", with: " ")
            #expect(RequestInfo.formDecoded(Substring(raw)) == (spaced.removingPercentEncoding ?? spaced), "\(raw)")
        }

        let request = Request(
            head: HTTPRequest(method: .get, scheme: "http", authority: "h", path: "/api/patients/?search=a+b&search=c"),
            body: RequestBody(buffer: ByteBuffer())
        )
        #expect(RequestInfo.queryDictionary(request) == ["search": "c"])
        #expect(RequestInfo.queryItems(request).map(\.1) == ["a b", "c"])
    }

    // MARK: PatientFilter

    @Test func orderingIsAnAllowList() throws {
        // pid breaks ties in the direction of the last key, so one index of the search copy serves the whole order.
        #expect(try PatientFilter(query: [:]).ordering(copy: false) == "pid ASC")
        #expect(try PatientFilter(query: ["ordering": "-lname"]).ordering(copy: false) == "lname DESC, pid DESC")
        #expect(try PatientFilter(query: ["ordering": "lname,fname"]).ordering(copy: false) == "lname ASC, fname ASC, pid ASC")
        #expect(try PatientFilter(query: ["ordering": "lname,-fname"]).ordering(copy: false) == "lname ASC, fname DESC, pid DESC")
        #expect(try PatientFilter(query: ["ordering": "dob"]).ordering(copy: false) == "DOB ASC, pid ASC")
        #expect(try PatientFilter(query: ["ordering": "-date_created"]).ordering(copy: false) == "date DESC, pid DESC")
        #expect(try PatientFilter(query: ["ordering": "-date_created"]).ordering(copy: true) == "date_created DESC, pid DESC")
        #expect(try PatientFilter(query: ["ordering": "-pid"]).ordering(copy: false) == "pid DESC")
        #expect(try PatientFilter(query: ["ordering": "-pid,lname"]).ordering(copy: false) == "pid DESC")
        #expect(try PatientFilter(query: ["ordering": "-dob"]).orderIndex == "mmt_patient_search_dob")
        #expect(try PatientFilter(query: ["ordering": "lname,fname"]).orderIndex == nil)
        #expect(try PatientFilter(query: [:]).orderIndex == "PRIMARY")
        for bad in [";drop", "lname;drop table patient_data", "DOB", "password", "-", "--lname", "lname desc", "lname,nope", "1"] {
            do {
                _ = try PatientFilter(query: ["ordering": bad])
                Issue.record("ordering \(bad) accepted")
            } catch let domain as OpenEMRError {
                let error = AppError(domain)  // the status the API answers
                #expect(error.status == .badRequest)
                #expect(error.details.keys.sorted() == ["ordering"], "\(bad)")
            }
        }
    }

    @Test func filterValidatesDOB() throws {
        #expect(try PatientFilter(query: ["dob": "1942-07-31"]).dob == "1942-07-31")
        for bad in ["1942-7-31", "1942-02-30", "yesterday", "1942-07-31 10:00:00"] {
            #expect(throws: OpenEMRError.self, "\(bad)") { try PatientFilter(query: ["dob": bad]) }
        }
        #expect(try PatientFilter(query: ["dob": ""]).dob == nil, "an empty filter is no filter (DRF)")
        #expect(try PatientFilter(query: ["sex": ""]).sex == nil)
        #expect(try PatientFilter(query: ["search": "   "]).search == nil)
        #expect(try PatientFilter(query: ["search": String(repeating: "a", count: 500)]).search?.count == 200)
    }

    @Test func likeWildcardsAreEscaped() throws {
        #expect(PatientFilter.escapeLike("100%") == "100\\%")
        #expect(PatientFilter.escapeLike("a_b") == "a\\_b")
        #expect(PatientFilter.escapeLike("c:\\x") == "c:\\\\x")
        #expect(PatientFilter.escapeLike("%_\\") == "\\%\\_\\\\")
        #expect(PatientFilter.escapeLike("José") == "José")

        let clause = try PatientFilter(query: ["search": "%_\\"]).whereClause
        #expect(!clause.sql.contains("%_"), "user text must be bound, never spliced: \(clause.sql)")
        let patterns = clause.binds.compactMap { bind -> String? in if case .text(let text) = bind { return text } else { return nil } }
        #expect(!patterns.isEmpty)
        #expect(patterns.allSatisfy { $0 == "\\%\\_\\\\%" }, "\(patterns)")
    }

    @Test func searchWordsAndPhoneDigits() throws {
        let clause = try PatientFilter(query: ["search": "555-478 jo"]).whereClause
        let texts = clause.binds.compactMap { bind -> String? in if case .text(let text) = bind { return text } else { return nil } }
        #expect(texts.contains("555-478%"))
        #expect(texts.contains("%555478%"))
        #expect(texts.contains("jo%"))
        #expect(!texts.contains("%%"), "two-letter words do not search phones")
        var patient = try PatientFilter(query: ["dob": "2000-01-01", "sex": "Male"])
        patient.onlyPID = 1
        #expect(patient.whereClause.binds == [.int(1), .text("2000-01-01"), .text("Male")])
    }

    // MARK: PatientInput

    func patientInput(_ json: String) throws -> PatientInput {
        try JSONCoding.decoder.decode(PatientInput.self, from: Data(json.utf8))
    }

    @Test func patientInputRequiresTheFourFieldsOnCreate() throws {
        let empty = try patientInput("{}")
        #expect(empty.validate(requireAll: true).keys.sorted() == ["dob", "fname", "lname", "sex"])
        #expect(empty.validate(requireAll: false).isEmpty)
        let full = try patientInput(#"{"fname":"Ann","lname":"Lee","sex":"Female","dob":"1980-02-29","phone_home":"555","provider_id":2}"#)
        #expect(full.validate(requireAll: true).isEmpty)
        #expect(full.phoneHome == "555")
        #expect(full.providerId == 2)
        #expect(full.textFields.map(\.column) == ["fname", "lname", "sex", "phone_home"])
    }

    @Test func patientInputFieldErrors() throws {
        let blank = try patientInput(#"{"fname":"  ","lname":"","sex":" "}"#)
        let details = blank.validate(requireAll: false)
        #expect(details["fname"] == "This field may not be blank.")
        #expect(details["lname"] == "This field may not be blank.")
        #expect(details["sex"] == "This field may not be blank.")

        for (dob, message) in [
            ("1980-02-30", "Date has wrong format. Use YYYY-MM-DD."), ("31/12/1980", "Date has wrong format. Use YYYY-MM-DD."),
            ("1980-01-01 10:00:00", "Date has wrong format. Use YYYY-MM-DD."), ("0000-00-00", "Date has wrong format. Use YYYY-MM-DD."),
            ("2999-01-01", "Date of birth cannot be in the future."),
        ] {
            let input = try patientInput(#"{"dob":"\#(dob)"}"#)
            #expect(input.validate(requireAll: false)["dob"] == message, "\(dob)")
        }
        #expect(try patientInput(#"{"dob":"\#(PatientInput.today())"}"#).validate(requireAll: false).isEmpty)
        #expect(try patientInput(#"{"email":"no-at-sign"}"#).validate(requireAll: false)["email"] != nil)
        #expect(try patientInput(#"{"email":"a b@c"}"#).validate(requireAll: false)["email"] != nil)
        #expect(try patientInput(#"{"email":""}"#).validate(requireAll: false).isEmpty)
        #expect(try patientInput(#"{"provider_id":-1}"#).validate(requireAll: false)["provider_id"] != nil)
        #expect(try patientInput(#"{"provider_id":9999999999}"#).validate(requireAll: false)["provider_id"] != nil)
    }

    @Test func lengthLimitCountsWhatTheColumnCounts() throws {
        #expect(try patientInput(#"{"city":"\#(String(repeating: "a", count: 255))"}"#).validate(requireAll: false).isEmpty)
        #expect(try patientInput(#"{"city":"\#(String(repeating: "a", count: 256))"}"#).validate(requireAll: false)["city"] != nil)
        // 200 grapheme clusters of two code points each are 400 characters for MariaDB's varchar(255).
        let combining = String(repeating: "e\u{301}", count: 200)
        #expect(combining.count == 200)
        var input = PatientInput()
        input.city = combining
        #expect(input.validate(requireAll: false)["city"] == "Ensure this field has no more than 255 characters.")
    }

    // MARK: EncounterInput

    func encounterInput(_ json: String) throws -> EncounterInput {
        try JSONCoding.decoder.decode(EncounterInput.self, from: Data(json.utf8))
    }

    @Test func encounterDefaults() throws {
        let new = try encounterInput(#"{"pid":6}"#).validated()
        #expect(new.pid == 6)
        #expect(new.pcCatid == 5)
        #expect(new.classCode == "AMB")
        #expect(new.sensitivity == "normal")
        #expect(new.reason == "")
        #expect(new.facilityID == nil)
        #expect(new.providerID == nil)
        #expect(new.posCode == nil)
        #expect(new.externalID == nil)
        #expect(new.date == nil)  // "now in OpenEMR's time zone", applied by EncounterRepository when it writes

        let dated = try encounterInput(#"{"pid":6,"date":"2025-01-02","pc_catid":9,"class_code":"EMER","sensitivity":"high","pos_code":11}"#)
            .validated()
        #expect(dated.date?.description == "2025-01-02 00:00:00")
        #expect(dated.pcCatid == 9)
        #expect(dated.classCode == "EMER")
        #expect(dated.sensitivity == "high")
        #expect(dated.posCode == 11)
        #expect(try encounterInput(#"{"pid":6,"date":"2025-01-02 13:14:15"}"#).validated().date?.description == "2025-01-02 13:14:15")
    }

    @Test(arguments: [
        (#"{}"#, "pid"), (#"{"pid":1,"date":"2025-13-01"}"#, "date"), (#"{"pid":1,"date":"soon"}"#, "date"),
        (#"{"pid":1,"class_code":""}"#, "class_code"), (#"{"pid":1,"class_code":"ABCDEFGHIJK"}"#, "class_code"),
        (#"{"pid":1,"sensitivity":"secret"}"#, "sensitivity"), (#"{"pid":1,"external_id":"123456789012345678901"}"#, "external_id"),
        (#"{"pid":1,"pc_catid":0}"#, "pc_catid"), (#"{"pid":1,"pc_catid":99999999999}"#, "pc_catid"),
        (#"{"pid":1,"pos_code":100}"#, "pos_code"), (#"{"pid":1,"pos_code":-1}"#, "pos_code"),
    ])
    func encounterValidation(json: String, field: String) throws {
        do {
            _ = try encounterInput(json).validated()
            Issue.record("accepted \(json)")
        } catch let domain as OpenEMRError {
            let error = AppError(domain)  // the status the API answers
            #expect(error.status == .badRequest)
            #expect(error.code == "validation_error")
            #expect(error.details.keys.sorted() == [field], "\(json): \(error.details)")
        }
    }

    // MARK: OpenEMRUUID

    @Test func uuidLayoutIsTimestampFirstCOMB() throws {
        let now = Date(timeIntervalSince1970: 1_750_000_000.123456)
        let ticks = UInt64(1_750_000_000.123456 * 100_000)
        for _ in 0..<200 {
            let bytes = OpenEMRUUID.make(now: now)
            #expect(bytes.count == 16)
            var prefix: UInt64 = 0
            for byte in bytes[0..<6] { prefix = prefix << 8 | UInt64(byte) }
            #expect(prefix == ticks)
            #expect(bytes[6] >> 4 == 4, "version nibble")
            #expect(bytes[8] & 0xC0 == 0x80, "RFC 4122 variant")
        }
        // Later uuids sort after earlier ones (the point of timestamp-first).
        let early = OpenEMRUUID.make(now: Date(timeIntervalSince1970: 1_700_000_000))
        let late = OpenEMRUUID.make(now: Date(timeIntervalSince1970: 1_700_000_000.00001))
        #expect(early.lexicographicallyPrecedes(late))
        #expect(Set((0..<100).map { _ in OpenEMRUUID.make(now: now) }).count == 100, "random tail")
    }

    @Test func uuidStringForm() throws {
        let bytes: [UInt8] = [0x9D, 0x05, 0x04, 0xF1, 0xCD, 0x1D, 0x42, 0x5A, 0xB3, 0x80, 0xA2, 0x53, 0x95, 0x16, 0x02, 0x16]
        #expect(OpenEMRUUID.string(bytes) == "9d0504f1-cd1d-425a-b380-a25395160216")
        let fresh = OpenEMRUUID.make()
        let uuid = UUID(uuid: (fresh[0], fresh[1], fresh[2], fresh[3], fresh[4], fresh[5], fresh[6], fresh[7], fresh[8], fresh[9], fresh[10], fresh[11], fresh[12], fresh[13], fresh[14], fresh[15]))
        #expect(OpenEMRUUID.string(fresh) == uuid.uuidString.lowercased())
        #expect(OpenEMRUUID.string(nil) == nil)
        #expect(OpenEMRUUID.string([1, 2, 3]) == nil)
    }

    // MARK: ETag and If-Match

    static func samplePatient() throws -> PatientResponse {
        let names = PatientResponse.columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values: [String: MariaDBValue] = [
            "pid": .int(6), "pubpid": .text("6"), "uuid": .bytes(Array(repeating: 0xAB, count: 16)), "title": .text("Mr."), "fname": .text("José"),
            "mname": .text("S"), "lname": .text("Nguyễn"), "DOB": .dateTime(.date(year: 1942, month: 7, day: 31)), "sex": .text("Male"),
            "email": .text("jose@example.org"), "phone_home": .text("555-478-0370"), "phone_cell": .text("555-524-5413"), "street": .text("3300 Chestnut"),
            "city": .text("Sherman"), "state": .text("IL"), "postal_code": .text("62625"), "country_code": .text("USA"), "status": .text("divorced"),
            "providerID": .int(3), "date": .dateTime(MariaDBDateTime(year: 2024, month: 9, day: 16, hour: 1, minute: 7, second: 13)),
        ]
        let row = MariaDBRow(columns: MariaDBColumns(names: names), values: names.map { values[$0] ?? .null })
        return try PatientResponse(row: row)
    }

    @Test func etagChangesWhenAnyFieldChanges() throws {
        let patient = try Self.samplePatient()
        #expect(patient.dob == "1942-07-31")
        #expect(patient.dateCreated == "2024-09-16 01:07:13")
        let etag = patient.etag
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && etag.count == 34, "\(etag)")
        #expect(try Self.samplePatient().etag == etag, "deterministic")

        let strings: [WritableKeyPath<PatientResponse, String>] = [
            \.pubpid, \.title, \.fname, \.mname, \.lname, \.sex, \.email, \.phoneHome, \.phoneCell, \.street, \.city, \.state, \.postalCode,
            \.countryCode, \.status,
        ]
        var seen: Set<String> = [etag]
        for path in strings {
            var changed = patient
            changed[keyPath: path] += "x"
            #expect(changed.etag != etag, "\(path)")
            seen.insert(changed.etag)
        }
        let optionalStrings: [WritableKeyPath<PatientResponse, String?>] = [\.uuid, \.dob, \.dateCreated]
        for path in optionalStrings {
            var changed = patient
            changed[keyPath: path] = nil
            #expect(changed.etag != etag, "\(path)")
            seen.insert(changed.etag)
        }
        var changed = patient
        changed.pid = 7
        seen.insert(changed.etag)
        changed = patient
        changed.providerId = nil
        seen.insert(changed.etag)
        changed = patient
        changed.providerId = 4
        seen.insert(changed.etag)
        #expect(seen.count == 1 + strings.count + optionalStrings.count + 3)
        // Moving text between neighbouring fields also changes it (a separator is hashed).
        changed = patient
        changed.fname = "Jos"
        changed.mname = "éS"
        #expect(changed.etag != etag)
    }

    @Test func ifMatchMatching() {
        let etag = "\"0123456789abcdef0123456789abcdef\""
        #expect(PatientRepository.matches(etag, etag: etag))
        #expect(PatientRepository.matches("*", etag: etag))
        #expect(PatientRepository.matches(" * ", etag: etag))
        #expect(PatientRepository.matches("\"other\", \(etag)", etag: etag))
        #expect(PatientRepository.matches("\(etag),\"other\"", etag: etag))
        // Weak validators are accepted too (proxies that compress turn strong ETags into weak ones).
        #expect(PatientRepository.matches("W/\(etag)", etag: etag))
        #expect(PatientRepository.matches("\"a\", W/\(etag)", etag: etag))
        #expect(!PatientRepository.matches("\"other\"", etag: etag))
        #expect(!PatientRepository.matches("", etag: etag))
        #expect(!PatientRepository.matches("0123456789abcdef0123456789abcdef", etag: etag), "unquoted")
        #expect(!PatientRepository.matches("\"a\", \"b\"", etag: etag))
        #expect(!PatientRepository.matches("w/\(etag)", etag: etag))
    }
}
