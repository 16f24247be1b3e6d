import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MariaDB
import NIOCore
import Prometheus
import Testing

@testable import App
@testable import OpenEMR

extension LiveAppTests {
    /// Issue 2: health, JSON errors, body limit, CORS, metrics, secrets refused outside demo mode.
    @Suite("Live: service foundation", .liveDatabase())
    struct Foundation {
        @Test func healthAnswersWithAndWithoutTrailingSlash() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                for uri in ["/api/health/", "/api/health"] {
                    let response = try await client.send(.get, uri)
                    #expect(response.status == .ok, "\(uri)")
                    #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                    #expect(response.headers[.cacheControl] == "no-store")
                    #expect(
                        response.json
                            == .object(["status": .string("ok"), "database": .string("ok"), "version": .string(EMRBridgeVersion.current)]),
                        "\(uri): \(response.text)"
                    )
                }
            }
        }

        @Test func appWithARealSecretStartsOutsideDemoMode() async throws {
            let database = try LiveDatabase.require()
            try #require(database.ownUser, "the test user cannot create users (scripts/test.sh grants WITH GRANT OPTION)")
            let configuration = try database.configuration()
            #expect(configuration.demoMode == false)
            #expect(!AppConfiguration.knownDefaultSecrets.contains(configuration.database.password))
            try configuration.validateSecrets()
            try await database.withApp { client async throws in
                #expect(try await client.send(.get, "/api/health/").status == .ok)
            }
            // The same database and user with a well-known password is refused before anything connects.
            await #expect(throws: ConfigurationError.self) {
                _ = try await buildApplication(configuration: try database.configuration(["DB_PASSWORD": "openemr"]), logger: database.logger)
            }
        }

        @Test func unknownRouteIsA404InTheJSONErrorShape() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                for (method, uri) in [(HTTPRequest.Method.get, "/api/does-not-exist/"), (.get, "/nothing"), (.post, "/api/health/x")] {
                    let response = try await client.send(method, uri)
                    #expect(response.status == .notFound, "\(uri)")
                    #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                    let error = response.json["error"]
                    #expect(error["code"].string == "not_found", "\(response.text)")
                    #expect(error["message"].string?.isEmpty == false)
                    #expect(error["details"].object != nil, "details must be an object: \(response.text)")
                    #expect(response.json.object?.keys.sorted() == ["error"])
                }
            }
        }

        @Test func malformedJSONIsA400InvalidJSON() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                for body in [#"{"username": "admin", "password": "#, "not json", "[1, 2", ""] {
                    let response = try await client.send(.post, "/api/auth/login/", json: body)
                    #expect(response.status == .badRequest, "\(body)")
                    #expect(response.errorCode == "invalid_json", "\(body): \(response.text)")
                    #expect(response.json["error"]["details"].object != nil)
                }
            }
        }

        @Test func wrongFieldTypesAreA400WithPerFieldDetails() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                var response = try await client.send(.post, "/api/auth/login/", json: #"{"username": 42, "password": "x"}"#)
                #expect(response.status == .badRequest)
                #expect(response.errorCode == "validation_error", "\(response.text)")
                #expect(response.json["error"]["details"]["username"].string?.contains("string") == true, "\(response.text)")

                response = try await client.send(.post, "/api/auth/login/", json: #"{"username": "admin", "password": false}"#)
                #expect(response.status == .badRequest)
                #expect(response.json["error"]["details"]["password"].string != nil, "\(response.text)")

                response = try await client.send(.post, "/api/auth/login/", json: #"{"username": "admin"}"#)
                #expect(response.status == .badRequest)
                #expect(response.json["error"]["details"]["password"].string == "This field is required.", "\(response.text)")

                // The session bridge's snake_case field, wrongly typed.
                response = try await client.send(.post, "/api/auth/openemr-session/", json: #"{"session_id": 5}"#)
                #expect(response.status == .badRequest)
                #expect(response.json["error"]["details"]["session_id"].string != nil, "\(response.text)")
            }
        }

        @Test func bodyOverTheLimitIsA413JSONError() async throws {
            let database = try LiveDatabase.require()
            let password = String(repeating: "x", count: 4000)
            let big = JSONValue.object(["username": .string("admin"), "password": .string(password)]).text
            try await database.withApp(["BRIDGE_MAX_BODY_BYTES": "2048"]) { client async throws in
                let response = try await client.send(.post, "/api/auth/login/", json: big)
                #expect(response.status == .contentTooLarge)
                #expect(response.errorCode == "payload_too_large", "\(response.text)")
                #expect(response.json["error"]["details"]["limit_bytes"].string == "2048")
                // Just under the limit is read and answered normally (wrong password).
                let small = JSONValue.object(["username": .string("admin"), "password": .string(String(repeating: "y", count: 1900))]).text
                #expect(small.utf8.count <= 2048)
                #expect(try await client.send(.post, "/api/auth/login/", json: small).status == .unauthorized)
            }
            // Also over a real socket.
            try await database.withApp(["BRIDGE_MAX_BODY_BYTES": "2048"], setup: .live) { client async throws in
                let response = try await client.send(.post, "/api/auth/login/", json: big)
                #expect(response.status == .contentTooLarge)
                #expect(response.errorCode == "payload_too_large", "\(response.text)")
            }
        }

        @Test func corsAnswersPreflightOnlyForListedOrigins() async throws {
            let database = try LiveDatabase.require()
            let allowed = "https://app.example.org"
            try await database.withApp(["CORS_ALLOWED_ORIGINS": "\(allowed), https://other.example.org"]) { client async throws in
                var response = try await client.send(
                    .options, "/api/auth/login/",
                    headers: [.origin: allowed, .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "content-type, authorization"]
                )
                #expect(response.status == .noContent)
                #expect(response.headers[.accessControlAllowOrigin] == allowed)
                #expect(response.headers[.accessControlAllowMethods]?.contains("POST") == true)
                #expect(response.headers[.accessControlAllowHeaders]?.lowercased().contains("authorization") == true)
                #expect(response.headers[.accessControlAllowCredentials] == "true")
                #expect(response.headers[.vary]?.contains("Origin") == true)

                // A normal request from the listed origin carries the CORS headers too.
                response = try await client.send(.get, "/api/health/", headers: [.origin: allowed])
                #expect(response.status == .ok)
                #expect(response.headers[.accessControlAllowOrigin] == allowed)

                // Error responses carry them too, so the web app can read the JSON error.
                response = try await client.send(.post, "/api/auth/login/", json: #"{"username": "admin", "password": "wrong"}"#, headers: [.origin: allowed])
                #expect(response.status == .unauthorized)
                #expect(response.headers[.accessControlAllowOrigin] == allowed)

                // A non-listed origin gets no CORS headers at all, preflight or not.
                for method in [HTTPRequest.Method.options, .get] {
                    response = try await client.send(
                        method, method == .get ? "/api/health/" : "/api/auth/login/",
                        headers: [.origin: "https://evil.example.com", .accessControlRequestMethod: "POST"]
                    )
                    #expect(response.headers[.accessControlAllowOrigin] == nil, "\(method)")
                    #expect(response.headers[.accessControlAllowMethods] == nil, "\(method)")
                    #expect(response.headers[.accessControlAllowCredentials] == nil, "\(method)")
                    #expect(response.status != .noContent, "\(method)")
                }
            }
            // Without CORS_ALLOWED_ORIGINS nothing is allowed.
            try await database.withApp { client async throws in
                let response = try await client.send(.options, "/api/auth/login/", headers: [.origin: allowed, .accessControlRequestMethod: "POST"])
                #expect(response.headers[.accessControlAllowOrigin] == nil)
            }
        }

        @Test func metricsAnswersPrometheusText() async throws {
            let database = try LiveDatabase.require()
            try await database.withApp { client async throws in
                _ = try await client.send(.get, "/api/health/")
                let response = try await client.send(.get, "/metrics")
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true, "\(response.headers)")
                #expect(response.headers[.contentType]?.contains("version=0.0.4") == true)
            }
            // With a registry (as `serve` passes), its metrics are exposed in the text format.
            let registry = PrometheusCollectorRegistry()
            registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "emr_bridge_test_marker", unitName: "total", helpText: "A test marker.")).increment(by: Int64(3))
            let app = try await buildApplication(configuration: try database.configuration(), logger: database.logger, metrics: registry)
            try await app.test(.router) { client async throws in
                let response = try await client.send(.get, "/metrics")
                #expect(response.status == .ok)
                #expect(response.text.contains("# TYPE emr_bridge_test_marker_total counter"), "\(response.text)")
                #expect(response.text.contains("emr_bridge_test_marker_total 3"), "\(response.text)")
            }
        }
    }
}

