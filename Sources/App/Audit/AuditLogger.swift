public import Logging
public import MariaDB

/// Writes rows to OpenEMR's audit log (`log` + `log_comment_encrypt`) so that OpenEMR's own log viewer shows them.
///
/// See REFERENCE.md §5: the viewer reads `log_comment_encrypt` LEFT JOIN `log`, so both rows are written, in the
/// caller's transaction when there is one.
public struct AuditLogger: Sendable {
    let database: MariaDBClient
    let logger: Logger

    public init(database: MariaDBClient, logger: Logger) {
        self.database = database
        self.logger = logger
    }
}
