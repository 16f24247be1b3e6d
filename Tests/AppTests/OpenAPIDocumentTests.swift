import Foundation
import Testing
import OpenAPIKit

@testable import OpenEMR

@testable import App

/// The typed OpenAPI document (OpenAPIKit) against OpenAPIKit's own validation and against `OpenAPIDocument.operations`.
@Suite struct OpenAPIDocumentTests {
    @Test func passesOpenAPIKitValidation() throws {
        try OpenAPIDocument.validate()
    }

    @Test func everyOperationIsDocumentedWithItsResponses() {
        let documented = OpenAPIDocument.documentedOperations
        var expected: [String: Set<Int>] = [:]
        for operation in OpenAPIDocument.operations {
            let key = "\(operation.method) \(operation.path)"
            #expect(expected[key] == nil, "\(key) twice in the table")
            expected[key] = Set(operation.statuses.map(\.status))
            #expect(documented[key] == expected[key], "\(key): documented \(documented[key].map { $0.sorted() } ?? [])")
        }
        #expect(Set(documented.keys) == Set(expected.keys), "the document has exactly the table's operations")
    }

    @Test func servedBytesAreTheTypedDocument() throws {
        let json = try #require(JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json)) as? [String: Any])
        #expect(json["openapi"] as? String == "3.1.0")
        #expect((json["info"] as? [String: Any])?["version"] as? String == EMRBridgeVersion.current)
        let paths = try #require(json["paths"] as? [String: [String: Any]])
        let components = try #require(json["components"] as? [String: Any])
        let schemas = try #require(components["schemas"] as? [String: Any])
        let securitySchemes = try #require(components["securitySchemes"] as? [String: Any])
        #expect(Set(securitySchemes.keys) == ["bearer", "drfToken"])
        for operation in OpenAPIDocument.operations {
            let name = "\(operation.method) \(operation.path)"
            let entry = try #require(paths[operation.path]?[operation.method] as? [String: Any], "\(name) missing")
            let responses = try #require(entry["responses"] as? [String: [String: Any]], "\(name) has no responses")
            #expect(Set(responses.keys.compactMap { Int($0) }) == Set(operation.statuses.map(\.status)), "\(name)")
            for (status, schema) in operation.statuses {
                let ref = ((responses[String(status)]?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
                #expect(ref?["$ref"] as? String == schema.map { "#/components/schemas/\($0)" }, "\(name) \(status)")
                if let schema { #expect(schemas[schema] != nil, "\(name) \(status): schema \(schema) missing") }
            }
            #expect((entry["security"] != nil) == operation.authenticated, "\(name) security")
            if let request = operation.requestSchema {
                let body = try #require(entry["requestBody"] as? [String: Any], "\(name) has no request body")
                let content = try #require(body["content"] as? [String: [String: Any]], "\(name) request content")
                let types = OpenAPIDocument.formSchemas.contains(request) ? Set(JSONBody.mediaTypes) : ["application/json"]
                #expect(Set(content.keys) == types, "\(name) request media types")
                for type in types {
                    #expect((content[type]?["schema"] as? [String: Any])?["$ref"] as? String == "#/components/schemas/\(request)", "\(name) \(type)")
                }
                #expect(content["application/json"]?["example"] != nil, "\(name) has no request example")
            } else if !operation.requestMediaTypes.isEmpty {
                let body = try #require(entry["requestBody"] as? [String: Any], "\(name) has no request body")
                #expect(Set(((body["content"] as? [String: Any]) ?? [:]).keys) == Set(operation.requestMediaTypes), "\(name) request media types")
            } else {
                #expect(entry["requestBody"] == nil, "\(name) has an unexpected request body")
            }
        }
    }

    /// Every status the rules promise is in the document: 401 behind a token, 415/413 with a body, 503 on database routes.
    @Test func commonStatusesAreDocumented() {
        for operation in OpenAPIDocument.operations {
            let statuses = Set(operation.statuses.map(\.status))
            let name = "\(operation.method) \(operation.path)"
            if operation.authenticated { #expect(statuses.contains(401), "\(name)") }
            if operation.hasBody { #expect(statuses.isSuperset(of: [400, 413, 415]), "\(name)") }
            if operation.path.contains("{") { #expect(statuses.contains(404), "\(name)") }
            if operation.path.hasPrefix("/api/") && operation.path != "/api/openapi.json" { #expect(statuses.contains(503), "\(name)") }
        }
    }

    /// The document's patient rules and `PatientInput.validate` (the handlers' rules) agree on a table of values:
    /// every value the schema promises is accepted, every value it excludes is refused.
    @Test func patientSchemaAgreesWithValidation() throws {
        let schema = OpenAPIDocument.patientInput(.stock, patch: false).objectContext
        let properties = try #require(schema?.properties)
        func pattern(_ field: String) throws -> NSRegularExpression {
            let text = try #require(properties[field]?.stringContext?.pattern, "\(field) has no pattern")
            return try NSRegularExpression(pattern: text)
        }
        func schemaAccepts(_ field: String, _ value: String) throws -> Bool {
            let context = try #require(properties[field]?.stringContext)
            if let max = context.maxLength, value.unicodeScalars.count > max { return false }
            if value.unicodeScalars.count < context.minLength { return false }
            if let allowed = properties[field]?.allowedValues { return allowed.contains { $0.value as? String == value } }
            if context.pattern != nil {
                let regex = try pattern(field)
                return regex.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) != nil
            }
            return true
        }
        func validationAccepts(_ field: String, _ value: String) throws -> Bool {
            var body: [String: String] = ["fname": "A", "lname": "B", "sex": "Male", "dob": "1990-01-01"]
            body[field] = value
            let input = try JSONCoding.decoder.decode(PatientInput.self, from: JSONEncoder().encode(body))
            return input.normalized().validate(requireAll: true)[field] == nil
        }
        let lastYear = Calendar(identifier: .gregorian).component(.year, from: Date()) - 1
        let samples: [(String, [String])] = [
            ("dob", ["1900-01-01", "1985-12-10", "\(lastYear)-12-31", "2000-02-28", "1899-12-31", "0326-07-02", "2999-01-01", "1985-13-01", "1985-02-30", "1985-1-1", "", "1985-12-10T00:00:00"]),
            ("fname", ["A", "Ann-Marie", " x ", String(repeating: "é", count: 255), "", " ", "\t\n", String(repeating: "é", count: 256)]),
            ("lname", ["O'Brien", "", "  "]),
            ("email", ["", "a@b", "ada@example.org", "no-at", "a b@c", "a@b c"]),
            ("title", ["", "Dr.", String(repeating: "x", count: 256)]),
        ]
        for (field, values) in samples {
            for value in values {
                #expect(try schemaAccepts(field, value) == validationAccepts(field, value), "\(field) = \(value.debugDescription.prefix(40))")
            }
        }
        // sex: the document's enum is what the list check accepts (the live test checks the list itself).
        #expect(properties["sex"]?.allowedValues?.compactMap { $0.value as? String } == OpenAPIDocument.Vocabulary.stock.sex)
        // provider_id: the bounds.
        let provider = try #require(properties["provider_id"]?.integerContext)
        #expect(provider.minimum?.value == 0 && provider.maximum?.value == Int(Int32.max))
        // The request examples are valid inputs.
        let example = try #require(OpenAPIDocument.requestExamples["PatientCreate"])
        let input = try JSONCoding.decoder.decode(PatientInput.self, from: JSONEncoder().encode(example))
        #expect(input.validate(requireAll: true).isEmpty)
    }

    /// Every operation that has a JSON body (request or answer) carries an example, and every example fits its schema.
    @Test func examplesExistAndFitTheirSchemas() throws {
        let document = try JSONValue.parse(Data(OpenAPIDocument.json))
        for operation in OpenAPIDocument.operations {
            let name = "\(operation.method) \(operation.path)"
            let entry = document["paths"][operation.path][operation.method]
            var examples: [(JSONValue, JSONValue)] = []
            var hasJSON = false
            if let content = entry["requestBody"]["content"]["application/json"].object {
                hasJSON = true
                if let example = content["example"] { examples.append((example, content["schema"] ?? .null)) }
            }
            for (_, response) in entry["responses"].object ?? [:] {
                guard let content = response["content"]["application/json"].object else { continue }
                hasJSON = true
                if let example = content["example"] { examples.append((example, content["schema"] ?? .null)) }
            }
            if hasJSON { #expect(!examples.isEmpty, "\(name) has no example") }
            for (example, schema) in examples {
                let problems = schemaProblems(example, schema, document: document)
                #expect(problems.isEmpty, "\(name): \(problems)")
            }
        }
    }
}
