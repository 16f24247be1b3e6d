import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import NIOCore
import Testing

@testable import App
@testable import OpenEMR

extension TestClientProtocol {
    /// A request with a raw body of `contentType`.
    func raw(
        _ method: HTTPRequest.Method, _ uri: String, token: String?, contentType: String?, body: String, headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = headers
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let contentType { headers[.contentType] = contentType }
        return try await execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: body))
    }
}

/// A `multipart/form-data` body of text fields.
func multipartBody(_ fields: [(String, String)], boundary: String) -> String {
    var body = ""
    for (name, value) in fields {
        body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
    }
    return body + "--\(boundary)--\r\n"
}

extension LiveAppTests {
    /// Issue 19: the API contract: 405/`Allow`, `HEAD`, DRF's leniency, form and multipart bodies, validation as
    /// OpenEMR's forms validate, CORS for local Flutter web origins.
    @Suite("Live: API contract", .liveDatabase())
    struct Contract {
        @Test func methodNotAllowedAnswers405WithAllow() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let cases: [(HTTPRequest.Method, String, String)] = [
                    (HTTPRequest.Method("TRACE") ?? .get, "/api/auth/user/", "GET, HEAD"),
                    (.delete, "/api/encounters/1/", "GET, HEAD"),
                    (.post, "/api/openapi.json", "GET, HEAD"),
                    (.get, "/api/auth/login/", "POST"),
                    (.put, "/api/patients/", "GET, HEAD, POST"),
                    (.delete, "/api/transcriptions/1/submit/", "POST"),
                    (.post, "/api/patients/7/", "DELETE, GET, HEAD, PATCH, PUT"),
                ]
                for (method, uri, allow) in cases {
                    let response = try await client.call(method, uri, token: token)
                    #expect(response.status == .methodNotAllowed, "\(method) \(uri): \(response.status)")
                    #expect(response.headers[.allow] == allow, "\(method) \(uri)")
                    #expect(response.errorCode == "method_not_allowed", "\(method) \(uri)")
                    #expect(hasErrorShape(response), "\(method) \(uri): \(response.text)")
                }
                // An unknown path stays 404, whatever the method; a handler's own 404 too.
                #expect(try await client.call(.delete, "/api/nothing-here/", token: token).status == .notFound)
                #expect(try await client.call(.get, "/api/patients/99999/", token: token).status == .notFound)
                // OPTIONS (not a CORS preflight) lists the methods.
                let options = try await client.call(.options, "/api/patients/", token: nil)
                #expect(options.status == .noContent)
                #expect(options.headers[.allow] == "GET, HEAD, POST, OPTIONS")
            }
            // Over a real socket too (TRACE and the 405 body pass the HTTP codec).
            try await database.withApp(setup: .live) { client in
                let response = try await client.send(HTTPRequest.Method("TRACE") ?? .get, "/api/auth/user/")
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
            }
        }

        /// `Expect: 100-continue` gets its interim answer before the client sends the body (curl waits a second for it on
        /// every body over 1 MiB otherwise), then the final answer.
        @Test func expectContinueIsAnswered() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp(setup: .live) { client in
                let port = try #require(client.port)
                let body = #"{"username":"drsmith","password":"doctor123"}"#
                let head = "POST /api/auth/login/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n"
                let (interim, final) = try RawHTTP.exchange(port: port, head: head, bodyAfterInterim: body)
                #expect(interim.hasPrefix("HTTP/1.1 100 Continue"), "\(interim)")
                #expect(final.hasPrefix("HTTP/1.1 200"), "\(final)")
                #expect(final.contains("\"token\""))
            }
        }

        @Test func headIsServedWhereverGetIs() async throws {
            let database = try LiveDatabase.require()
            for setup in [TestingSetup.router, .live] {
                try await database.withApp(setup: setup) { client in
                    let token = try await client.token("drsmith", "doctor123")
                    for uri in ["/api/health/", "/api/openapi.json", "/api/patients/7/", "/api/patients/?page_size=3", "/api/openemr/providers/", "/api/auth/user/"] {
                        let get = try await client.call(.get, uri, token: token)
                        let head = try await client.call(.head, uri, token: token)
                        #expect(get.status == .ok, "GET \(uri)")
                        #expect(head.status == get.status, "HEAD \(uri)")
                        #expect(head.body.readableBytes == 0, "HEAD \(uri) has a body")
                        #expect(head.headers[.contentType] == get.headers[.contentType], "HEAD \(uri)")
                        #expect(head.headers[.contentLength] == String(get.body.readableBytes), "HEAD \(uri): \(head.headers)")
                    }
                    // The ETag of a patient, and its 304.
                    let get = try await client.call(.get, "/api/patients/7/", token: token)
                    let head = try await client.call(.head, "/api/patients/7/", token: token)
                    #expect(head.headers[.eTag] == get.headers[.eTag] && get.headers[.eTag] != nil)
                    let notModified = try await client.call(.head, "/api/patients/7/", token: token, headers: [.ifNoneMatch: get.headers[.eTag] ?? ""])
                    #expect(notModified.status == .notModified)
                    // The same rules as GET: no token, 401; unknown, 404; a POST-only path, 405.
                    #expect(try await client.call(.head, "/api/patients/7/", token: nil).status == .unauthorized)
                    #expect(try await client.call(.head, "/api/patients/99999/", token: token).status == .notFound)
                    let postOnly = try await client.call(.head, "/api/auth/login/", token: nil)
                    #expect(postOnly.status == .methodNotAllowed)
                    #expect(postOnly.headers[.allow] == "POST")
                }
            }
        }

        /// The patient list's count: exact, or (many matches, issue 18) a lower bound beyond the first page.
        static func countFits(_ response: TestResponse, _ total: Int) -> Bool {
            guard let count = response.json["count"].int else { return false }
            return response.json["count_exact"].bool == true ? count == total : count <= total && count > min(50, total)
        }

        @Test func pagingAndFiltersAreLenientAsDRF() async throws {
            let database = try LiveDatabase.require()
            let patients = try await database.count("patient_data")
            try await database.withApp { client in
                let token = try await client.token("admin", "pass")
                let plain = try await client.call(.get, "/api/patients/", token: token)
                #expect(plain.status == .ok)
                #expect(Self.countFits(plain, patients))
                for query in ["page=", "page=abc", "page=0", "page=-3", "page_size=", "page_size=x", "page_size=0", "dob=", "sex=", "search=", "ordering=",
                    "page=&page_size=&dob=&sex=&search=&ordering="]
                {
                    let response = try await client.call(.get, "/api/patients/?\(query)", token: token)
                    #expect(response.status == .ok, "\(query): \(response.text.prefix(200))")
                    #expect(Self.countFits(response, patients), "\(query)")
                    #expect(response.json["results"].array?.count == min(50, patients), "\(query): the first page, default size")
                    #expect(response.json["previous"].isNull, "\(query)")
                }
                // An invalid page_size is the default, a valid one still counts.
                #expect(try await client.call(.get, "/api/patients/?page_size=3&page=", token: token).json["results"].array?.count == 3)
                // Every list.
                for uri in [
                    "/api/openemr/providers/?page=&page_size=x", "/api/openemr/facilities/?page=abc&page_size=",
                    "/api/encounters/?page=&page_size=&patient=&provider=&date_from=&date_to=",
                    "/api/transcriptions/?page=&page_size=&patient=&encounter=&status=&provider=&date_from=&date_to=&search=&ordering=",
                    "/api/imports/?page=x&page_size=",
                ] {
                    let response = try await client.call(.get, uri, token: token)
                    #expect(response.status == .ok, "\(uri): \(response.text.prefix(200))")
                    #expect(response.json["results"].array != nil, "\(uri)")
                }
                // Not lenient where DRF is not: a non-empty bad filter, and a page past the end.
                #expect(try await client.call(.get, "/api/patients/?dob=1942-02-30", token: token).status == .badRequest)
                #expect(try await client.call(.get, "/api/patients/?page=999", token: token).status == .notFound)
            }
        }

        @Test func formAndMultipartBodiesDecodeLikeJSON() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp(["BRIDGE_MAX_BODY_BYTES": "4096"]) { client in
                // A form-encoded and a multipart sign-in.
                let form = try await client.raw(
                    .post, "/api/auth/login/", token: nil, contentType: "application/x-www-form-urlencoded", body: "username=drsmith&password=doctor123"
                )
                #expect(form.status == .ok, "\(form.text)")
                let token = try #require(form.json["token"].string)
                let multipartLogin = try await client.raw(
                    .post, "/api/auth/patient-login/", token: nil, contentType: "multipart/form-data; boundary=XyZ",
                    body: multipartBody([("username", "patient1"), ("password", "patient123")], boundary: "XyZ")
                )
                #expect(multipartLogin.status == .ok, "\(multipartLogin.text)")
                #expect(multipartLogin.json["user"]["role"].string == "patient")
                let wrong = try await client.raw(
                    .post, "/api/auth/login/", token: nil, contentType: "application/x-www-form-urlencoded; charset=utf-8", body: "username=drsmith&password=nope"
                )
                #expect(wrong.status == .unauthorized)
                // `curl -d '{…}'` sends JSON labelled as a form: read as the JSON it is.
                let curlStyle = try await client.raw(
                    .post, "/api/auth/login/", token: nil, contentType: "application/x-www-form-urlencoded", body: " {\"username\":\"drsmith\",\"password\":\"doctor123\"}"
                )
                #expect(curlStyle.status == .ok, "\(curlStyle.text)")
                let blank = try await client.raw(.post, "/api/auth/login/", token: nil, contentType: "application/x-www-form-urlencoded", body: "username=&password=x")
                #expect(blank.status == .badRequest)
                #expect(blank.json["error"]["details"]["username"].string != nil)

                // The session bridge reads a form body too: a bad type is a field error (not invalid_json); a good one
                // reaches the bridge, which is not configured in this app (503).
                let badType = try await client.raw(
                    .post, "/api/auth/openemr-session/", token: nil, contentType: "application/x-www-form-urlencoded", body: "session_id=abc&type=bogus"
                )
                #expect(badType.status == .badRequest)
                #expect(badType.json["error"]["details"]["type"].string != nil, "\(badType.text)")
                let bridged = try await client.raw(
                    .post, "/api/auth/openemr-session/", token: nil, contentType: "multipart/form-data; boundary=s",
                    body: multipartBody([("session_id", "abcdefghijklmnopqrstuvwxyz"), ("type", "portal")], boundary: "s")
                )
                #expect(bridged.status == .serviceUnavailable, "\(bridged.text)")
                #expect(bridged.errorCode == "session_bridge_disabled")

                // A multipart patient create: the same fields, the same validation, the same stored row.
                let boundary = "----flutter-\(UUID().uuidString)"
                let created = try await client.raw(
                    .post, "/api/patients/", token: token, contentType: "multipart/form-data; boundary=\(boundary)",
                    body: multipartBody(
                        [("fname", "  Multi "), ("lname", "Part"), ("sex", "Female"), ("dob", "1980-04-05"), ("provider_id", "2"), ("city", "Łódź")], boundary: boundary
                    )
                )
                #expect(created.status == .created, "\(created.text)")
                let pid = try #require(created.json["pid"].int)
                #expect(created.json["fname"].string == "Multi")
                #expect(created.json["city"].string == "Łódź")
                #expect(created.json["provider_id"].int == 2)
                #expect(try await database.string("SELECT fname AS v FROM patient_data WHERE pid = \(pid)") == "Multi")

                // A form-encoded patch, with a number field.
                let patched = try await client.raw(
                    .patch, "/api/patients/\(pid)/", token: token, contentType: "application/x-www-form-urlencoded", body: "city=Krak%C3%B3w&provider_id=3"
                )
                #expect(patched.status == .ok, "\(patched.text)")
                #expect(patched.json["city"].string == "Kraków")
                #expect(patched.json["provider_id"].int == 3)

                // Field errors as for JSON.
                let badNumber = try await client.raw(.patch, "/api/patients/\(pid)/", token: token, contentType: "application/x-www-form-urlencoded", body: "provider_id=abc")
                #expect(badNumber.status == .badRequest)
                #expect(badNumber.json["error"]["details"]["provider_id"].string != nil, "\(badNumber.text)")
                let missing = try await client.raw(.post, "/api/patients/", token: token, contentType: "application/x-www-form-urlencoded", body: "fname=A")
                #expect(missing.status == .badRequest)
                #expect(missing.json["error"]["details"].object?.keys.sorted() == ["dob", "lname", "sex"])

                // Other media types: 415; a broken multipart body: 400; too large: 413 — all JSON errors.
                let text = try await client.raw(.post, "/api/patients/", token: token, contentType: "text/plain", body: "fname=A")
                #expect(text.status == .unsupportedMediaType)
                #expect(hasErrorShape(text))
                for (type, body) in [
                    ("multipart/form-data", "x"), ("multipart/form-data; boundary=b", "garbage"), ("multipart/form-data; boundary=b", "--b\r\nNo-Header\r\n\r\nx\r\n--b--"),
                ] {
                    let response = try await client.raw(.post, "/api/patients/", token: token, contentType: type, body: body)
                    #expect(response.status == .badRequest, "\(type) \(body)")
                    #expect(hasErrorShape(response))
                }
                let huge = try await client.raw(
                    .post, "/api/auth/login/", token: nil, contentType: "application/x-www-form-urlencoded",
                    body: "username=a&password=" + String(repeating: "x", count: 5000)
                )
                #expect(huge.status == .contentTooLarge)
                #expect(huge.errorCode == "payload_too_large")
                // JSON stays the default, with or without a Content-Type.
                let json = try await client.raw(.post, "/api/auth/login/", token: nil, contentType: nil, body: #"{"username":"drsmith","password":"doctor123"}"#)
                #expect(json.status == .ok)
            }
        }

        @Test func patientFieldsAreValidatedAsOpenEMRFormsDo() async throws {
            let database = try LiveDatabase.require()
            let before = try await database.count("patient_data")
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                func create(_ fields: [String: JSONValue]) async throws -> TestResponse {
                    var body: [String: JSONValue] = ["fname": "Val", "lname": "Idation", "sex": "Male", "dob": "1970-01-01"]
                    for (key, value) in fields { body[key] = value }
                    return try await client.call(.post, "/api/patients/", token: token, json: JSONValue.object(body).text)
                }
                let refused: [([String: JSONValue], String)] = [
                    (["sex": "Other"], "sex"), (["sex": "male"], "sex"), (["sex": "F"], "sex"), (["dob": "0326-07-02"], "dob"),
                    (["dob": "1899-12-31"], "dob"), (["dob": "2999-01-01"], "dob"), (["fname": " \t "], "fname"), (["lname": "\n"], "lname"),
                    (["title": "Sir"], "title"), (["title": "dr."], "title"),
                ]
                for (fields, field) in refused {
                    let response = try await create(fields)
                    #expect(response.status == .badRequest, "\(fields): \(response.status)")
                    #expect(response.json["error"]["details"][field].string != nil, "\(fields): \(response.text)")
                }
                #expect(try await database.count("patient_data") == before, "nothing refused was written")
                // Every active option of OpenEMR's sex list, the earliest birth date, trimmed names.
                for sex in ["Female", "Male", "UNK"] {
                    let response = try await create(["sex": .string(sex), "dob": "1900-01-01", "fname": "  Trim  ", "lname": " Med ", "title": sex == "Male" ? "Dr." : ""])
                    #expect(response.status == .created, "\(sex): \(response.text)")
                    #expect(response.json["fname"].string == "Trim" && response.json["lname"].string == "Med")
                }
                // A patch is checked the same way.
                let patch = try await client.call(.patch, "/api/patients/7/", token: token, json: #"{"sex":"Robot"}"#)
                #expect(patch.status == .badRequest)
                #expect(patch.json["error"]["details"]["sex"].string?.contains("Female") == true)
            }
            // The list is read from OpenEMR's database: an inactive option is refused, a new one accepted.
            try await database.query("UPDATE list_options SET activity = 0 WHERE list_id = 'sex' AND option_id = 'UNK'")
            try await database.query("INSERT INTO list_options (list_id, option_id, title, seq, activity) VALUES ('sex', 'TestOpt', 'Test', 50, 1)")
            try await database.withApp { client in
                let token = try await client.token("drsmith", "doctor123")
                let unknown = try await client.call(.patch, "/api/patients/7/", token: token, json: #"{"sex":"UNK"}"#)
                #expect(unknown.status == .badRequest)
                #expect(try await client.call(.patch, "/api/patients/7/", token: token, json: #"{"sex":"TestOpt"}"#).status == .ok)
                // The document offers the same values.
                let document = try await client.send(.get, "/api/openapi.json").json
                #expect(document["components"]["schemas"]["PatientCreate"]["properties"]["sex"]["enum"] == .array(["Female", "Male", "TestOpt"]))
                #expect(document["components"]["schemas"]["PatientCreate"]["properties"]["title"]["enum"] == .array(["Mr.", "Mrs.", "Ms.", "Dr.", "", .null]))
                #expect(try await client.call(.patch, "/api/patients/7/", token: token, json: #"{"sex":"Male"}"#).status == .ok)
            }
            try await database.query("DELETE FROM list_options WHERE list_id = 'sex' AND option_id = 'TestOpt'")
            try await database.query("UPDATE list_options SET activity = 1 WHERE list_id = 'sex' AND option_id = 'UNK'")
        }

        @Test func corsAllowsLocalFlutterWebOriginsOnAnyPort() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp(["CORS_ALLOWED_ORIGINS": "http://localhost:*,http://127.0.0.1:*,https://app.example.org"]) { client in
                for origin in ["http://localhost:53123", "http://127.0.0.1:8081", "https://app.example.org"] {
                    let response = try await client.send(
                        .options, "/api/patients/", headers: [.origin: origin, .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "authorization, content-type"]
                    )
                    #expect(response.status == .noContent, "\(origin)")
                    #expect(response.headers[.accessControlAllowOrigin] == origin)
                    #expect(response.headers[.accessControlAllowMethods]?.contains("PATCH") == true)
                    #expect(response.headers[.accessControlAllowHeaders]?.contains("authorization") == true)
                    #expect(response.headers[.vary] == "Origin")
                }
                for origin in ["http://localhost.evil.com:80", "http://localhost:", "http://localhost:8o", "https://localhost:443", "http://localhost:123456", "null"] {
                    let response = try await client.send(.options, "/api/patients/", headers: [.origin: origin, .accessControlRequestMethod: "POST"])
                    #expect(response.headers[.accessControlAllowOrigin] == nil, "\(origin)")
                    #expect(response.status == .forbidden, "\(origin)")
                }
            }
        }
    }
}

