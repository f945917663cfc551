// Deciding which samples ran on a throttled or hot machine. Pure functions: the runner collects
// one `ThrottleInput` per sample (from telemetry readings around the batch and the cycle counter)
// and sets `SampleFlags.throttled` on the indices returned.
import Foundation

/// What is known about the machine during one sample.
public struct ThrottleInput: Sendable, Hashable, Codable {
    /// Hottest CPU temperature seen during the sample, °C (nil without sensors).
    public var maxTemperatureC: Double?
    /// Increase of the throttle counters over the sample (nil without counters).
    public var throttleCountDelta: UInt64?
    /// Effective clock = cycles / wall ns over the sample, GHz (nil without a cycle counter).
    public var effectiveGHz: Double?

    /// Creates an input.
    public init(maxTemperatureC: Double? = nil, throttleCountDelta: UInt64? = nil, effectiveGHz: Double? = nil) {
        self.maxTemperatureC = maxTemperatureC
        self.throttleCountDelta = throttleCountDelta
        self.effectiveGHz = effectiveGHz
    }

    /// Builds the input for a sample bracketed by two readings.
    /// - Parameters:
    ///   - cycles: cycle-counter delta over the sample, when counters work.
    ///   - wallNs: wall time of the sample in ns.
    public init(before: TelemetryReading, after: TelemetryReading, cycles: Double?, wallNs: Double) {
        let temps = [before.maxTemperatureC, after.maxTemperatureC].compactMap { $0 }
        maxTemperatureC = temps.max()
        throttleCountDelta = ThrottleFlagger.throttleDelta(from: before, to: after)
        effectiveGHz = ThrottleFlagger.effectiveGHz(cycles: cycles, wallNs: wallNs)
    }
}

/// Why a sample was flagged.
public enum ThrottleReason: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The temperature reached the limit.
    case temperature(celsius: Double, limit: Double)
    /// The kernel counted throttle events during the sample.
    case throttleEvents(count: UInt64)
    /// The effective clock fell below `fraction` of the run's median.
    case lowFrequency(ghz: Double, medianGHz: Double, fraction: Double)

    /// Human-readable reason.
    public var description: String {
        switch self {
        case let .temperature(c, limit): return String(format: "temperature %.1f °C ≥ limit %.1f °C", c, limit)
        case let .throttleEvents(n): return "\(n) thermal throttle event\(n == 1 ? "" : "s")"
        case let .lowFrequency(g, m, f):
            return String(format: "effective clock %.2f GHz < %.0f%% of the run's median %.2f GHz", g, f * 100, m)
        }
    }
}

/// One flagged sample.
public struct ThrottleFlag: Sendable, Hashable, Codable {
    /// Index into the inputs.
    public var index: Int
    /// Every reason that applied.
    public var reasons: [ThrottleReason]

    /// Creates a flag.
    public init(index: Int, reasons: [ThrottleReason]) {
        self.index = index
        self.reasons = reasons
    }
}

/// Flags samples taken while the machine was hot or throttled.
public enum ThrottleFlagger {
    /// Default temperature limit in °C.
    public static let defaultTemperatureLimitC = 95.0
    /// Default fraction of the run's median effective clock below which a sample is flagged.
    public static let defaultFrequencyFraction = 0.9

    /// Returns the flagged samples, in index order.
    ///
    /// A sample is flagged when its temperature is ≥ `temperatureLimitC`, its throttle counters increased,
    /// or its effective GHz is below `frequencyFraction` × the median effective GHz of all samples that have one.
    public static func flag(_ samples: [ThrottleInput], temperatureLimitC: Double = defaultTemperatureLimitC,
                            frequencyFraction: Double = defaultFrequencyFraction) -> [ThrottleFlag] {
        let ghz = samples.compactMap(\.effectiveGHz).filter { $0.isFinite && $0 > 0 }.sorted()
        let median: Double? = ghz.isEmpty ? nil
            : ghz.count % 2 == 1 ? ghz[ghz.count / 2] : (ghz[ghz.count / 2 - 1] + ghz[ghz.count / 2]) / 2
        var out: [ThrottleFlag] = []
        for (i, s) in samples.enumerated() {
            var reasons: [ThrottleReason] = []
            if let t = s.maxTemperatureC, t >= temperatureLimitC { reasons.append(.temperature(celsius: t, limit: temperatureLimitC)) }
            if let d = s.throttleCountDelta, d > 0 { reasons.append(.throttleEvents(count: d)) }
            if let g = s.effectiveGHz, let median, g.isFinite, g < frequencyFraction * median {
                reasons.append(.lowFrequency(ghz: g, medianGHz: median, fraction: frequencyFraction))
            }
            if !reasons.isEmpty { out.append(ThrottleFlag(index: i, reasons: reasons)) }
        }
        return out
    }

    /// Increase of the throttle counters between two readings, over keys present in both (a counter that went
    /// backwards, e.g. after CPU hotplug, counts as 0). Nil when no counter was read in both.
    public static func throttleDelta(from: TelemetryReading, to: TelemetryReading) -> UInt64? {
        var total: UInt64?
        for (k, b) in to.throttleCounts {
            guard let a = from.throttleCounts[k] else { continue }
            total = (total ?? 0) &+ (b > a ? b - a : 0)
        }
        return total
    }

    /// Effective clock in GHz = cycles / wall ns; nil without cycles or with a non-positive duration.
    public static func effectiveGHz(cycles: Double?, wallNs: Double) -> Double? {
        guard let cycles, wallNs > 0, cycles >= 0 else { return nil }
        return cycles / wallNs
    }
}
