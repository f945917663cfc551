// swift-tools-version: 6.0
// mykernels — an example of a package that measures its own kernels with fusebench.
//
// Two targets:
//   MyKernels         the kernels (plain Swift), compiled for the CPU named by FUSEBENCH_TARGET_CPU
//                     (default: the CPU that builds them), exactly like fusebench's own kernels,
//                     so the AVX2 sim worker for callgrind can be built the same way.
//   mykernels-bench   the executable: `FuseBenchCLI.main(kernels: ...)`. No CPU flags here: the
//                     fusebench entry checks the CPU's instructions before any kernel code runs.
import Foundation
import PackageDescription

let targetCPU = ProcessInfo.processInfo.environment["FUSEBENCH_TARGET_CPU"] ?? "native"

let package = Package(
    name: "mykernels",
    platforms: [.macOS(.v13)],
    dependencies: [
        // In your own repository: .package(url: "https://…/fusebench", branch: "main") (or a
        // revision). fusebench's kernels use unsafe build flags, which SwiftPM accepts from a
        // path, branch or revision dependency but not from a version range.
        .package(name: "fusebench", path: "../.."),
    ],
    targets: [
        .target(
            name: "MyKernels",
            dependencies: [.product(name: "FuseBench", package: "fusebench")],
            swiftSettings: [.unsafeFlags(["-target-cpu", targetCPU])]),
        .executableTarget(
            name: "mykernels-bench",
            dependencies: ["MyKernels", .product(name: "FuseBenchCLI", package: "fusebench")]),
    ],
    swiftLanguageModes: [.v6]
)
