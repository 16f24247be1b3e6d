/// An error from the MariaDB layer.
///
/// `description` is deliberately generic: it names the error code, the server error number and the SQLSTATE only,
/// so that SQL text, bound values (patient data) and server messages (which can quote values: `Duplicate entry
/// 'Smith' for key …`) never reach a log line or an HTTP response by accident. `debugDescription` (read with
/// `String(reflecting:)`, and by Swift's default printing of a value that holds this error) adds the SQL text
/// (placeholders only) but never the server message either. Only code that reads `serverMessage` itself sees it.
public struct MariaDBError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case connectionFailed, server, statement, decoding, leaseTimeout, poolClosed, threadPoolInactive, tlsRequired, invalidConfiguration
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Could not open a connection (server down, bad credentials, TLS failure, timeout).
        public static let connectionFailed = Code(.connectionFailed)
        /// The server answered a statement with an error.
        public static let server = Code(.server)
        /// The client library rejected a statement (prepare, bind, fetch).
        public static let statement = Code(.statement)
        /// A column could not be decoded into the requested Swift type.
        public static let decoding = Code(.decoding)
        /// No connection became free within the lease timeout.
        public static let leaseTimeout = Code(.leaseTimeout)
        /// The client is shut down.
        public static let poolClosed = Code(.poolClosed)
        /// The blocking thread pool is not running.
        public static let threadPoolInactive = Code(.threadPoolInactive)
        /// TLS was required but could not be established.
        public static let tlsRequired = Code(.tlsRequired)
        /// The configuration is invalid.
        public static let invalidConfiguration = Code(.invalidConfiguration)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// `mysql_errno` / `mysql_stmt_errno`, when the C client reported one.
    public var serverErrorNumber: UInt32?
    /// `mysql_sqlstate`, when reported.
    public var sqlState: String?
    /// The server or client message. May quote values: never put it in a log line or a response (neither
    /// `description` nor `debugDescription` includes it).
    public var serverMessage: String?
    /// The SQL text (with `?` placeholders, never values).
    public var query: String?
    /// For decoding errors: the column name.
    public var column: String?

    public init(
        code: Code, serverErrorNumber: UInt32? = nil, sqlState: String? = nil, serverMessage: String? = nil, query: String? = nil,
        column: String? = nil
    ) {
        self.code = code
        self.serverErrorNumber = serverErrorNumber
        self.sqlState = sqlState
        self.serverMessage = serverMessage
        self.query = query
        self.column = column
    }

    /// Duplicate key (ER_DUP_ENTRY 1062).
    public var isDuplicateKey: Bool { serverErrorNumber == 1062 }

    /// Deadlock (1213) or lock wait timeout (1205): the transaction may be retried.
    public var isRetryableTransactionError: Bool { serverErrorNumber == 1213 || serverErrorNumber == 1205 }

    /// The connection is unusable: server gone (2006), lost (2013), cannot connect (2002, 2003), killed (1927),
    /// disconnected for inactivity (4031), or the server is shutting down (1053).
    public var isConnectionLost: Bool {
        if code == .connectionFailed { return true }
        guard let number = serverErrorNumber else { return false }
        return [2006, 2013, 2002, 2003, 2055, 1927, 4031, 1053].contains(number)
    }

    /// True for errors that mean "the database is unavailable right now" (answer 503, try again later).
    public var isUnavailable: Bool {
        isConnectionLost || code == .leaseTimeout || code == .poolClosed || code == .threadPoolInactive || code == .connectionFailed
            || code == .tlsRequired
    }

    public var description: String {
        var text = "MariaDBError(code: \(code)"
        if let number = serverErrorNumber { text += ", errno: \(number)" }
        if let sqlState { text += ", sqlstate: \(sqlState)" }
        if let column { text += ", column: \(column)" }
        return text + ")"
    }

    /// `description` plus the SQL text (with `?` placeholders). Never the server message, which may quote values.
    public var debugDescription: String {
        var text = description
        if let query { text += " query: \(query)" }
        return text
    }
}
