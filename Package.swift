// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

/// How release builds of the two servers are linked on Linux (docs/BENCHMARKS.md, eighth round):
/// - by the toolchain's lld, with relative relocations packed (`DT_RELR`, glibc 2.36 or later)
///   instead of a 2.3 MB table the dynamic linker reads at every start;
/// - without exporting the binary's 18,000 symbols, whose names the dynamic linker would read while
///   it binds each library call (nothing looks these executables' symbols up by name at run time; the
///   symbol table that debuggers, `perf` and backtraces read stays);
/// - given an order file, with the functions it lists placed first, so that the few pages of code
///   a process runs sit next to each other instead of spread over 20 MB of text.
///   `scripts/link-order.sh` writes the file from a profile of the daemon; a name it lists that no
///   longer exists is skipped.
func releaseLinking(order: String? = nil) -> [LinkerSetting] {
    var flags = ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic"]
    if let order {
        flags += [
            "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/\(order)",
            "-Xlinker", "--no-warn-symbol-ordering",
        ]
    }
    return [.unsafeFlags(flags, .when(platforms: [.linux], configuration: .release))]
}

let package = Package(
    name: "promo-sync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "promo-sync", targets: ["PromoSyncCLI"]),
        .executable(name: "promo-central", targets: ["PromoCentralCLI"]),
        .executable(name: "promo-bench", targets: ["PromoBench"]),
        .executable(name: "promo-chaos", targets: ["PromoChaos"]),
        // LD_PRELOADed into the centre by the power-cut campaign of `make chaos`.
        .library(name: "PowerCutShim", type: .dynamic, targets: ["PowerCutShim"]),
        .library(name: "SyncCore", targets: ["SyncCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
    ],
    targets: [
        // Pure domain logic: no database, no network, no files.
        .target(
            name: "SyncCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // The protocol's messages and their hand-written JSON codec, the record fields' JSON, and
        // the release and protocol numbers: what crosses the wire, apart from the rules.
        .target(name: "WireFormat", dependencies: ["SyncCore"], swiftSettings: strict),
        // File formats people write and read, apart from the rules: CSV imports and exports, and
        // the TOML subset of the configuration files.
        .target(name: "CSVFormat", swiftSettings: strict),
        .target(name: "ConfigFormat", swiftSettings: strict),
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(
            name: "CSQLite",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "Replica",
            dependencies: ["SyncCore", "WireFormat", "CSVFormat", "CSQLite", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(name: "GzipCodec", dependencies: ["CZlib"], swiftSettings: strict),
        .target(
            name: "Transport",
            dependencies: ["SyncCore", "WireFormat", "CCurl", "GzipCodec"],
            swiftSettings: strict
        ),
        .target(
            name: "SyncAgent",
            dependencies: [
                "SyncCore", "WireFormat", "ConfigFormat", "Replica", "Transport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Central",
            dependencies: [
                "SyncCore", "WireFormat", "ConfigFormat", "GzipCodec", "CSQLite", "CSVFormat",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                // scrypt for the dashboard's passwords.
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The centre's store copied into PostgreSQL for the ministry's own database and reporting
        // tools (docs/OPERATIONS.md, "The centre in PostgreSQL").
        .target(
            name: "CentralPostgres",
            dependencies: [
                "Central", "SyncCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SyncTesting",
            dependencies: [
                "SyncCore", "WireFormat", "Replica", "Transport", "SyncAgent", "Central", "CentralPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Command-line pieces both executables share.
        .target(
            name: "CLISupport",
            dependencies: ["SyncCore", "WireFormat", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "PromoSyncCLI",
            dependencies: [
                "CMalloc", "CSQLite", "SyncCore", "WireFormat", "Replica", "Transport", "SyncAgent", "CLISupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["promo-sync.order"],
            swiftSettings: strict,
            linkerSettings: releaseLinking(order: "Sources/PromoSyncCLI/promo-sync.order")
        ),
        .executableTarget(
            name: "PromoCentralCLI",
            dependencies: [
                "SyncCore", "WireFormat", "Central", "CentralPostgres", "CLISupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict,
            linkerSettings: releaseLinking()
        ),
        // `make bench` and `make chaos` (docs/BENCHMARKS.md, docs/RELIABILITY.md): real
        // promo-central and promo-sync processes on loopback.
        .target(
            name: "ProcessHarness",
            dependencies: [
                "SyncCore", "WireFormat", "Replica", "Central", "SyncAgent", "Transport", "SyncTesting", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/ProcessHarness",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "PromoBench",
            dependencies: [
                "ProcessHarness", "SyncCore", "WireFormat", "Replica", "Transport", "CSQLite", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/PromoBench",
            swiftSettings: strict
        ),
        .target(name: "PowerCutShim", path: "Benchmarks/PowerCutShim"),
        .executableTarget(
            name: "PromoChaos",
            dependencies: [
                "ProcessHarness", "SyncCore", "WireFormat", "SyncTesting", "Replica", "Central", "SyncAgent", "Transport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/PromoChaos",
            swiftSettings: strict
        ),
        // Golden files are read from the source tree by path, not bundled.
        .testTarget(name: "SyncCoreTests", dependencies: ["SyncCore", "WireFormat", "CSVFormat", "ConfigFormat"], exclude: ["Golden"], swiftSettings: strict),
        .testTarget(name: "ReplicaTests", dependencies: ["Replica", "CSVFormat", "SyncTesting"], swiftSettings: strict),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "GzipCodec", "SyncTesting"], swiftSettings: strict),
        .testTarget(name: "SyncAgentTests", dependencies: ["SyncAgent", "Transport", "SyncTesting"], swiftSettings: strict),
        .testTarget(
            name: "CentralTests", dependencies: ["Central", "Transport", "SyncTesting", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["SyncAgent", "Central", "Replica", "Transport", "GzipCodec", "SyncTesting"],
            swiftSettings: strict
        ),
        // Against the throwaway PostgreSQL cluster `make test` starts (skipped, saying so, without
        // PostgreSQL), and the whole fleet at once, with and without the durable record.
        .testTarget(
            name: "PostgresTests",
            dependencies: [
                "CentralPostgres", "Central", "Replica", "SyncAgent", "SyncTesting", "Transport", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        // The short variant of `make chaos`: it runs the campaigns of the benchmarks' harness, so it
        // alone depends on it (make test runs it by itself, after the rest).
        .testTarget(
            name: "ChaosSmokeTests",
            dependencies: [
                "ProcessHarness", "SyncAgent", "Replica", "Transport", "SyncTesting", "CentralPostgres", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
    ]
)

// `make fuzz` (docs/RELIABILITY.md, "Fuzzing"): libFuzzer targets over the decoders that read what
// the network and the people at the offices hand in. Declared only when PROMO_FUZZ is set: they
// link only with `-sanitize=fuzzer`, so a plain `swift build` or `make test` never sees them.
if Context.environment["PROMO_FUZZ"] != nil {
    package.targets += [
        // libFuzzer's driver entry point, which the executables call from their top-level code.
        .systemLibrary(name: "CFuzzer", path: "Fuzz/CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer"], path: "Fuzz/FuzzSupport", swiftSettings: strict),
    ]
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzWire", ["SyncCore", "WireFormat"]),
        ("FuzzGzip", ["GzipCodec"]),
        ("FuzzCSV", ["CSVFormat", "SyncCore"]),
        ("FuzzConfig", ["ConfigFormat", "SyncCore"]),
    ]
    for target in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: target.name, dependencies: ["FuzzSupport"] + target.dependencies,
                path: "Fuzz/\(target.name)", swiftSettings: strict))
        package.products.append(.executable(name: target.name, targets: [target.name]))
    }
}
