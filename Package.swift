// swift-tools-version: 6.1
// fusebench — benchmarking and profiling harness for ML inference kernels.
//
// Build settings (see README "Build settings"):
//   Kernels are compiled for the CPU that builds them (`-target-cpu native`, `-march=native` for C),
//   because the SIMD types only become AVX2/AVX-512 code when a target CPU is named. Set
//   FUSEBENCH_TARGET_CPU (e.g. `znver3`, `haswell`, `x86-64`) to build for another CPU.
//   The ISA the binary was built for is recorded in every run, and the harness refuses to run
//   kernels on a CPU that lacks those instructions (see `Kernels/ISA.swift`). The C kernels have their
//   own target, `CKernels`, built with the same CPU flags; the C shim `CPerfEvent` (perf_event, clocks,
//   the cpuid check, and the comparison with the build's ISA) is built for baseline x86-64, and so are
//   the `FuseBenchCLI` library (the whole command line, whose `main` calls that check before any kernel
//   code) and the `fusebench` executable target that calls it: give none of them CPU flags.
import Foundation
import PackageDescription

let targetCPU = ProcessInfo.processInfo.environment["FUSEBENCH_TARGET_CPU"] ?? "native"
let march = targetCPU == "native" ? "native" : targetCPU
// Kernel code is laid out so that unrelated changes elsewhere cannot move a kernel's speed: every
// function starts on a 64-byte boundary and every innermost loop too (`-align-all-functions=6`,
// `-x86-experimental-pref-innermost-loop-alignment=6`: log2 of 64), so whether a short hot loop
// crosses a 64-byte fetch window is decided by the kernel's own code, not by where the linker put it.
// Without this, a change to the CLI alone moved bias_relu's reference loop across such a boundary and
// made it 55% slower (docs/results.md, "Code layout").
let alignedCode = ["-Xllvm", "-align-all-functions=6", "-Xllvm", "-x86-experimental-pref-innermost-loop-alignment=6"]
let swiftCPU: [SwiftSetting] = [.unsafeFlags(["-target-cpu", targetCPU] + alignedCode)]
let cCPU: [CSetting] = [.unsafeFlags(["-march=\(march)", "-O2", "-falign-functions=64", "-falign-loops=64"])]

// The `Fleet` trait (off by default; `swift build --traits Fleet`) adds the shared fleet store and the
// dashboard: a PostgreSQL engine for the store (`StorePostgres`, vapor/postgres-nio) and `fusebench
// serve` (`Serve`, hummingbird). Without it nothing of SwiftNIO is built, so the README's first command
// stays fast; every command still works on SQLite, and `--db postgres://...` says which build it needs.
let fleet = TargetDependencyCondition.when(traits: ["Fleet"])

