import BenchModel
import Foundation
import Telemetry

/// Which telemetry a run records, and how it says so.
enum TelemetryChoice {
    /// A sampler when any sensor source exists (nil otherwise — then only effective GHz from
    /// cycles is recorded, when counters work), with the availability summary for the run.
    static func sampler(environment: [String: String]) -> (sampler: TelemetrySampler?, sources: TelemetrySources) {
        let files = SystemFiles(environment: environment)
        let sources = TelemetrySources.discover(files: files)
        let any = TelemetryCategory.allCases.contains { sources.has($0) }
        return (any ? TelemetrySampler(sources: sources) : nil, sources)
    }

    /// Run-level rows recording each category that is unavailable, with the reason.
    static func unavailableRows(_ sources: TelemetrySources) -> [TelemetryRow] {
        TelemetryCategory.allCases.compactMap { c in
            sources.missingReason(c).map { TelemetryRow(sampleSequence: nil, kind: c.rawValue, label: "all", value: nil, unit: "", note: $0) }
        }
    }
}
