public import Logging
import MariaDB

/// How errors appear in log lines.
///
/// A `MariaDBError` is rendered by its kind, error number and SQLSTATE only (`MariaDBError.description`): its server
/// message can quote stored or bound values (`Duplicate entry 'Smith' for key …`, `Incorrect date value: '…'`), so
/// it never reaches a log line or a response. Other errors are rendered by `String(describing:)`, never
/// `String(reflecting:)`.
public enum LogSafe {
    /// The text of `error` for a log line.
    public static func text(_ error: any Error) -> String {
        if let error = error as? MariaDBError { return error.description }
        return String(describing: error)
    }

    /// The `error` metadata value, plus `mariadb_error_number` / `mariadb_sql_state` for MariaDB errors.
    public static func metadata(_ error: any Error) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["error": .string(text(error))]
        if let error = error as? MariaDBError {
            if let number = error.serverErrorNumber { metadata[MariaDBLoggingKey.errorNumber.rawValue] = "\(number)" }
            if let sqlState = error.sqlState { metadata[MariaDBLoggingKey.sqlState.rawValue] = .string(sqlState) }
        }
        return metadata
    }
}
