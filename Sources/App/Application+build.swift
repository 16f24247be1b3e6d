import Foundation
public import Hummingbird
public import Logging
public import MariaDB
import NIOPosix
public import PasswordCrypt
public import Prometheus
import ServiceLifecycle
public import OpenEMR

/// Builds the whole service: the MariaDB client (a service of the application), the repositories, the router.
///
/// - Parameters:
///   - configuration: from `AppConfiguration.fromEnvironment`.
///   - logger: the application logger (bootstrapped by `main` only).
///   - metrics: the Prometheus registry behind `/metrics` (bootstrapped by `main`), or nil.
public func buildApplication(
    configuration: AppConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry? = nil
) async throws -> some ApplicationProtocol {
    try configuration.validateSecrets()
    let database = MariaDBClient(configuration: configuration.database, backgroundLogger: logger)
    let services = AppServices(configuration: configuration, database: database, logger: logger)
    let router = buildRouter(services: services, metrics: metrics)
    var app = Application(
        router: router,
        server: .http1(configuration: .init(additionalChannelHandlers: [ExpectContinueHandler()])),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "emr-bridge"),
        services: [database] + services.backgroundServices,
        logger: logger
    )
    app.beforeServerStarts {
        logger.info(
            "emr-bridge starting",
            metadata: ["version": "\(EMRBridgeVersion.current)", "demo": "\(configuration.demoMode)", "port": "\(configuration.port)"]
        )
    }
    return app
}

/// The collaborators every controller may use. Built once per application.
public struct AppServices: Sendable {
    public let configuration: AppConfiguration
    public let database: MariaDBClient
    public let logger: Logger
    /// Slow hashes run here, not on the database threads and not on the event loops.
    public let passwordVerifier: PasswordVerifier
    public let audit: AuditLogger
    public let globals: OpenEMRGlobalsCache
    public let tokens: TokenStore
    public let login: LoginService
    public let sessionBridge: SessionBridge
    public let auditQueue: AuditQueue
    public let directory: DirectoryRepository
    public let transcriptions: TranscriptionRepository
    /// Video visits (issue 16) and the replica's one poller for their event streams.
    public let video: VideoVisitService
    public let videoEvents: VideoEventHub
    let patientReads: PatientReads
    let passwordThreadPool: NIOThreadPool

    public init(configuration: AppConfiguration, database: MariaDBClient, logger: Logger) {
        self.configuration = configuration
        self.database = database
        self.logger = logger
        // Twice the cores: while one login waits on MariaDB (counters, audit, token), another one hashes, so logins
        // keep every core busy; in SCHED_IDLE, so health checks and API requests stay fast meanwhile.
        let pool = NIOThreadPool(numberOfThreads: max(2, 2 * ProcessInfo.processInfo.activeProcessorCount))
        pool.start()
        self.passwordThreadPool = pool
        self.passwordVerifier = PasswordVerifier(threadPool: pool, backgroundPriority: true)
        let globals = OpenEMRGlobalsCache(database: database)
        self.globals = globals
        let audit = AuditLogger(database: database, globals: globals, logger: logger)
        self.audit = audit
        let tokens = TokenStore(
            database: database, ttlSeconds: configuration.tokenTTL, allowGuests: configuration.demoMode && configuration.demoGuest,
            sessions: configuration.openEMRSessionPath.map {
                TokenStore.SessionCheck(directory: $0, maxAge: configuration.openEMRSessionMaxAge, globals: globals, fileThreadPool: pool)
            }
        )
        self.tokens = tokens
        self.login = LoginService(
            database: database, verifier: passwordVerifier, globals: globals, tokens: tokens, audit: audit,
            gate: SignInGate(limit: configuration.loginQueueDepth),
            portalLimits: .init(
                maxFailedLogins: configuration.portalMaxFailedLogins, ipMaxFailedLogins: configuration.portalIPMaxFailedLogins,
                windowSeconds: configuration.portalLockoutSeconds
            )
        )
        self.auditQueue = AuditQueue(audit: audit, logger: logger)
        self.directory = DirectoryRepository(database: database)
        self.transcriptions = TranscriptionRepository(
            database: database, audit: audit, auditQueue: auditQueue, globals: globals,
            audio: AudioStore(directory: configuration.audioDirectory, maxBytes: configuration.audioMaxBytes)
        )
        // Never more than half the pool for coalesced patient reads, so writes and other reads always find a connection.
        self.patientReads = PatientReads(
            database: database, logger: logger,
            maximumConcurrentBatches: max(1, min(configuration.readBatches, configuration.database.options.maximumConnections / 2))
        )
        let video = VideoVisitService(database: database, audit: audit, globals: globals, settings: configuration.jitsi, demo: configuration.demoMode)
        self.video = video
        self.videoEvents = VideoEventHub(service: video, tokens: tokens, interval: .milliseconds(configuration.videoEventsInterval), logger: logger)
        self.sessionBridge = SessionBridge(
            directory: configuration.openEMRSessionPath, siteID: configuration.openEMRSiteID, maxAge: configuration.openEMRSessionMaxAge, database: database, globals: globals,
            tokens: tokens, audit: audit, fileThreadPool: pool
        )
    }

