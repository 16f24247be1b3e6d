public import Logging
public import MariaDB

/// The MariaDB connection from the environment (`DB_*`, named as OpenEMR's and Django's deployments name them), for
/// every command: `serve`, `migrate`, and whatever else talks to OpenEMR's database.
public enum DatabaseSettings {
    /// Reads `DB_HOST`, `DB_PORT`, `DB_SOCKET`, `DB_NAME`, `DB_USER`, `DB_PASSWORD` (demo default `openemr`),
    /// `DB_SSL_MODE`, `DB_SSL_CA`, `DB_POOL_SIZE`, `DB_LEASE_TIMEOUT`, `DB_CONNECT_TIMEOUT`, `DB_READ_TIMEOUT`.
    public static func fromEnvironment(_ environment: [String: String], demo: Bool) throws -> MariaDBConfiguration {
        let reader = EnvironmentReader(environment)
        var options = MariaDBConfiguration.Options()
        options.maximumConnections = try reader.int("DB_POOL_SIZE", default: 10, range: 1...512)
        options.leaseTimeout = Double(try reader.int("DB_LEASE_TIMEOUT", default: 5, range: 1...300))
        options.connectTimeout = try reader.int("DB_CONNECT_TIMEOUT", default: 5, range: 1...300)
        options.readTimeout = try reader.int("DB_READ_TIMEOUT", default: 30, range: 1...3600)
        options.writeTimeout = options.readTimeout
        // OpenEMR runs every connection with an empty sql_mode (library/sql.inc.php); rows we write must behave alike.
        options.connectionInitStatements = ["SET SESSION sql_mode = ''"]

        let sslModeText = reader.string("DB_SSL_MODE")?.uppercased() ?? "PREFERRED"
        guard let sslMode = MariaDBConfiguration.TLS.Mode(rawValue: sslModeText) else {
            throw ConfigurationError(key: "DB_SSL_MODE", message: "must be one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY")
        }
        let password = reader.string("DB_PASSWORD") ?? (demo ? "openemr" : "")
        return MariaDBConfiguration(
            host: reader.string("DB_HOST") ?? "127.0.0.1",
            port: try reader.int("DB_PORT", default: 3306, range: 0...65535),
            unixSocket: reader.string("DB_SOCKET"),
            username: reader.string("DB_USER") ?? "openemr",
            password: password,
            database: reader.string("DB_NAME") ?? "openemr",
            tls: .init(mode: sslMode, caFile: reader.string("DB_SSL_CA")),
            options: options
        )
    }
}

/// A configuration value is missing or invalid. The message names the key, never a secret value.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var key: String
    public var message: String
    public var description: String { "\(key) \(message)" }

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }
}

/// Typed reads from an environment dictionary.
public struct EnvironmentReader: Sendable {
    let environment: [String: String]

    public init(_ environment: [String: String]) { self.environment = environment }

    public func string(_ key: String) -> String? {
        guard let value = environment[key], !value.isEmpty else { return nil }
        return value
    }

    public func int(_ key: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = string(key) else { return value }
        guard let parsed = Int(text.trimmingCharacters(in: " ")), range.contains(parsed) else {
            throw ConfigurationError(key: key, message: "must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    /// `LOG_LEVEL`-style values: trace … critical (any case); nil when unset.
    public func logLevel(_ key: String) throws -> Logger.Level? {
        guard let text = string(key) else { return nil }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ConfigurationError(key: key, message: "must be trace, debug, info, notice, warning, error or critical")
        }
        return level
    }

    public func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let text = string(key)?.lowercased() else { return value }
        switch text {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError(key: key, message: "must be 1/0, true/false, yes/no or on/off")
        }
    }
}
