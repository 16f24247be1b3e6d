import Foundation
public import Logging
public import MariaDB
public import OpenEMR

/// Everything the service reads from its environment. Each key is documented in the README.
public struct AppConfiguration: Sendable {
    /// `BRIDGE_HOST` (default `127.0.0.1`).
    public var host: String = "127.0.0.1"
    /// `BRIDGE_PORT` (default 8080; 0 picks a free port).
    public var port: Int = 8080
    /// `DB_*`: the MariaDB connection.
    public var database: MariaDBConfiguration
    /// `BRIDGE_DEMO=1`: demo mode (known demo secrets allowed, demo guest possible).
    public var demoMode: Bool = false
    /// `BRIDGE_DEMO_GUEST=1` (demo mode only): allow the read-only guest login.
    public var demoGuest: Bool = false
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins of the Flutter web apps (`*` allows any origin).
    public var corsAllowedOrigins: [String] = []
    /// `BRIDGE_TOKEN_TTL`: token lifetime in seconds (default 8 h).
    public var tokenTTL: Int = 8 * 3600
    /// `BRIDGE_READ_BATCHES`: coalesced `GET /api/patients/{pid}/` batches in flight at once (default: half the cores,
    /// at least 1). Fewer batches are larger: fewer database round trips per request.
    public var readBatches: Int = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
    /// `BRIDGE_MAX_BODY_BYTES`: largest JSON request body (default 4 MiB: a three-hour transcription's 3,000 segments
    /// with long lines fit).
    public var maxBodyBytes: Int = 4 << 20
    /// `BRIDGE_AUDIO_DIR`: folder for transcription recordings (default `/var/lib/emr-bridge/audio`; created when missing).
    public var audioDirectory: String = "/var/lib/emr-bridge/audio"
    /// `BRIDGE_AUDIO_MAX_BYTES`: largest recording accepted (default 200 MiB); larger uploads get 413.
    public var audioMaxBytes: Int = 200 << 20
    /// Largest body of `POST /api/encounters/import/` (`BRIDGE_IMPORT_MAX_BYTES`, 413 above); streamed to a temporary file.
    public var importMaxBytes: Int = 1 << 30
    /// `LOG_LEVEL` (default `info`).
    public var logLevel: Logger.Level = .info
    /// `OPENEMR_SESSION_PATH`: OpenEMR's PHP session folder (read-only), for the session bridge.
    public var openEMRSessionPath: String?
    /// `OPENEMR_SESSION_MAX_AGE`: a session file older than this many seconds is stale (default 14400).
    public var openEMRSessionMaxAge: Int = 14400
    /// `OPENEMR_SITE_ID`: OpenEMR's site (default `default`).
    public var openEMRSiteID: String = "default"
    /// `BRIDGE_ALLOW_PATIENT_DELETE=1`: admins may delete patients (off by default).
    public var allowPatientDelete: Bool = false
    /// `BRIDGE_SQL_DIR`: folder holding `migrations/` (default: `./sql`, or next to the executable's checkout).
    public var sqlDirectory: String?
    /// `BRIDGE_TRUST_PROXY=1`: take the client address from `X-Forwarded-For` (behind a reverse proxy).
    public var trustProxy: Bool = false
    /// `BRIDGE_PUBLIC_URL`: absolute base URL for page links (default: from the request's Host header).
    public var publicURL: String?
    /// `BRIDGE_TRUSTED_PROXIES`: addresses or CIDR ranges of the reverse proxies (with `BRIDGE_TRUST_PROXY=1`); empty
    /// means only the direct peer is a proxy.
    public var trustedProxies: [IPRange] = []
    /// `BRIDGE_LOGIN_QUEUE_DEPTH`: sign-ins (password checks) in progress at once; more answer 503 with `Retry-After`.
    public var loginQueueDepth: Int = 32
    /// `BRIDGE_PORTAL_MAX_FAILED_LOGINS`: failed portal sign-ins per account before it is locked (0: no account limit).
    public var portalMaxFailedLogins: Int = 10
    /// `BRIDGE_PORTAL_IP_MAX_FAILED_LOGINS`: failed portal sign-ins per client address before it is blocked (0: none).
    public var portalIPMaxFailedLogins: Int = 100
    /// `BRIDGE_PORTAL_LOCKOUT_SECONDS`: how long portal failures count (and a portal lock lasts) after the last one.
    public var portalLockoutSeconds: Int = 3600
    /// `BRIDGE_TOKEN_PURGE_INTERVAL`: seconds between purges of expired and revoked tokens (0: never).
    public var tokenPurgeInterval: Int = 300
    /// `JITSI_*`: video visits (issue 16); `jitsi.isConfigured` false means video is off unless a facility configures it.
    public var jitsi = JitsiSettings()
    /// Whether any `JITSI_*` variable that turns video on was set: then `validateSecrets()` checks the Jitsi secret/key.
    public var jitsiRequested: Bool = false
    /// `JITSI_EVENTS_INTERVAL_MS`: how often each replica checks MariaDB for visit changes for all its event streams
    /// (one query per interval; default 250 ms).
    public var videoEventsInterval: Int = 250
    /// Milliseconds between two catch-up reads of the patient search copy (0: this replica does not keep it fresh).
    public var searchSyncInterval: Int = 1000

    public init(database: MariaDBConfiguration) {
        self.database = database
    }

    /// Passwords that ship in OpenEMR's and this project's examples; refused outside demo mode.
    public static let knownDefaultSecrets: Set<String> = ["", "openemr", "pass", "password", "root", "changeme", "secret", "emr_test"]

