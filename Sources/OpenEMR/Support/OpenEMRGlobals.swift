import Foundation
public import Logging
public import MariaDB
import Synchronization

/// OpenEMR settings from the `globals` table, with OpenEMR's defaults for missing rows (`library/globals.inc.php`).
public struct OpenEMRGlobals: Sendable, Equatable {
    public var passwordMaxFailedLogins = 20
    public var timeResetPasswordMaxFailedLogins = 3600
    public var ipMaxFailedLogins = 100
    public var ipTimeResetPasswordMaxFailedLogins = 3600
    public var passwordExpirationDays = 180
    public var passwordGraceTime = 30
    /// Core session idle timeout (`timeout`), seconds.
    public var sessionTimeout = 7200
    /// Portal idle timeout (`portal_timeout`), seconds.
    public var portalTimeout = 1800
    /// `gbl_time_zone`; empty means PHP's default (UTC on the official images).
    public var timeZone = ""
    /// `weekend_days` as OpenEMR reads it (`explode(',', …)`; "6,0" by default: Saturday, Sunday), for the work-day
    /// steps of repeating appointments. An entry that is not a number never matches a week day.
    public var weekendDays: [Int?] = [6, 0]

    public init() {}

    static let names = [
        "password_max_failed_logins", "time_reset_password_max_failed_logins", "ip_max_failed_logins",
        "ip_time_reset_password_max_failed_logins", "password_expiration_days", "password_grace_time", "timeout", "portal_timeout",
        "gbl_time_zone", "weekend_days",
    ]

    init(values: [String: String]) {
        func int(_ name: String, _ fallback: Int) -> Int {
            guard let text = values[name]?.trimmingCharacters(in: " "), let value = Int(text) else { return fallback }
            return value
        }
        passwordMaxFailedLogins = int("password_max_failed_logins", passwordMaxFailedLogins)
        timeResetPasswordMaxFailedLogins = int("time_reset_password_max_failed_logins", timeResetPasswordMaxFailedLogins)
        ipMaxFailedLogins = int("ip_max_failed_logins", ipMaxFailedLogins)
        ipTimeResetPasswordMaxFailedLogins = int("ip_time_reset_password_max_failed_logins", ipTimeResetPasswordMaxFailedLogins)
        passwordExpirationDays = int("password_expiration_days", passwordExpirationDays)
        passwordGraceTime = int("password_grace_time", passwordGraceTime)
        sessionTimeout = int("timeout", sessionTimeout)
        portalTimeout = int("portal_timeout", portalTimeout)
        timeZone = values["gbl_time_zone"] ?? ""
        if let text = values["weekend_days"] {
            weekendDays = text.split(separator: ",", omittingEmptySubsequences: false).map { AppointmentRecurrence.phpInteger(String($0), whole: true) }
        }
    }
}

/// Reads the globals at most every `refreshInterval`, so that an admin's change in OpenEMR applies within seconds
/// without a query per request.
public final class OpenEMRGlobalsCache: Sendable {
    private let database: MariaDBClient
    private let refreshInterval: Duration
    private let state = Mutex<(value: OpenEMRGlobals, fetched: ContinuousClock.Instant)?>(nil)

    public init(database: MariaDBClient, refreshInterval: Duration = .seconds(15)) {
        self.database = database
        self.refreshInterval = refreshInterval
    }

    /// The cached values, refreshed on a pooled connection of its own when older than `refreshInterval`.
    ///
    /// Never call this while holding a connection (inside `withConnection`/`withTransaction`): a refresh would lease
    /// a second one, and with the pool full of such holders every one of them waits out the lease timeout. Use
    /// `current(on:)` there.
    public func current(logger: Logger) async throws -> OpenEMRGlobals {
        if let cached = fresh() { return cached }
        return try store(try await database.query(Self.query, logger: logger))
    }

    /// The cached values, refreshed on the caller's connection (inside its transaction, if any) when stale: never
    /// leases a connection.
    public func current(on connection: MariaDBConnection) async throws -> OpenEMRGlobals {
        if let cached = fresh() { return cached }
        return try store(try await connection.query(Self.query))
    }

    static let query: MariaDBQuery = "SELECT gl_name, gl_value FROM globals WHERE gl_index = 0 AND gl_name IN (\(list: OpenEMRGlobals.names))"

    private func fresh() -> OpenEMRGlobals? {
        guard let cached = state.withLock({ $0 }), ContinuousClock.now - cached.fetched < refreshInterval else { return nil }
        return cached.value
    }

    private func store(_ result: MariaDBResult) throws -> OpenEMRGlobals {
        var values: [String: String] = [:]
        for row in result.rows { values[try row.decode("gl_name", as: String.self)] = try row.decode("gl_value", as: String.self) }
        let globals = OpenEMRGlobals(values: values)
        state.withLock { $0 = (globals, ContinuousClock.now) }
        return globals
    }

    /// Forgets the cached values (tests change globals between requests).
    public func invalidate() { state.withLock { $0 = nil } }
}
