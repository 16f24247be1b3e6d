import Foundation

/// The fields of a form-encoded or multipart body, decoded into the same input types (and so the same validation) as a
/// JSON body: the fields become a JSON object of strings, and a field the input type wants as a number or a boolean is
/// converted when the decoder asks for one (`"42"` → 42, `"true"`/`"on"`/`"1"` → true, as DRF's fields read form data).
struct FormFields {
    /// Field → value; of a repeated field the last value counts (as `QueryDict.get` does).
    let values: [String: String]

    init(_ items: [(String, String)]) {
        var values: [String: String] = [:]
        for (key, value) in items where !key.isEmpty { values[key] = value }
        self.values = values
    }

    static let trueValues: Set<String> = ["true", "True", "TRUE", "1", "on", "On", "ON", "yes", "Yes", "YES", "y", "Y", "t", "T"]
    static let falseValues: Set<String> = ["false", "False", "FALSE", "0", "off", "Off", "OFF", "no", "No", "NO", "n", "N", "f", "F"]

    func decode<T: Decodable>(_ type: T.Type, with decoder: JSONDecoder) throws -> T {
        var object: [String: Any] = values
        // Each round converts one field the decoder wanted as another type; at most one round per field.
        for _ in 0...values.count {
            let data = try JSONSerialization.data(withJSONObject: object)
            do {
                return try decoder.decode(T.self, from: data)
            } catch let error as DecodingError {
                guard case .typeMismatch(let expected, let context) = error, context.codingPath.count == 1, let key = context.codingPath.first
                else { throw AppError.validation(JSONBody.details(error)) }
                let name = values[key.stringValue] != nil ? key.stringValue : JSONBody.snakeCase(key.stringValue)
                guard let text = values[name], object[name] is String else { throw AppError.validation(JSONBody.details(error)) }
                switch expected {
                case is Int.Type, is Int64.Type, is Int32.Type:
                    guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                        throw AppError.validation([name: "A valid integer is required."])
                    }
                    object[name] = value
                case is Double.Type, is Float.Type:
                    guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
                        throw AppError.validation([name: "A valid number is required."])
                    }
                    object[name] = value
                case is Bool.Type:
                    if Self.trueValues.contains(text) {
                        object[name] = true
                    } else if Self.falseValues.contains(text) {
                        object[name] = false
                    } else {
                        throw AppError.validation([name: "Must be a valid boolean."])
                    }
                default:
                    throw AppError.validation([name: "This field cannot be sent as a form field; send the body as JSON."])
                }
            }
        }
        throw AppError.validation(["non_field_errors": "Invalid request body."])
    }
}

/// A `multipart/form-data` body (RFC 7578) split into its fields: each part's `Content-Disposition` name and its
/// content as UTF-8 text (a file part's content too).
enum MultipartForm {
    static let maximumParts = 1000

    static func fields(_ body: [UInt8], boundary: String) throws -> [(String, String)] {
        func invalid(_ message: String) -> AppError { AppError.badRequest(message, code: "invalid_multipart") }
        let delimiter = Array(("--" + boundary).utf8)
        let crlf: [UInt8] = [13, 10]
        guard var position = find(delimiter, in: body, from: 0) else { throw invalid("The multipart body has no part.") }
        var fields: [(String, String)] = []
        while true {
            position += delimiter.count
            // The close delimiter ends the body.
            if body.count >= position + 2, body[position] == 45, body[position + 1] == 45 { return fields }
            // Optional whitespace, then CRLF, after a delimiter.
            while position < body.count, body[position] == 32 || body[position] == 9 { position += 1 }
            guard body.count >= position + 2, body[position] == 13, body[position + 1] == 10 else {
                throw invalid("The multipart body is malformed.")
            }
            position += 2
            guard let headerEnd = find(crlf + crlf, in: body, from: position) else { throw invalid("A multipart part has no header end.") }
            let headerText = String(decoding: body[position..<headerEnd], as: UTF8.self)
            let contentStart = headerEnd + 4
            guard let next = find(crlf + delimiter, in: body, from: contentStart) else { throw invalid("A multipart part is not closed.") }
            guard let name = partName(headerText) else { throw invalid("A multipart part has no form-data name.") }
            guard let value = String(validating: body[contentStart..<next], as: UTF8.self) else {
                throw AppError.validation([name: "Send this field as UTF-8 text."])
            }
            // A part with an empty name is no field (as an empty key of a form body).
            if !name.isEmpty { fields.append((name, value)) }
            if fields.count > maximumParts { throw invalid("Too many multipart parts.") }
            position = next + 2
        }
    }

    /// `name` of `Content-Disposition: form-data; name="…"` (a quoted name may hold `;` and `\"`); nil without one.
    static func partName(_ headers: String) -> String? {
        for line in headers.split(separator: "\r\n") {
            let pair = line.split(separator: ":", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "content-disposition" else { continue }
            var rest = Substring(pair[1])
            // Each parameter: `; key=value` or `; key="quoted"`.
            while let semicolon = rest.firstIndex(of: ";") {
                rest = rest[rest.index(after: semicolon)...].drop(while: { $0 == " " || $0 == "\t" })
                guard let equals = rest.firstIndex(of: "=") else { return nil }
                let key = rest[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
                var value = ""
                var index = rest.index(after: equals)
                if index < rest.endIndex, rest[index] == "\"" {
                    index = rest.index(after: index)
                    while index < rest.endIndex, rest[index] != "\"" {
                        if rest[index] == "\\", rest.index(after: index) < rest.endIndex { index = rest.index(after: index) }
                        value.append(rest[index])
                        index = rest.index(after: index)
                    }
                    if index < rest.endIndex { index = rest.index(after: index) }
                } else {
                    while index < rest.endIndex, rest[index] != ";" {
                        value.append(rest[index])
                        index = rest.index(after: index)
                    }
                    value = value.trimmingCharacters(in: .whitespaces)
                }
                if key == "name" { return value }
                rest = rest[index...]
            }
        }
        return nil
    }

    /// The first index of `needle` in `haystack` at or after `start`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        let first = needle[0]
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
