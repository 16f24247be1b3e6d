import App
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MariaDB
import Metrics
import Prometheus
import OpenEMR

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `emr-bridge`: the EMRBridge service and its maintenance commands.
@main
struct EMRBridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emr-bridge",
        abstract: "REST bridge beside OpenEMR: sign-in with OpenEMR credentials, a clinical API, transcriptions, Jitsi video visits and encounter import.",
        discussion: """
            Configuration comes from environment variables (DB_HOST, DB_PORT, DB_SOCKET, DB_NAME, DB_USER, DB_PASSWORD, \
            DB_SSL_MODE, DB_SSL_CA, DB_POOL_SIZE, BRIDGE_HOST, BRIDGE_PORT, CORS_ALLOWED_ORIGINS, …); see the README.
            """,
        version: EMRBridgeVersion.current,
        subcommands: [Serve.self, Migrate.self, ImportEncounters.self, MintToken.self],
        defaultSubcommand: Serve.self
    )
}

/// Options shared by every subcommand.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical (overrides LOG_LEVEL).")
    var logLevel: String?

    static func makeLogger(level: Logger.Level, label: String) -> Logger {
        LoggingSystem.bootstrap { label in BridgeLogHandler(label: label) }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

/// Exit with a one-line message on stderr (no stack trace).
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data(("emr-bridge: " + message + "\n").utf8))
    return ExitCode(1)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP service (the default subcommand).")

    @OptionGroup var common: CommonOptions
    @Option(name: .long, help: "Address to listen on (overrides BRIDGE_HOST, default 127.0.0.1).") var host: String?
    @Option(name: .long, help: "Port to listen on (overrides BRIDGE_PORT, default 8080).") var port: Int?
    @Flag(name: .long, help: "Demo mode (same as BRIDGE_DEMO=1): allows the demo database password.") var demo = false

    func run() async throws {
        var environment = ProcessInfo.processInfo.environment
        if demo { environment["BRIDGE_DEMO"] = "1" }
        if let level = common.logLevel { environment["LOG_LEVEL"] = level }
        var configuration: AppConfiguration
        do {
            configuration = try AppConfiguration.fromEnvironment(environment)
            if let host { configuration.host = host }
            if let port { configuration.port = port }
            try configuration.validateSecrets()
        } catch let error as ConfigurationError {
            throw fail("configuration error: \(error)")
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = CommonOptions.makeLogger(level: configuration.logLevel, label: "emr-bridge")
        let app = try await buildApplication(configuration: configuration, logger: logger, metrics: registry)
        try await app.runService()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the OpenEMR tables and apply the service's own migrations (sql/migrations).",
        discussion: """
            Exits non-zero and names the missing tables when the database is not an OpenEMR database.
            Then it adds the one index the service puts on an OpenEMR table, mmt_patient_data_last_updated on \
            patient_data(last_updated), online: it lets the patient search read OpenEMR's changes within a second \
            without scanning patient_data (--without-patient-data-index leaves it out, --remove-patient-data-index drops \
            it; without it the search copy still catches up, by a full scan of patient_data each round). Last, it builds \
            the patient search copy (mmt_patient_search) when it is not built yet.
            """
    )

    @OptionGroup var common: CommonOptions
    @Flag(name: .long, help: "Only check: report missing OpenEMR tables and pending migrations, change nothing.") var checkOnly = false
    @Flag(name: .long, help: "Do not add the index on patient_data(last_updated).") var withoutPatientDataIndex = false
    @Flag(name: .long, help: "Drop the index on patient_data(last_updated) that an earlier migrate added, and stop.") var removePatientDataIndex = false
    @Flag(name: .long, help: "Rebuild the patient search copy from patient_data even when it is built.") var rebuildSearch = false

    /// Needs only the OpenEMR domain (no HTTP): `DB_*`, `BRIDGE_SQL_DIR`, `LOG_LEVEL`.
    func run() async throws {
        var environment = ProcessInfo.processInfo.environment
        if let level = common.logLevel { environment["LOG_LEVEL"] = level }
        let reader = EnvironmentReader(environment)
        let database: MariaDBConfiguration
        let level: Logger.Level
        do {
            database = try DatabaseSettings.fromEnvironment(environment, demo: try reader.bool("BRIDGE_DEMO", default: false))
            level = try reader.logLevel("LOG_LEVEL") ?? .info
        } catch let error as ConfigurationError {
            throw fail("configuration error: \(error)")
        }
        let logger = CommonOptions.makeLogger(level: level, label: "emr-bridge.migrate")
        let directory = Migrator.locateSQLDirectory(configured: reader.string("BRIDGE_SQL_DIR"))
        let checkOnly = self.checkOnly
        let (addIndex, removeIndex, rebuild) = (!withoutPatientDataIndex, removePatientDataIndex, rebuildSearch)
        let report: Migrator.Report
        do {
            report = try await MariaDBClient.withClient(configuration: database, logger: logger) { client in
                let index = PatientSearchIndex(database: client, globals: OpenEMRGlobalsCache(database: client))
                if removeIndex {
                    try await index.setFreshnessIndex(false, logger: logger)
                    print("removed  index \(PatientSearchIndex.freshnessIndexName) on patient_data (if it was there)")
                    return Migrator.Report(missingTables: [], applied: [], alreadyApplied: [], pending: [])
                }
                let report = try await Migrator(client: client, directory: directory, logger: logger).run(checkOnly: checkOnly)
                guard !checkOnly, report.missingTables.isEmpty else { return report }
                if addIndex, try await !index.hasFreshnessIndex(logger: logger) {
                    try await index.setFreshnessIndex(true, logger: logger)
                    print("added    index \(PatientSearchIndex.freshnessIndexName) on patient_data(last_updated)")
                }
                let built = try await index.state(logger: logger)?.built == true
                if rebuild || !built {
                    let count = try await index.rebuild(logger: logger)
                    print("built    patient search copy (\(count ?? 0) patients)")
                }
                return report
            }
        } catch let error as MariaDBError {
            throw fail("cannot use the database \(database.database): \(LogSafe.text(error))")
        } catch let error as MigrationError {
            throw fail(error.message)
        }
        if removePatientDataIndex { return }
        if !report.missingTables.isEmpty {
            throw fail(
                "database \(database.database) is missing OpenEMR tables: \(report.missingTables.joined(separator: ", "))"
            )
        }
        for name in report.alreadyApplied { print("ok       \(name)") }
        for name in report.applied { print("applied  \(name)") }
        for name in report.pending { print("pending  \(name)") }
        if checkOnly && !report.pending.isEmpty {
            throw fail("\(report.pending.count) migration(s) pending")
        }
        print(checkOnly ? "OpenEMR tables present; schema up to date." : "OpenEMR tables present; \(report.applied.count) migration(s) applied.")
    }
}