    /// Services that run beside the HTTP server.
    /// Registered after the database client, so they shut down first (the audit queue flushes while the pool lives).
    var backgroundServices: [any Service] {
        var services: [any Service] = [ThreadPoolService(pool: passwordThreadPool), auditQueue, videoEvents]
        if configuration.tokenPurgeInterval > 0 {
            services.append(TokenPurger(tokens: tokens, interval: .seconds(configuration.tokenPurgeInterval), logger: logger))
        }
        if configuration.searchSyncInterval > 0 {
            services.append(
                PatientSearchSync(
                    index: PatientSearchIndex(database: database, globals: globals), database: database, interval: .milliseconds(configuration.searchSyncInterval),
                    logger: logger
                )
            )
        }
        return services
    }
}

/// Shuts a thread pool down with the application.
struct ThreadPoolService: Service {
    let pool: NIOThreadPool
    func run() async throws {
        try? await gracefulShutdown()
        try await pool.shutdownGracefully()
    }
}

/// Builds the router from its collaborators; reads no configuration itself. The router answers `HEAD` as `GET`
/// without the body and 405 with `Allow` for a method a routed path does not serve (`MethodMiddleware.swift`).
public func buildRouter(services: AppServices, metrics: PrometheusCollectorRegistry?) -> BridgeRouter {
    let router = Router(context: AppRequestContext.self)
    let routes = RouteTable()
    router.addMiddleware {
        MetricsMiddleware()
        RequestLogMiddleware(level: .info)
        CORSAllowListMiddleware(allowedOrigins: services.configuration.corsAllowedOrigins)
        ErrorMiddleware()
        MethodNotAllowedMiddleware(routes: routes)
        BodyLimitMiddleware(
            limit: services.configuration.maxBodyBytes, largeBodies: [ImportController.importPath: services.configuration.importMaxBytes]
        )
    }
    HealthController(directory: services.directory, metrics: metrics).addRoutes(to: router)
    // OpenEMR's option lists: what patient writes are checked against, and the document's enums.
    let lists = OpenEMRLists(database: services.database)
    OpenAPIDocument.addRoutes(to: router, lists: lists)
    let authenticator = TokenAuthenticator(tokens: services.tokens)
    AuthController(
        login: services.login, bridge: services.sessionBridge, configuration: services.configuration
    ).addRoutes(to: router, authenticator: authenticator)
    ClinicalController(
        tokens: services.tokens, patients: PatientRepository(database: services.database, audit: services.audit, lists: lists),
        patientReads: services.patientReads, encounters: EncounterRepository(database: services.database, audit: services.audit),
        directory: services.directory, auditQueue: services.auditQueue, configuration: services.configuration
    ).addRoutes(to: router, authenticator: authenticator)
    ImportController(
        imports: EncounterImportService(database: services.database, audit: services.audit, logger: services.logger),
        configuration: services.configuration
    ).addRoutes(to: router, authenticator: authenticator)
    TranscriptionController(
        transcriptions: services.transcriptions, configuration: services.configuration, fileIO: FileIO()
    ).addRoutes(to: router, authenticator: authenticator)
    VideoController(video: services.video, events: services.videoEvents, tokens: services.tokens, configuration: services.configuration)
        .addRoutes(to: router, authenticator: authenticator)
    // 405 with `Allow`, and `HEAD` wherever `GET` is served, from the router's own list of routes.
    routes.load(router.routes.map { (method: $0.method.rawValue, path: $0.path.description) })
    return BridgeRouter(router: router, routes: routes)
}