/// Configuration from the environment; no database needed.
@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaultSecretsAreRefusedOutsideDemoMode() throws {
        for secret in ["openemr", "pass", "emr_test", ""] {
            var environment = ["DB_PASSWORD": secret]
            if secret.isEmpty { environment = [:] }
            let configuration = try AppConfiguration.fromEnvironment(environment)
            let error = try #require(throws: ConfigurationError.self, "\(secret)") { try configuration.validateSecrets() }
            #expect(error.key == "DB_PASSWORD")
        }
        // Demo mode allows them (and defaults the password to OpenEMR's demo one).
        let demo = try AppConfiguration.fromEnvironment(["BRIDGE_DEMO": "1"])
        #expect(demo.demoMode)
        #expect(demo.database.password == "openemr")
        try demo.validateSecrets()
        // A real secret passes.
        try AppConfiguration.fromEnvironment(["DB_PASSWORD": "s3cr3t-\(UUID().uuidString)"]).validateSecrets()
    }

    @Test func demoGuestNeedsDemoMode() throws {
        let configuration = try AppConfiguration.fromEnvironment(["DB_PASSWORD": "a-real-secret-1234", "BRIDGE_DEMO_GUEST": "1"])
        let error = try #require(throws: ConfigurationError.self) { try configuration.validateSecrets() }
        #expect(error.key == "BRIDGE_DEMO_GUEST")
        try AppConfiguration.fromEnvironment(["BRIDGE_DEMO": "1", "BRIDGE_DEMO_GUEST": "1"]).validateSecrets()
    }

    @Test(arguments: [
        ("DB_PORT", "abc"), ("DB_PORT", "70000"), ("DB_SSL_MODE", "bogus"), ("BRIDGE_PORT", "-1"), ("BRIDGE_DEMO", "maybe"),
        ("BRIDGE_MAX_BODY_BYTES", "10"), ("BRIDGE_TOKEN_TTL", "5"), ("LOG_LEVEL", "loud"), ("DB_POOL_SIZE", "0"),
        ("DB_CONNECT_TIMEOUT", "x"), ("OPENEMR_SESSION_MAX_AGE", "0"), ("BRIDGE_TRUST_PROXY", "2"),
    ])
    func badValuesNameTheirKey(key: String, value: String) throws {
        let error = try #require(throws: ConfigurationError.self) {
            _ = try AppConfiguration.fromEnvironment(["DB_PASSWORD": "a-real-secret-1234", key: value])
        }
        #expect(error.key == key)
        #expect(error.description.hasPrefix(key))
    }

    @Test func valuesAreRead() throws {
        let configuration = try AppConfiguration.fromEnvironment([
            "DB_HOST": "db.internal", "DB_PORT": "3307", "DB_SOCKET": "/run/mysqld.sock", "DB_USER": "bridge", "DB_PASSWORD": "pw-123456",
            "DB_NAME": "emr", "DB_SSL_MODE": "verify_identity", "DB_SSL_CA": "/ca.pem", "DB_POOL_SIZE": "7", "DB_CONNECT_TIMEOUT": "3",
            "DB_LEASE_TIMEOUT": "4", "BRIDGE_HOST": "0.0.0.0", "BRIDGE_PORT": "9000", "CORS_ALLOWED_ORIGINS": " https://a.example , ,https://b.example",
            "BRIDGE_TOKEN_TTL": "3600", "BRIDGE_MAX_BODY_BYTES": "4096", "LOG_LEVEL": "DEBUG", "OPENEMR_SESSION_PATH": "/sessions",
            "OPENEMR_SESSION_MAX_AGE": "600", "BRIDGE_TRUST_PROXY": "yes", "BRIDGE_AUDIO_DIR": "/srv/audio", "BRIDGE_AUDIO_MAX_BYTES": "1000000",
        ])
        #expect(configuration.audioDirectory == "/srv/audio")
        #expect(configuration.audioMaxBytes == 1_000_000)
        #expect(configuration.database.host == "db.internal")
        #expect(configuration.database.port == 3307)
        #expect(configuration.database.unixSocket == "/run/mysqld.sock")
        #expect(configuration.database.username == "bridge")
        #expect(configuration.database.database == "emr")
        #expect(configuration.database.tls.mode == .verifyIdentity)
        #expect(configuration.database.tls.caFile == "/ca.pem")
        #expect(configuration.database.options.maximumConnections == 7)
        #expect(configuration.database.options.connectTimeout == 3)
        #expect(configuration.database.options.leaseTimeout == 4)
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 9000)
        #expect(configuration.corsAllowedOrigins == ["https://a.example", "https://b.example"])
        #expect(configuration.tokenTTL == 3600)
        #expect(configuration.maxBodyBytes == 4096)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.openEMRSessionPath == "/sessions")
        #expect(configuration.openEMRSessionMaxAge == 600)
        #expect(configuration.trustProxy)
        #expect(configuration.demoMode == false)

        let defaults = try AppConfiguration.fromEnvironment([:])
        #expect(defaults.port == 8080)
        #expect(defaults.host == "127.0.0.1")
        #expect(defaults.database.port == 3306)
        #expect(defaults.database.tls.mode == .preferred)
        #expect(defaults.maxBodyBytes == 4 << 20)
        #expect(defaults.audioDirectory == "/var/lib/emr-bridge/audio")
        #expect(defaults.audioMaxBytes == 200 << 20)
        #expect(defaults.openEMRSessionPath == nil)
        #expect(defaults.openEMRSessionMaxAge == 14400)
    }
}