/// `mint-token`: a Jitsi token and meeting URL from the `JITSI_*` environment, like the old PHP and Python scripts,
/// written to OpenEMR's audit log like every other mint (so it needs the database, `DB_*`); `--verify` tells which
/// Prosody rule, if any, would refuse a token, and needs no database.
struct MintToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mint-token",
        abstract: "Mint a Jitsi token (JITSI_* environment; audited in OpenEMR's log, DB_*), or check one against Prosody's rules (--verify TOKEN).",
        discussion: """
            emr-bridge mint-token ROOM NAME EMAIL [--moderator] [--ttl S] [--user U]   prints the token and the meeting URL
            emr-bridge mint-token --verify TOKEN                           prints the header and claims and the first Prosody rule \
            that refuses the token (exit 1), or that Prosody accepts it and whether it makes a moderator.

            Every minted token is first written to OpenEMR's audit log (event video-token-mint, category Video Visit: room, \
            kind, name, expiry, the operating-system user and a SHA-256 fingerprint of the token), in the database the DB_* \
            variables name. When that row cannot be written (no database configured, or unreachable), no token is minted \
            and the exit status is 2: an unaudited token would give access to a room without a trace. --verify needs no \
            database.
            """
    )

    @Argument(help: "ROOM NAME EMAIL (EMAIL may be empty: \"\").") var arguments: [String] = []
    @Flag(name: .long, help: "A moderator token (the provider).") var moderator = false
    @Option(name: .long, help: "Lifetime in seconds (default JITSI_TOKEN_TTL, 3600).") var ttl: Int?
    @Option(name: .long, help: "The active OpenEMR user the audit row names (default: emr-bridge).") var user: String?
    @Option(name: .long, help: "Check TOKEN as Prosody would, with the JITSI_* settings.") var verify: String?
    @Option(name: .long, help: .hidden) var bench: Int?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        if let bench {
            let result = try JitsiMintBenchmark.run(count: max(1000, bench))
            print(String(format: "hs256_per_cpu_second %.0f\nrs256_per_cpu_second %.0f", result.hs256PerSecond, result.rs256PerSecond))
            return
        }
        let settings: JitsiSettings
        let reader = EnvironmentReader(environment)
        let demo: Bool
        do {
            demo = try reader.bool("BRIDGE_DEMO", default: false)
            settings = try JitsiSettings.fromEnvironment(environment, demo: demo)
            try settings.validateForServe(demo: demo)
        } catch let error as ConfigurationError {
            throw fail("configuration error: \(error)")
        }
        let signer: JitsiSigner
        do { signer = try JitsiSigner(settings: settings) } catch { throw fail("configuration error: JITSI_PRIVATE_KEY_FILE \(error)") }
        if let token = verify {
            let check = ProsodyCheck(.init(settings: settings, publicKeyPEM: signer.publicKeyPEM))
            let verdict = check.check(token.trimmingCharacters(in: .whitespacesAndNewlines), now: Int(Date().timeIntervalSince1970))
            print("header: \(verdict.header?.description ?? "(unreadable)")")
            print("claims: \(verdict.claims?.description ?? "(unreadable)")")
            if let refusal = verdict.refusal {
                print("prosody: REFUSED by \(refusal.rule): \(refusal.message)")
                throw ExitCode(1)
            }
            print("prosody: accepted; moderator: \(verdict.moderator ? "yes" : "no")")
            return
        }
        guard arguments.count == 3 else { throw fail("usage: emr-bridge mint-token ROOM NAME EMAIL [--moderator] [--ttl S] [--user U] | --verify TOKEN") }
        let room = arguments[0]
        guard VideoRoom.isValid(room) else { throw fail("ROOM must be lowercase letters, digits and '-' (as Jitsi matches room names)") }
        let lifetime = ttl ?? settings.tokenTTL
        guard (60...86400 * 7).contains(lifetime) else { throw fail("--ttl must be 60...604800 seconds") }
        let (name, email, moderator, username) = (arguments[1], arguments[2].isEmpty ? nil : arguments[2], self.moderator, user)

        // The audit row comes first: no database, no token.
        let notAudited = "not minted: every token minted here is first written to OpenEMR's audit log"
        let database: MariaDBConfiguration
        let level: Logger.Level
        do {
            database = try DatabaseSettings.fromEnvironment(environment, demo: demo)
            level = try reader.logLevel("LOG_LEVEL") ?? .warning
        } catch let error as ConfigurationError {
            throw refuse("\(notAudited), and the database is not configured (\(error)); set DB_* (see the README). --verify needs no database.")
        }
        let logger = CommonOptions.makeLogger(level: level, label: "emr-bridge.mint-token")
        let minted: ManualJitsiToken.Minted
        do {
            minted = try await MariaDBClient.withClient(configuration: database, logger: logger) { client in
                let audit = AuditLogger(database: client, globals: OpenEMRGlobalsCache(database: client), logger: logger)
                let identity = try await EncounterImporter.actingUser(username, database: client, logger: logger)
                return try await ManualJitsiToken.mint(
                    room: room, name: name, email: email, moderator: moderator, ttl: lifetime, signer: signer, audit: audit, by: identity,
                    osUser: Self.osUser(environment), logger: logger
                )
            }
        } catch let error as OpenEMRError {
            throw refuse("\(notAudited): --user: \(error.message)")
        } catch {
            throw refuse("\(notAudited), and writing to the database \(database.database) failed: \(LogSafe.text(error)). --verify needs no database.")
        }
        print(minted.token)
        print(minted.meetingURL)
    }

    /// Exit 2 with a one-line message: nothing was minted.
    func refuse(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data(("emr-bridge mint-token: " + message + "\n").utf8))
        return ExitCode(2)
    }

    /// Who ran the command, for the audit row: the login that used sudo, else the user.
    static func osUser(_ environment: [String: String]) -> String {
        let name = environment["SUDO_USER"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["LOGNAME"]
        return String((name ?? "uid \(getuid())").prefix(64))
    }
}
