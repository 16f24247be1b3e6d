/// Logger metadata keys used by the MariaDB layer.
public enum MariaDBLoggingKey: String, Sendable {
    case connectionID = "mariadb_connection_id"
    case errorNumber = "mariadb_error_number"
    case sqlState = "mariadb_sql_state"
    case error = "mariadb_error"
    case leased = "mariadb_pool_leased"
    case waiters = "mariadb_pool_waiters"
}
