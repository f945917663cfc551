// Cooling down between ops: wait until the hottest CPU sensor drops below a temperature (with a
// timeout), or wait a fixed time. Sleeping is injectable so tests never sleep; elapsed time is the
// sum of requested sleeps, so results are deterministic.
import Foundation

/// Outcome of a cooldown.
public struct CooldownResult: Sendable, Hashable, Codable {
    /// True when the target temperature was reached (or a fixed cooldown completed).
    public var reachedTarget: Bool
    /// Seconds spent sleeping.
    public var waitedSeconds: Double
    /// Last hottest-CPU temperature read, if any.
    public var finalTemperatureC: Double?
    /// What happened, in words (e.g. "no temperature sensors: cooldown skipped").
    public var note: String

    /// Creates a result.
    public init(reachedTarget: Bool, waitedSeconds: Double, finalTemperatureC: Double?, note: String) {
        self.reachedTarget = reachedTarget
        self.waitedSeconds = waitedSeconds
        self.finalTemperatureC = finalTemperatureC
        self.note = note
    }
}

/// Cooldown strategies.
public enum Cooldown {
    /// Sleeps for `seconds` using `Thread.sleep`.
    public static func systemSleep(_ seconds: Double) {
        if seconds > 0 { Thread.sleep(forTimeInterval: seconds) }
    }

    /// Polls `sampler` every `pollInterval` seconds until its `maxTemperatureC` is below `belowCelsius`
    /// or `timeout` seconds of sleeping have passed. Returns at once, with a note, when there are no
    /// temperature sensors or none can be read.
    public static func waitUntil(belowCelsius target: Double, timeout: Double, sampler: TelemetrySampler,
                                 pollInterval: Double = 1.0, sleep: (Double) -> Void = Cooldown.systemSleep) -> CooldownResult {
        if sampler.sources.temperatures.isEmpty {
            return CooldownResult(reachedTarget: false, waitedSeconds: 0, finalTemperatureC: nil,
                                  note: "no temperature sensors (\(sampler.sources.missingReason(.temperature) ?? "none found")): cooldown skipped")
        }
        let step = max(0.001, pollInterval)
        var waited = 0.0
        var last: Double?
        while true {
            let r = sampler.read()
            guard let t = r.maxTemperatureC else {
                let why = r.unavailable.filter { $0.key.hasPrefix("temperature") }.sorted { $0.key < $1.key }
                    .map { "\($0.key): \($0.value)" }.joined(separator: "; ")
                return CooldownResult(reachedTarget: false, waitedSeconds: waited, finalTemperatureC: last,
                                      note: "temperature unreadable (\(why)): cooldown stopped")
            }
            last = t
            if t < target {
                return CooldownResult(reachedTarget: true, waitedSeconds: waited, finalTemperatureC: t,
                                      note: String(format: "%.1f °C < %.1f °C after %.1f s", t, target, waited))
            }
            if waited >= timeout {
                return CooldownResult(reachedTarget: false, waitedSeconds: waited, finalTemperatureC: t,
                                      note: String(format: "still %.1f °C ≥ %.1f °C after the %.1f s timeout", t, target, timeout))
            }
            let s = min(step, timeout - waited)
            sleep(s)
            waited += s
        }
    }

    /// Sleeps a fixed number of seconds (the fallback when there are no sensors, or when asked for).
    public static func fixed(seconds: Double, sleep: (Double) -> Void = Cooldown.systemSleep) -> CooldownResult {
        let s = max(0, seconds)
        sleep(s)
        return CooldownResult(reachedTarget: true, waitedSeconds: s, finalTemperatureC: nil,
                              note: String(format: "fixed cooldown of %.1f s", s))
    }
}
