import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import MariaDB
import NIOCore
import OpenEMR

/// Turns every error into the JSON error shape and the right status; never a stack trace or an empty 500.
///
/// Database outages become 503. Unexpected errors are logged through `LogSafe` (a MariaDB error by kind, error number
/// and SQLSTATE only: its server message can quote values) and answered with a generic 500 body; no response body
/// ever holds an error's own text.
public struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Self.response(for: error, logger: context.logger)
        }
    }

    static func response(for error: any Error, logger: Logger) -> Response {
        switch error {
        case let error as AppError:
            return AppError.response(status: error.status, code: error.code, message: error.message, details: error.details, headers: error.headers)
        case let domain as OpenEMRError:
            if domain.kind == .inconsistent { logger.error("internal inconsistency", metadata: ["error": "\(domain.message)"]) }
            let error = AppError(domain)
            return AppError.response(status: error.status, code: error.code, message: error.message, details: error.details, headers: error.headers)
        case let error as HTTPError:
            let (code, message) = describe(error.status)
            return AppError.response(status: error.status, code: code, message: error.body ?? message, details: [:], headers: error.headers)
        case is NIOTooManyBytesError:
            return AppError.response(status: .contentTooLarge, code: "payload_too_large", message: "The request body is too large.", details: [:])
        case let error as DecodingError:
            return AppError.response(status: .badRequest, code: "invalid_json", message: "The request body is not valid JSON for this endpoint.", details: JSONBody.details(error))
        case let error as MariaDBError where error.isUnavailable:
            logger.warning("database unavailable", metadata: LogSafe.metadata(error))
            let unavailable = AppError.databaseUnavailable
            return AppError.response(status: unavailable.status, code: unavailable.code, message: unavailable.message, details: [:], headers: unavailable.headers)
        case let error as MariaDBError where error.isDuplicateKey:
            return AppError.response(status: .conflict, code: "conflict", message: "The record already exists.", details: [:])
        case let error as MariaDBError where error.isRetryableTransactionError:
            return AppError.response(status: .serviceUnavailable, code: "busy", message: "The database is busy; try again.", details: [:], headers: [.retryAfter: "1"])
        case let error as MariaDBError:
            logger.error("database error", metadata: LogSafe.metadata(error))
            return AppError.response(status: .internalServerError, code: "internal_error", message: "Internal server error.", details: [:])
        case let error as ConfigurationError:
            logger.error("configuration error", metadata: ["error": "\(error)"])
            return AppError.response(status: .internalServerError, code: "internal_error", message: "Internal server error.", details: [:])
        default:
            logger.error("unhandled error", metadata: LogSafe.metadata(error))
            return AppError.response(status: .internalServerError, code: "internal_error", message: "Internal server error.", details: [:])
        }
    }

    static func describe(_ status: HTTPResponse.Status) -> (code: String, message: String) {
        switch status.code {
        case 400: return ("bad_request", "The request is malformed.")
        case 401: return ("not_authenticated", "Authentication credentials were not provided or are invalid.")
        case 403: return ("permission_denied", "You do not have permission to perform this action.")
        case 404: return ("not_found", "Not found.")
        case 405: return ("method_not_allowed", "Method not allowed.")
        case 408: return ("request_timeout", "The request timed out.")
        case 413: return ("payload_too_large", "The request body is too large.")
        case 415: return ("unsupported_media_type", "Unsupported media type.")
        case 429: return ("throttled", "Too many requests.")
        case 503: return ("unavailable", "Service unavailable.")
        default: return (status.code < 500 ? "client_error" : "internal_error", status.reasonPhrase)
        }
    }
}

/// Refuses bodies whose declared length is over the configured limit (413) before anything reads them.
public struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let limit: Int
    /// Paths that take larger (streamed) bodies, with their own limit.
    let largeBodies: [String: Int]
    public init(limit: Int, largeBodies: [String: Int] = [:]) {
        self.limit = limit
        self.largeBodies = largeBodies
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let limit = largeBodies[path.hasSuffix("/") ? path : path + "/"] ?? self.limit
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit, !TranscriptionController.streamsBody(request) {
            throw AppError(.contentTooLarge, code: "payload_too_large", message: "The request body is too large.", details: ["limit_bytes": String(limit)])
        }
        return try await next(request, context)
    }
}