@Suite("Contract: units")
struct ContractUnitTests {
    @Test func routeTableResolvesLikeTheTrie() {
        let table = RouteTable()
        table.load([
            ("GET", "/api/encounters/{encounter}"), ("POST", "/api/encounters/import"), ("GET", "/api/encounters"), ("POST", "/api/encounters"),
        ])
        #expect(table.methods(for: "/api/encounters/") == ["GET", "HEAD", "POST"])
        #expect(table.methods(for: "/api/encounters/12/") == ["GET", "HEAD"])
        #expect(table.methods(for: "/api/encounters/import/") == ["POST"])
        #expect(table.methods(for: "/api/encounters/12/x/") == [])
        #expect(table.methods(for: "/nothing") == [])
    }

    @Test func multipartFieldsAreParsed() throws {
        let body = Array(multipartBody([("a", "1"), ("b", "two\r\nlines"), ("c", "")], boundary: "zz").utf8)
        let fields = try MultipartForm.fields(body, boundary: "zz")
        #expect(fields.map(\.0) == ["a", "b", "c"])
        #expect(fields.map(\.1) == ["1", "two\r\nlines", ""])
        #expect(throws: AppError.self) { try MultipartForm.fields(Array("--zz\r\n\r\nx\r\n--zz--".utf8), boundary: "zz") }
        #expect(MultipartForm.partName("Content-Disposition: form-data; name=\"a;b\\\"c\"; filename=\"f\"") == "a;b\"c")
        #expect(MultipartForm.partName("content-disposition: form-data; filename=x; name=plain") == "plain")
        #expect(MultipartForm.partName("Content-Disposition: form-data; name=\"\"") == "")
        #expect(MultipartForm.partName("Content-Type: text/plain") == nil)
        let empty = Array("--zz\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nx\r\n--zz\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\nv\r\n--zz--".utf8)
        #expect(try MultipartForm.fields(empty, boundary: "zz").map(\.0) == ["k"])
        #expect(throws: AppError.self) { try MultipartForm.fields(Array("nothing".utf8), boundary: "zz") }
    }

