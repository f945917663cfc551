// The documented range of every numeric command-line option, checked in one place so a value the
// parser accepts (`inf`, `nan`, `1e300`, a negative count, a CPU number beyond Int32) is refused with
// `error: --OPTION must be ...` and exit 3 instead of looping forever, allocating without bound or
// trapping. The README ("Numeric options") lists the same ranges.
import Foundation

/// Range checks for numeric options; each throws a `UsageError` naming the option and the value.
enum OptionRange {
    /// `value` must be finite and within `range` (both ends included).
    static func check(_ value: Double, _ option: String, in range: ClosedRange<Double>, unit: String = "") throws {
        guard value.isFinite, range.contains(value) else {
            throw UsageError("\(option) must be a finite number between \(show(range.lowerBound)) and \(show(range.upperBound))\(unit), got \(value)")
        }
    }

    /// `value` must be finite and strictly between `lower` and `upper`.
    static func check(_ value: Double, _ option: String, above lower: Double, below upper: Double, unit: String = "") throws {
        guard value.isFinite, value > lower, value < upper else {
            throw UsageError("\(option) must be a finite number greater than \(show(lower)) and less than \(show(upper))\(unit), got \(value)")
        }
    }

    /// `value` must be within `range`.
    static func check(_ value: Int, _ option: String, in range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw UsageError("\(option) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
    }

    /// Whole numbers without a fraction (`3600`, not `3600.0`).
    private static func show(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }

    /// `gate --max-time`: seconds, at most a day.
    static let maxTime: ClosedRange<Double> = 0...86_400
    /// `--processes` of run and gate.
    static let processes: ClosedRange<Int> = 1...64
    /// `run --pin`: a CPU number the kernel's affinity mask can hold (CPU_SETSIZE).
    static let pin: ClosedRange<Int> = 0...1023
    /// `run --cooldown-s`: seconds.
    static let cooldownSeconds: ClosedRange<Double> = 0...3600
    /// `history --last`: runs per series.
    static let historyLast: ClosedRange<Int> = 1...1_000_000
    /// `runs --limit`.
    static let runsLimit: ClosedRange<Int> = 1...1_000_000
    /// `exec --iterations` (internal command).
    static let iterations: ClosedRange<Int> = 0...1_000_000_000
}
