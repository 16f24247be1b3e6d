/// What goes wrong in the OpenEMR domain, for a caller to act on: the HTTP skin turns each kind into a status code and
/// the JSON error body, the command line into a message and an exit status.
///
/// `message` and `details` are written for the API user and never contain patient data, SQL or MariaDB's own text.
public struct OpenEMRError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The input breaks a rule (per-field `details`).
        case invalid
        /// The credentials or the session do not identify anyone allowed in.
        case unauthenticated
        /// Known caller, not allowed to do this.
        case forbidden
        /// No such thing (or the caller may not know it exists).
        case notFound
        /// The change conflicts with what is stored.
        case conflict
        /// It existed and is over for good (an ended video visit).
        case gone
        /// The caller's version of the record is stale (optimistic locking).
        case staleVersion
        /// Blocked for a while (too many failures).
        case locked
        /// Not now: the database or a limited resource is busy; `retryAfter` seconds.
        case unavailable
        /// The request's content is larger than this server accepts.
        case tooLarge
        /// The request's content is of a type this operation does not take.
        case unsupportedMediaType
        /// An invariant of the stored data does not hold (a bug or a broken database); never the caller's fault.
        case inconsistent
    }

    public var kind: Kind
    /// A stable, machine-readable code (`validation_error`, `invalid_credentials`, `patient_has_records`, …).
    public var code: String
    public var message: String
    public var details: [String: String]
    /// Seconds after which a retry may succeed (`unavailable`).
    public var retryAfter: Int?

    public init(_ kind: Kind, code: String, message: String, details: [String: String] = [:], retryAfter: Int? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.details = details
        self.retryAfter = retryAfter
    }

    public var description: String { "OpenEMRError(\(kind) \(code))" }

    // MARK: Common errors

    public static func validation(_ details: [String: String], message: String = "The request has invalid fields.") -> OpenEMRError {
        OpenEMRError(.invalid, code: "validation_error", message: message, details: details)
    }
    public static func notFound(_ message: String = "Not found.") -> OpenEMRError { OpenEMRError(.notFound, code: "not_found", message: message) }
    public static func forbidden(_ message: String = "You do not have permission to perform this action.", code: String = "permission_denied")
        -> OpenEMRError
    {
        OpenEMRError(.forbidden, code: code, message: message)
    }
    public static func conflict(_ message: String, code: String = "conflict", details: [String: String] = [:]) -> OpenEMRError {
        OpenEMRError(.conflict, code: code, message: message, details: details)
    }
    public static let busy = OpenEMRError(.unavailable, code: "busy", message: "The database is busy; try again.", retryAfter: 1)
    public static func inconsistent(_ message: String) -> OpenEMRError { OpenEMRError(.inconsistent, code: "internal_error", message: message) }
}