let package = Package(
    name: "fusebench",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "FuseBench", targets: ["FuseBench"]),
        .library(name: "FuseBenchCLI", targets: ["FuseBenchCLI"]),
        .executable(name: "fusebench", targets: ["fusebench"]),
    ],
    traits: [
        .trait(name: "Fleet", description: "PostgreSQL fleet store (postgres-nio) and the `serve` dashboard (hummingbird)."),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
    ],
    targets: [
        .target(name: "CPerfEvent"),
        .target(name: "CKernels", dependencies: ["CPerfEvent"], cSettings: cCPU),
        .systemLibrary(name: "CLibpfm", path: "Sources/CLibpfm"),
        .target(name: "BenchModel"),
        .target(name: "ProcessIO"),
        .target(name: "Counters", dependencies: ["CPerfEvent", "CLibpfm", "BenchModel", "ProcessIO"]),
        .target(name: "Telemetry", dependencies: ["BenchModel", "CPerfEvent"]),
        .target(name: "Kernels", dependencies: ["CPerfEvent", "CKernels", "BenchModel"], swiftSettings: swiftCPU),
        .target(name: "UserKernels", dependencies: ["BenchModel", "Kernels", "CPerfEvent"]),
        .target(name: "Fusion", dependencies: ["BenchModel", "Kernels", "CPerfEvent", "Analysis"], swiftSettings: swiftCPU),
        .target(name: "Edge", dependencies: ["BenchModel", "Kernels", "CPerfEvent", "CKernels"], swiftSettings: swiftCPU),
        .target(name: "Suite", dependencies: ["BenchModel", "Kernels", .product(name: "TOMLKit", package: "TOMLKit")]),
        .target(name: "Store", dependencies: [
            "BenchModel", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        .target(name: "StorePostgres", dependencies: [
            "Store", "BenchModel", .product(name: "PostgresNIO", package: "postgres-nio", condition: fleet),
        ]),
        // The sign-flip tests' inner loop, optimized in every configuration (csignflip.h).
        .target(name: "CSignFlip", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "Analysis", dependencies: ["BenchModel", "CSignFlip"]),
        .target(name: "Builds", dependencies: ["BenchModel"]),
        .target(name: "Runner", dependencies: ["BenchModel", "Counters", "Telemetry", "Kernels", "Suite", "Store", "CPerfEvent", "ProcessIO"]),
        .target(name: "Charts"),
        .target(name: "Report", dependencies: ["BenchModel", "Analysis", "Store", "Charts"]),
        .systemLibrary(name: "CFuseBenchPlugin", path: "Sources/CFuseBenchPlugin"),
        .target(name: "Plugins", dependencies: ["BenchModel", "Kernels", "UserKernels", "Suite", "CFuseBenchPlugin", "CKernels"]),
        .target(name: "Serve", dependencies: [
            "BenchModel", "Store", "Report", "Analysis", "Charts", .product(name: "Hummingbird", package: "hummingbird", condition: fleet),
        ]),
        .target(name: "FuseBench", dependencies: ["BenchModel", "Counters", "Telemetry", "Fusion", "Edge", "Kernels", "Suite", "Store", "Analysis", "Runner", "Report", "UserKernels", "Plugins", "Builds"]),
        .target(name: "FuseBenchCLI", dependencies: [
            "FuseBench", "CPerfEvent", "CKernels", "ProcessIO", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .target(name: "StorePostgres", condition: fleet), .target(name: "Serve", condition: fleet),
        ]),
        .executableTarget(name: "fusebench", dependencies: ["FuseBenchCLI"]),
        .testTarget(name: "ProcessIOTests", dependencies: ["ProcessIO"]),
        .testTarget(name: "CountersTests", dependencies: ["Counters"], exclude: ["Fixtures"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry", "TestSupport"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CPerfEvent"], swiftSettings: swiftCPU),
        .testTarget(name: "UserKernelsTests", dependencies: ["UserKernels", "Kernels", "CPerfEvent"]),
        .testTarget(name: "FusionTests", dependencies: ["Fusion"], swiftSettings: swiftCPU),
        .testTarget(name: "EdgeTests", dependencies: ["Edge", "Kernels"], swiftSettings: swiftCPU),
        .testTarget(name: "SuiteTests", dependencies: ["Suite", "FuseBench"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "AnalysisTests", dependencies: ["Analysis"]),
        .testTarget(name: "BuildsTests", dependencies: ["Builds", "BenchModel"]),
        .testTarget(name: "RunnerTests", dependencies: ["Runner", "FuseBench", "TestSupport"]),
        .target(name: "TestSupport", dependencies: ["BenchModel", "Store", "ProcessIO", .product(name: "GRDB", package: "GRDB.swift")], path: "Tests/TestSupport"),
        .testTarget(name: "ChartsTests", dependencies: ["Charts"]),
        .testTarget(name: "PluginsTests", dependencies: ["Plugins", "FuseBench", "TestSupport"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Charts", "Store", "TestSupport"]),
        .testTarget(name: "FleetTests", dependencies: [
            "Store", "BenchModel", "TestSupport", "FuseBench",
            .target(name: "StorePostgres", condition: fleet), .target(name: "Serve", condition: fleet),
        ]),
        .testTarget(name: "CLITests", dependencies: ["FuseBench", "FuseBenchCLI", "TestSupport", "ProcessIO", .product(name: "GRDB", package: "GRDB.swift")]),
    ],
    swiftLanguageModes: [.v6]
)