    @Test func bodyKindsByContentType() throws {
        #expect(try JSONBody.kind(of: nil) == .json)
        #expect(try JSONBody.kind(of: "application/json; charset=utf-8") == .json)
        #expect(try JSONBody.kind(of: "application/merge-patch+json") == .json)
        #expect(try JSONBody.kind(of: "application/x-www-form-urlencoded") == .form)
        #expect(try JSONBody.kind(of: "multipart/form-data; boundary=\"a b\"") == .multipart(boundary: "a b"))
        #expect(throws: AppError.self) { try JSONBody.kind(of: "text/plain") }
        #expect(throws: AppError.self) { try JSONBody.kind(of: "multipart/form-data") }
    }

    @Test func corsAnyPortEntries() {
        let cors = CORSAllowListMiddleware<AppRequestContext>(allowedOrigins: ["http://localhost:*", "https://app.example.org"])
        #expect(cors.isListed("http://localhost:1"))
        #expect(cors.isListed("http://localhost:65535"))
        #expect(cors.isListed("https://app.example.org"))
        #expect(!cors.isListed("http://localhost"))
        #expect(!cors.isListed("http://localhost:"))
        #expect(!cors.isListed("http://localhost:123456"))
        #expect(!cors.isListed("http://localhost.evil:80"))
        #expect(!cors.isListed("https://localhost:80"))
    }
}

extension JSONValue: ExpressibleByStringLiteral {
    init(stringLiteral value: String) { self = .string(value) }
}

/// A blocking HTTP/1.1 exchange over a plain socket, for what a test client hides (interim responses).
enum RawHTTP {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Sends `head`, reads what arrives within 3 s (the interim answer, or nothing), sends the body, reads the rest.
    static func exchange(port: Int, head: String, bodyAfterInterim body: String) throws -> (interim: String, final: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect") }
        func send(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        }
        func receive() -> String {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
        }
        send(head)
        let interim = receive()
        send(body)
        var final = ""
        for _ in 0..<20 where !final.contains("\r\n\r\n{") && !final.contains("}") {
            let more = receive()
            if more.isEmpty { break }
            final += more
        }
        return (interim, final)
    }
}
