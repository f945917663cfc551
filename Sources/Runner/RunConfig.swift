import BenchModel
import Foundation

/// How counters are chosen for a run.
public enum CounterMode: String, Sendable, CaseIterable {
    /// Hardware counters when the machine has a usable PMU, else simulated counters (callgrind)
    /// when valgrind is usable, else a timing-only run — and the run says which.
    case auto
    /// Hardware counters or fail.
    case hw
    /// Simulated counters (callgrind) or fail.
    case sim
    /// No counters (timing only).
    case none
}

/// Options of one run (from the CLI).
public struct RunConfig: Sendable {
    public var label: String?
    public var counterMode: CounterMode = .auto
    /// Pin the measuring thread to this CPU.
    public var pinCPU: Int?
    /// Suppress the progress line.
    public var quiet = false
    /// Testing aid: add real work proportional to an op's time (`OP` → fraction, 0.05 = 5%).
    public var injectedSlowdown: [String: Double] = [:]
    /// Environment (injectable for tests).
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Extra key/values recorded in the run's config JSON.
    public var extraConfig: [String: String] = [:]

    public init() {}
}

/// Errors that stop a run before or while it measures (exit code 3 at the CLI).
public struct RunError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
