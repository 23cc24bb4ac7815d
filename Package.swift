// swift-tools-version:6.1
import PackageDescription

// Hummingbird's house settings: Swift 6 mode everywhere, explicit existentials, imports
// internal unless declared `public import`, and members visible only through their own imports.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "rom",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rom", targets: ["rom"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.0"),
        // Staff sign-in: bcrypt for passwords and RFC 6238 TOTP, from Hummingbird's own auth package.
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-extras/swift-extras-base64.git", from: "1.2.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.0"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
    ],
    targets: [
        // Pure cores: values in, values out. No clock, no database, no network.
        .target(name: "Instruments", swiftSettings: swiftSettings),
        .target(name: "Scheduling", dependencies: ["Instruments"], swiftSettings: swiftSettings),
        .target(name: "Intake", dependencies: ["Instruments", "Scheduling"], swiftSettings: swiftSettings),
        .target(name: "Review", dependencies: ["Instruments", "Scheduling", "Intake", .product(name: "Mustache", package: "swift-mustache")], swiftSettings: swiftSettings),

        // Edges.
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),
        .target(
            name: "Storage",
            dependencies: [
                "Instruments", "Scheduling", "Intake", "Review",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Delivery",
            dependencies: [
                "CCurl", "Storage", "Scheduling",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ROMService",
            dependencies: [
                "Instruments", "Scheduling", "Intake", "Review", "Delivery", "Storage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            ],
            // The API contract (OpenAPI 3.1), served at /api/v1/openapi.json; `openapi.yaml` at the top links here.
            resources: [.copy("Resources/openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "rom",
            dependencies: [
                "ROMService", "Instruments", "Intake", "Scheduling", "Storage", "Delivery", "Review",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // Release-mode measurement harness behind scripts/bench.
        .executableTarget(
            name: "rom-bench",
            dependencies: ["ROMService", "ROMTesting", "Instruments", "Scheduling", "Storage", "Delivery", "Review", .product(name: "Logging", package: "swift-log"), .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "SQLKit", package: "sql-kit")],
            swiftSettings: swiftSettings
        ),

        // Fuzz targets for the parsers (scripts/fuzz builds them with libFuzzer; plain builds replay a corpus).
        .executableTarget(name: "rom-fuzz", dependencies: ["Instruments", "Intake"], swiftSettings: swiftSettings),

        // Shared test support: fixtures, fixed clocks, config builders.
        .target(
            name: "ROMTesting",
            dependencies: ["ROMService", "Storage", "Instruments", .product(name: "SQLKit", package: "sql-kit"),
                           .product(name: "HummingbirdOTP", package: "hummingbird-auth")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "InstrumentsTests",
            dependencies: [
                "Instruments", "ROMService", "ROMTesting",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SchedulingTests", dependencies: ["Scheduling", "ROMService", "ROMTesting", .product(name: "PropertyBased", package: "swift-property-based")], swiftSettings: swiftSettings),
        .testTarget(name: "IntakeTests", dependencies: ["Intake", "Instruments", "Scheduling", "ROMTesting", .product(name: "PropertyBased", package: "swift-property-based")], swiftSettings: swiftSettings),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "ROMTesting", "Scheduling", .product(name: "SQLKit", package: "sql-kit"), .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .testTarget(name: "DeliveryTests", dependencies: ["Delivery", "Storage", "ROMService", "ROMTesting", "Scheduling", .product(name: "Crypto", package: "swift-crypto"), .product(name: "PropertyBased", package: "swift-property-based"), .product(name: "Mustache", package: "swift-mustache")], swiftSettings: swiftSettings),
        .testTarget(
            name: "ReviewTests",
            dependencies: [
                "Review", "Instruments", "Intake", "ROMService", "ROMTesting", "Storage", "Scheduling",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Read by path from the repository (ROM_UPDATE_GOLDEN rewrites them there), not bundled.
            exclude: ["Golden"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "ROMService", "ROMTesting", "Storage", "Scheduling", "Delivery", "Instruments", "Intake",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ROMServiceTests",
            dependencies: [
                "ROMService", "ROMTesting", "Storage", "Scheduling", "Instruments", "Intake", "Delivery",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
