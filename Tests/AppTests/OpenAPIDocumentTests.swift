import Foundation
import Testing

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
            expected[key] = Set(operation.responses.map(\.status))
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
            #expect(Set(responses.keys.compactMap { Int($0) }) == Set(operation.responses.map(\.status)), "\(name)")
            for (status, schema) in operation.responses {
                let ref = ((responses[String(status)]?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
                #expect(ref?["$ref"] as? String == schema.map { "#/components/schemas/\($0)" }, "\(name) \(status)")
                if let schema { #expect(schemas[schema] != nil, "\(name) \(status): schema \(schema) missing") }
            }
            #expect((entry["security"] != nil) == operation.authenticated, "\(name) security")
            if let request = operation.requestSchema {
                let body = try #require(entry["requestBody"] as? [String: Any], "\(name) has no request body")
                let ref = ((body["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
                #expect(ref?["$ref"] as? String == "#/components/schemas/\(request)", "\(name) request body")
            } else if !operation.requestMediaTypes.isEmpty {
                let body = try #require(entry["requestBody"] as? [String: Any], "\(name) has no request body")
                #expect(Set(((body["content"] as? [String: Any]) ?? [:]).keys) == Set(operation.requestMediaTypes), "\(name) request media types")
            } else {
                #expect(entry["requestBody"] == nil, "\(name) has an unexpected request body")
            }
        }
    }
}
