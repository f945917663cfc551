// FuseBench: the library product. Re-exports what a user needs to register their own kernels
// and drive runs programmatically (the CLI is a thin layer over the same modules).
@_exported import BenchModel
@_exported import Counters
@_exported import Telemetry
@_exported import Kernels
@_exported import Fusion
@_exported import Suite
@_exported import Store
@_exported import Analysis
@_exported import Runner
@_exported import Report
@_exported import UserKernels
@_exported import Plugins
@_exported import Builds
