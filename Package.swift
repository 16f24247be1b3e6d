// swift-tools-version:6.2
import PackageDescription

/// `EMR_WARNINGS_AS_ERRORS=1` (scripts/test.sh sets it): a compiler warning in this package's own targets fails the
/// build. Only our targets get the setting; the dependencies' warnings are theirs.
let warningsAsErrors: [SwiftSetting] = Context.environment["EMR_WARNINGS_AS_ERRORS"] == "1" ? [.treatAllWarnings(as: .error)] : []

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
] + warningsAsErrors

let package = Package(
    name: "emr-bridge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "emr-bridge", targets: ["EMRBridge"]),
        .library(name: "MariaDB", targets: ["MariaDB"]),
        .library(name: "PasswordCrypt", targets: ["PasswordCrypt"]),
        .library(name: "OpenEMR", targets: ["OpenEMR"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Only the OpenAPI 3.1 module; the default ExternalLoading trait (loading external $refs) is not needed.
        .package(url: "https://github.com/mattpolzin/OpenAPIKit.git", from: "6.4.0", traits: []),
    ],
    targets: [
        // MARK: C system libraries
        .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb", providers: [.apt(["libmariadb-dev"])]),
        .systemLibrary(name: "CCrypt", pkgConfig: "libcrypt", providers: [.apt(["libcrypt-dev"])]),
        .systemLibrary(name: "CArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // MARK: Libraries
        .target(
            name: "MariaDB",
            dependencies: [
                "CMariaDB",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PasswordCrypt",
            dependencies: [
                "CCrypt",
                "CArgon2",
                "COpenSSL",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PHPSerialization",
            swiftSettings: swiftSettings
        ),
        // The OpenEMR domain: what the API, the command line and the import share. Never Hummingbird or HTTPTypes
        // (scripts/check-layout.sh checks the dependency graph).
        .target(
            name: "OpenEMR",
            dependencies: [
                "MariaDB",
                "PasswordCrypt",
                "PHPSerialization",
                // Jitsi tokens: HMAC-SHA-256 and RSA PKCS#1 v1.5 signatures (Video/).
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP skin: router, controllers, middleware, OpenAPI, and where a domain error becomes a status code.
        .target(
            name: "App",
            dependencies: [
                "OpenEMR",
                "MariaDB",
                "PasswordCrypt",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "OpenAPIKit", package: "OpenAPIKit"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "EMRBridge",
            dependencies: [
                "App",
                "OpenEMR",
                "MariaDB",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        .target(
            name: "EMRTestSupport",
            path: "Tests/EMRTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MariaDBTests",
            dependencies: ["MariaDB", "EMRTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PasswordCryptTests",
            dependencies: ["PasswordCrypt", .product(name: "NIOPosix", package: "swift-nio")],
            resources: [.copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PHPSerializationTests",
            dependencies: ["PHPSerialization"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AppTests",
            dependencies: [
                "App",
                "OpenEMR",
                "MariaDB",
                "EMRTestSupport",
                "PasswordCrypt",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OpenAPIKit", package: "OpenAPIKit"),
                // A raw HTTP client for Server-Sent Events streams (LiveVideoTests).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
