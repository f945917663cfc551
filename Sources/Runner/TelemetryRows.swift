import BenchModel
import Telemetry

/// Turns two telemetry readings around a batch into stored rows.
enum TelemetryRows {
    /// Rows for the batch with `sequence`: max temperature per sensor at its end, mean
    /// frequency, throttle events during it, energy used (J) and effective GHz.
    static func forSample(_ sequence: Int, before: TelemetryReading, after: TelemetryReading, cycles: Double?, wallNs: Double) -> [TelemetryRow] {
        var rows: [TelemetryRow] = []
        for (label, c) in after.temperaturesC.sorted(by: { $0.key < $1.key }) {
            rows.append(TelemetryRow(sampleSequence: sequence, kind: "temperature", label: label, value: c, unit: "C"))
        }
        if let mhz = after.meanFrequencyMHz {
            rows.append(TelemetryRow(sampleSequence: sequence, kind: "frequency", label: "mean", value: mhz, unit: "MHz"))
        }
        if let d = ThrottleFlagger.throttleDelta(from: before, to: after) {
            rows.append(TelemetryRow(sampleSequence: sequence, kind: "throttle", label: "events", value: Double(d), unit: "count"))
        }
        if let j = Energy.joules(from: before, to: after) {
            rows.append(TelemetryRow(sampleSequence: sequence, kind: "energy", label: "package", value: j, unit: "J"))
        }
        if let ghz = ThrottleFlagger.effectiveGHz(cycles: cycles, wallNs: wallNs) {
            rows.append(TelemetryRow(sampleSequence: sequence, kind: "effective_ghz", label: "cycles/wall", value: ghz, unit: "GHz"))
        }
        for (source, reason) in after.unavailable.sorted(by: { $0.key < $1.key }) where before.unavailable[source] == nil {
            // A source that stopped answering during this batch.
            rows.append(TelemetryRow(sampleSequence: sequence, kind: "unavailable", label: source, value: nil, unit: "", note: reason))
        }
        return rows
    }
}