/// Decoding of request bodies with the configured size limit and per-field error details: the one path every
/// JSON write and sign-in takes.
///
/// As Django REST framework's parsers do, a body may be JSON (the default, also when no `Content-Type` is sent),
/// `application/x-www-form-urlencoded` or `multipart/form-data`; form and multipart fields become a JSON object that
/// the same decoder and the same validation read (`FormFields`). A "form" body that starts with `{` is JSON sent by
/// `curl -d` without a `Content-Type` and is read as JSON. Any other media type is 415.
enum JSONBody {
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        guard let value = try await decodeIfPresent(type, from: request, limit: limit) else {
            throw AppError.badRequest("A JSON request body is required.", code: "invalid_json")
        }
        return value
    }

    /// The body's kind by its `Content-Type`.
    enum Kind: Equatable {
        case json
        case form
        case multipart(boundary: String)
    }

    /// The media types a write or sign-in takes (the OpenAPI document lists them for flat bodies).
    static let mediaTypes = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]

    static func kind(of contentType: String?) throws -> Kind {
        guard let contentType, !contentType.trimmingCharacters(in: .whitespaces).isEmpty else { return .json }
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        let type = parts.first?.lowercased() ?? ""
        switch type {
        case "application/json", "text/json": return .json
        case _ where type.hasPrefix("application/") && type.hasSuffix("+json"): return .json
        case "application/x-www-form-urlencoded": return .form
        case "multipart/form-data":
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, pair[0].lowercased() == "boundary" {
                    let boundary = pair[1].hasPrefix("\"") && pair[1].hasSuffix("\"") && pair[1].count >= 2 ? String(pair[1].dropFirst().dropLast()) : pair[1]
                    if (1...70).contains(boundary.utf8.count) { return .multipart(boundary: boundary) }
                }
            }
            throw AppError.badRequest("A multipart/form-data body needs a boundary parameter.", code: "invalid_multipart")
        default:
            throw AppError(
                .unsupportedMediaType, code: "unsupported_media_type",
                message: "Unsupported media type; send application/json, application/x-www-form-urlencoded or multipart/form-data.",
                details: ["accepted": mediaTypes.joined(separator: ", ")]
            )
        }
    }

    /// Like `decode`, but an empty body is nil (an action whose body is optional).
    static func decodeIfPresent<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T? {
        var kind = try kind(of: request.headers[.contentType])
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw AppError(.contentTooLarge, code: "payload_too_large", message: "The request body is too large.", details: ["limit_bytes": String(limit)])
        }
        if buffer.readableBytes == 0 { return nil }
        let decoder = T.self is any JSONKeyed.Type ? JSONCoding.keyedDecoder : JSONCoding.decoder
        // `curl -d '{…}'` labels a JSON body as a form. No form field of this API starts with `{`, so such a body is
        // read as the JSON it is rather than as one nameless field.
        if kind == .form, buffer.readableBytesView.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) == UInt8(ascii: "{") {
            kind = .json
        }
        switch kind {
        case .json:
            // A body type's own reader for the well-formed case; JSONDecoder for the rest and for every error.
            if let fast = T.self as? any FastJSONDecodable.Type, let value = buffer.withUnsafeReadableBytes({ fast.init(fastJSON: $0) }) as? T {
                return value
            }
            do {
                return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
            } catch let error as DecodingError {
                if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                    throw AppError.badRequest("The request body is not valid JSON.", code: "invalid_json")
                }
                throw AppError.validation(details(error))
            }
        case .form:
            guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
                throw AppError.badRequest("The form body is not UTF-8.", code: "invalid_form")
            }
            return try FormFields(RequestInfo.queryItems(rawQuery: text)).decode(T.self, with: decoder)
        case .multipart(let boundary):
            return try FormFields(try MultipartForm.fields(Array(buffer.readableBytesView), boundary: boundary)).decode(T.self, with: decoder)
        }
    }

    /// Field → message for a decoding error (field names only, never values).
    static func details(_ error: DecodingError) -> [String: String] {
        func path(_ codingPath: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
            let keys = codingPath + (key.map { [$0] } ?? [])
            let text = keys.map { $0.intValue.map(String.init) ?? snakeCase($0.stringValue) }.joined(separator: ".")
            return text.isEmpty ? "non_field_errors" : text
        }
        switch error {
        case .keyNotFound(let key, let context): return [path(context.codingPath, key): "This field is required."]
        case .valueNotFound(_, let context): return [path(context.codingPath): "This field may not be null."]
        case .typeMismatch(let type, let context): return [path(context.codingPath): "Expected a value of type \(jsonType(type))."]
        case .dataCorrupted(let context): return [path(context.codingPath): "Invalid value."]
        @unknown default: return ["non_field_errors": "Invalid request body."]
        }
    }

    private static func jsonType(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "string"
        case is Int.Type, is Int64.Type: return "integer"
        case is Double.Type: return "number"
        case is Bool.Type: return "boolean"
        default: return "object"
        }
    }

    static func snakeCase(_ key: String) -> String {
        var result = ""
        for character in key {
            if character.isUppercase {
                result += "_" + character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }
}
