// Energy arithmetic over telemetry readings: joules between readings, average power, joules per
// inference. Every function returns nil when the energy needed is unavailable.
import Foundation

/// Energy and power derived from `TelemetryReading.energyJoules`.
public enum Energy {
    /// The domain used when none is named: the sum of the top-level `package-N` powercap domains,
    /// else the perf `power` PMU's `energy-pkg`; nil when a reading has neither.
    static func packageJoules(_ r: TelemetryReading) -> Double? {
        let packages = r.energyJoules.filter { $0.key.hasPrefix("package-") && !$0.key.contains("/") }
        if !packages.isEmpty { return packages.values.reduce(0, +) }
        return r.energyJoules[PowerPMUStatus.readingKey]
    }

    /// Joules consumed between two readings of the same sampler.
    ///
    /// `domain` names an `energyJoules` key (`package-0`, `package-0/core`, `perf:energy-pkg`); nil means the
    /// whole package (sum of `package-N`, else perf `energy-pkg`). Nil when either reading lacks the domain,
    /// the set of packages differs between the readings, or `to` is not after `from`.
    public static func joules(from: TelemetryReading, to: TelemetryReading, domain: String? = nil) -> Double? {
        let a: Double?, b: Double?
        if let domain {
            a = from.energyJoules[domain]
            b = to.energyJoules[domain]
        } else {
            let pa = Set(from.energyJoules.keys.filter { $0.hasPrefix("package-") && !$0.contains("/") })
            let pb = Set(to.energyJoules.keys.filter { $0.hasPrefix("package-") && !$0.contains("/") })
            guard pa == pb else { return nil }
            a = packageJoules(from)
            b = packageJoules(to)
        }
        guard let a, let b, b >= a, to.timestampNs >= from.timestampNs else { return nil }
        return b - a
    }

    /// Average power in watts of `joules` spent over `seconds`; nil when joules is nil or the duration is not positive.
    public static func averageWatts(joules: Double?, seconds: Double) -> Double? {
        guard let joules, seconds > 0, seconds.isFinite else { return nil }
        return joules / seconds
    }

    /// Average power in watts between two readings (duration from their timestamps).
    public static func averageWatts(from: TelemetryReading, to: TelemetryReading, domain: String? = nil) -> Double? {
        guard to.timestampNs > from.timestampNs else { return nil }
        return averageWatts(joules: joules(from: from, to: to, domain: domain), seconds: Double(to.timestampNs - from.timestampNs) / 1e9)
    }

    /// Joules per inference (per iteration) given the joules of a span and the iterations run in it.
    public static func joulesPerInference(joules: Double?, iterations: Int) -> Double? {
        guard let joules, iterations > 0 else { return nil }
        return joules / Double(iterations)
    }
}