    /// Reads the configuration from environment variables. Throws a `ConfigurationError` naming the bad key.
    public static func fromEnvironment(_ environment: [String: String]) throws -> AppConfiguration {
        let reader = EnvironmentReader(environment)
        let demo = try reader.bool("BRIDGE_DEMO", default: false)

        var configuration = AppConfiguration(database: try DatabaseSettings.fromEnvironment(environment, demo: demo))
        configuration.demoMode = demo
        configuration.demoGuest = try reader.bool("BRIDGE_DEMO_GUEST", default: false)
        configuration.host = reader.string("BRIDGE_HOST") ?? "127.0.0.1"
        configuration.port = try reader.int("BRIDGE_PORT", default: 8080, range: 0...65535)
        configuration.corsAllowedOrigins = (reader.string("CORS_ALLOWED_ORIGINS") ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
        configuration.tokenTTL = try reader.int("BRIDGE_TOKEN_TTL", default: 8 * 3600, range: 60...(90 * 86400))
        configuration.readBatches = try reader.int("BRIDGE_READ_BATCHES", default: configuration.readBatches, range: 1...256)
        configuration.maxBodyBytes = try reader.int("BRIDGE_MAX_BODY_BYTES", default: 4 << 20, range: 1024...(1 << 30))
        configuration.audioDirectory = reader.string("BRIDGE_AUDIO_DIR") ?? configuration.audioDirectory
        configuration.audioMaxBytes = try reader.int("BRIDGE_AUDIO_MAX_BYTES", default: 200 << 20, range: 1...(1 << 40))
        configuration.importMaxBytes = try reader.int("BRIDGE_IMPORT_MAX_BYTES", default: 1 << 30, range: 1024...(1 << 40))
        if let level = try reader.logLevel("LOG_LEVEL") { configuration.logLevel = level }
        configuration.openEMRSessionPath = reader.string("OPENEMR_SESSION_PATH")
        configuration.openEMRSessionMaxAge = try reader.int("OPENEMR_SESSION_MAX_AGE", default: 14400, range: 1...(30 * 86400))
        configuration.openEMRSiteID = reader.string("OPENEMR_SITE_ID") ?? "default"
        configuration.allowPatientDelete = try reader.bool("BRIDGE_ALLOW_PATIENT_DELETE", default: false)
        configuration.sqlDirectory = reader.string("BRIDGE_SQL_DIR")
        configuration.trustProxy = try reader.bool("BRIDGE_TRUST_PROXY", default: false)
        configuration.publicURL = reader.string("BRIDGE_PUBLIC_URL")
        if let proxies = reader.string("BRIDGE_TRUSTED_PROXIES") {
            switch ClientAddressResolver.parseRanges(proxies) {
            case .success(let ranges): configuration.trustedProxies = ranges
            case .failure(let error):
                throw ConfigurationError(key: "BRIDGE_TRUSTED_PROXIES", message: "has an entry that is not an IP address or CIDR range: \(error.entry)")
            }
        }
        configuration.loginQueueDepth = try reader.int("BRIDGE_LOGIN_QUEUE_DEPTH", default: 32, range: 1...100_000)
        configuration.portalMaxFailedLogins = try reader.int("BRIDGE_PORTAL_MAX_FAILED_LOGINS", default: 10, range: 0...1_000_000)
        configuration.portalIPMaxFailedLogins = try reader.int("BRIDGE_PORTAL_IP_MAX_FAILED_LOGINS", default: 100, range: 0...1_000_000)
        configuration.portalLockoutSeconds = try reader.int("BRIDGE_PORTAL_LOCKOUT_SECONDS", default: 3600, range: 1...(365 * 86400))
        configuration.tokenPurgeInterval = try reader.int("BRIDGE_TOKEN_PURGE_INTERVAL", default: 300, range: 0...86400)
        configuration.jitsi = try JitsiSettings.fromEnvironment(environment, demo: demo)
        configuration.jitsiRequested = JitsiSettings.isRequested(environment)
        configuration.videoEventsInterval = try reader.int("JITSI_EVENTS_INTERVAL_MS", default: 250, range: 20...10_000)
        configuration.searchSyncInterval = try reader.int("BRIDGE_SEARCH_SYNC_INTERVAL_MS", default: 1000, range: 0...600_000)
        return configuration
    }

    /// How the client address of a request is found (`BRIDGE_TRUST_PROXY`, `BRIDGE_TRUSTED_PROXIES`).
    public var clientAddressResolver: ClientAddressResolver {
        ClientAddressResolver(trustProxy: trustProxy, trustedProxies: trustedProxies)
    }

    /// Refuses known default secrets outside demo mode, and a Jitsi configuration that cannot mint tokens Prosody
    /// accepts (missing, short or well-known secret; unreadable key or one that does not fit the algorithm; in demo
    /// mode only the secret's strength is not checked).
    public func validateSecrets() throws {
        if jitsiRequested { try jitsi.validateForServe(demo: demoMode) }
        guard !demoMode else { return }
        if Self.knownDefaultSecrets.contains(database.password) {
            throw ConfigurationError(
                key: "DB_PASSWORD",
                message: "is empty or a well-known default; set a real password (or BRIDGE_DEMO=1 for the demo)"
            )
        }
        if demoGuest {
            throw ConfigurationError(key: "BRIDGE_DEMO_GUEST", message: "is only allowed together with BRIDGE_DEMO=1")
        }
    }
}
