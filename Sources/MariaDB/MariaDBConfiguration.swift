/// How to reach and use a MariaDB server.
public struct MariaDBConfiguration: Sendable {
    /// TLS settings, named after `DB_SSL_MODE` values (MySQL's `--ssl-mode`).
    public struct TLS: Sendable, Hashable {
        public enum Mode: String, Sendable, Hashable, CaseIterable {
            /// No TLS.
            case disabled = "DISABLED"
            /// Use whatever the client library negotiates by default (Connector/C 3.3: no TLS unless the server requires it).
            case preferred = "PREFERRED"
            /// TLS is required, the certificate is not checked.
            case required = "REQUIRED"
            /// TLS is required and the server certificate must chain to `caFile`.
            case verifyCA = "VERIFY_CA"
            /// As `verifyCA`, and the certificate must name the host.
            case verifyIdentity = "VERIFY_IDENTITY"
        }

        public var mode: Mode
        /// PEM file with the CA certificates (`DB_SSL_CA`).
        public var caFile: String?

        public init(mode: Mode, caFile: String? = nil) {
            self.mode = mode
            self.caFile = caFile
        }

        public static let disabled = TLS(mode: .disabled)
        public static let preferred = TLS(mode: .preferred)
    }

    /// Pool sizing, timeouts and liveness.
    public struct Options: Sendable {
        /// Seconds to wait for a TCP/socket connect and handshake. Default 5.
        public var connectTimeout: Int = 5
        /// Seconds a read from the server may block. Default 30.
        public var readTimeout: Int = 30
        /// Seconds a write to the server may block. Default 30.
        public var writeTimeout: Int = 30
        /// Most connections open at once (`DB_POOL_SIZE`). Default 10.
        public var maximumConnections: Int = 10
        /// Seconds a caller waits for a free connection before `leaseTimeout`. Default 5.
        public var leaseTimeout: Double = 5
        /// Seconds an idle connection is kept before it is closed. Default 60.
        public var connectionIdleTimeout: Double = 60
        /// A connection idle longer than this many seconds is pinged before it is lent. Default 2.
        public var pingAfterIdle: Double = 2
        /// Statements run once on every new connection (e.g. OpenEMR's `SET SESSION sql_mode = ''`).
        public var connectionInitStatements: [String] = []
        /// Prepared statements cached per connection. Default 128.
        public var statementCacheSize: Int = 128

        public init() {}
    }

    /// Host name or IP. `localhost` (or empty) makes libmariadb use the unix socket; use `127.0.0.1` for TCP.
    public var host: String
    /// TCP port. Default 3306.
    public var port: Int
    /// Unix socket path; when set it is used instead of TCP.
    public var unixSocket: String?
    public var username: String
    public var password: String
    public var database: String
    public var tls: TLS
    public var options: Options

    public init(
        host: String = "127.0.0.1", port: Int = 3306, unixSocket: String? = nil, username: String, password: String, database: String,
        tls: TLS = .preferred, options: Options = Options()
    ) {
        self.host = host
        self.port = port
        self.unixSocket = unixSocket
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.options = options
    }
}
