import Foundation
public import OpenEMR
public import HTTPTypes
public import Hummingbird

/// A client-facing error, rendered as `{"error":{"code","message","details"}}`.
///
/// `message` and `details` are written for the API user and never contain patient data, SQL or stack traces.
public struct AppError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    /// A stable, machine-readable code (`not_found`, `validation_error`, `account_locked`, …).
    public var code: String
    public var message: String
    /// Per-field messages for validation errors, or other small facts.
    public var details: [String: String]
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, details: [String: String] = [:], headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    public var description: String { "AppError(\(status.code) \(code))" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Self.response(status: status, code: code, message: message, details: details, headers: headers)
    }

    static func response(status: HTTPResponse.Status, code: String, message: String, details: [String: String], headers: HTTPFields = [:])
        -> Response
    {
        var body = #"{"error":{"code":"# + JSONText.quoted(code) + #","message":"# + JSONText.quoted(message) + #","details":{"#
        var first = true
        for key in details.keys.sorted() {
            body += (first ? "" : ",") + JSONText.quoted(key) + ":" + JSONText.quoted(details[key] ?? "")
            first = false
        }
        body += "}}}"
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    // MARK: Common errors

    public static func validation(_ details: [String: String], message: String = "The request has invalid fields.") -> AppError {
        AppError(.badRequest, code: "validation_error", message: message, details: details)
    }
    public static func badRequest(_ message: String, code: String = "bad_request") -> AppError {
        AppError(.badRequest, code: code, message: message)
    }
    public static func notFound(_ message: String = "Not found.") -> AppError { AppError(.notFound, code: "not_found", message: message) }
    public static let unauthorized = AppError(
        .unauthorized, code: "not_authenticated", message: "Authentication credentials were not provided or are invalid.",
        headers: [.wwwAuthenticate: "Bearer"]
    )
    public static func forbidden(_ message: String = "You do not have permission to perform this action.", code: String = "permission_denied")
        -> AppError
    {
        AppError(.forbidden, code: code, message: message)
    }
    public static func conflict(_ message: String) -> AppError { AppError(.conflict, code: "conflict", message: message) }
    public static let databaseUnavailable = AppError(
        .serviceUnavailable, code: "database_unavailable", message: "The database is not reachable right now; try again shortly.",
        headers: [.retryAfter: "5"]
    )
}

extension AppError {
    /// The one place where a domain error becomes an HTTP status (and `Retry-After`).
    public init(_ error: OpenEMRError) {
        let status: HTTPResponse.Status
        switch error.kind {
        case .invalid: status = .badRequest
        case .unauthenticated: status = .unauthorized
        case .forbidden: status = .forbidden
        case .notFound: status = .notFound
        case .conflict: status = .conflict
        case .gone: status = .gone
        case .staleVersion: status = .preconditionFailed
        case .locked: status = HTTPResponse.Status(code: 423, reasonPhrase: "Locked")
        case .unavailable: status = .serviceUnavailable
        case .tooLarge: status = .contentTooLarge
        case .unsupportedMediaType: status = .unsupportedMediaType
        case .inconsistent: status = .internalServerError
        }
        var headers: HTTPFields = [:]
        if let retryAfter = error.retryAfter { headers[.retryAfter] = String(retryAfter) }
        if error.kind == .inconsistent {
            self.init(status, code: "internal_error", message: "Internal server error.", headers: headers)
        } else {
            self.init(status, code: error.code, message: error.message, details: error.details, headers: headers)
        }
    }
}

/// Minimal JSON text helpers for hand-written bodies.
enum JSONText {
    /// The JSON string literal for `text`, quotes included.
    static func quoted(_ text: String) -> String {
        var writer = JSONWriter(capacity: text.utf8.count + 2)
        writer.string(text)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}
