// Builds the HTML report of one stored run from `RunReport` (and optionally a `CompareReport`,
// the run's variant decisions, fusion decisions and series history): one `HTMLReport.Section`
// per part. The sections are public functions so other renderers can reuse or extend them.
import Analysis
import BenchModel
import Foundation
import Store

/// Everything the HTML report of one run shows, loaded from the store.
public struct HTMLRunReportInput: Sendable {
    /// The run with its statistics.
    public var run: RunReport
    /// Gate verdicts against a baseline or another run (`--baseline` / `--base`), if asked for.
    public var comparison: CompareReport?
    /// Edge-variant rows (`VariantsReport.rows`), empty when the run has no variants op.
    public var variants: [VariantRow]
    /// Fusion planner decisions of the run.
    public var fusion: [FusionDecision]

    /// Input for the report of `run`.
    public init(run: RunReport, comparison: CompareReport? = nil, variants: [VariantRow] = [], fusion: [FusionDecision] = []) {
        self.run = run
        self.comparison = comparison
        self.variants = variants
        self.fusion = fusion
    }
}

/// Renders `HTMLRunReportInput` as an `HTMLReport`.
public enum HTMLRunReport {
    /// The report of one run: header, then one section per part that has content.
    public static func build(_ input: HTMLRunReportInput) -> HTMLReport {
        let r = input.run
        var report = HTMLReport(title: "fusebench run \(r.info.id) — \(r.info.suites.joined(separator: ", "))",
                                subtitle: HTMLReport.escape(subtitle(r.info)))
        report.add(header(r))
        return report
    }

    /// `started … · status · label · commit`.
    static func subtitle(_ info: RunInfo) -> String {
        var parts = [ISO8601DateFormatter().string(from: info.startedAt), info.status.rawValue]
        if let l = info.label { parts.append("label \(l)") }
        if let c = info.gitCommit { parts.append("commit \(c.prefix(12))\(info.gitDirty == true ? "+dirty" : "")\(info.gitBranch.map { " (\($0))" } ?? "")") }
        return parts.joined(separator: " · ")
    }

    /// Run header: machine, ISA, counters and why, telemetry summary, harness overhead.
    public static func header(_ r: RunReport) -> HTMLReport.Section {
        let m = r.info.machine
        var rows: [[String]] = [
            ["run", "\(r.info.id) (\(r.info.status.rawValue)), \(r.samples.count) samples, harness \(r.info.harnessVersion)"],
            ["machine", "\(m.cpuModel) · \(m.logicalCPUs) logical CPUs · \(m.caches.joined(separator: ", ")) · kernel \(m.kernel) · governor \(m.governor) · virtualization \(m.virtualization)"],
            ["ISA", "kernels built for \(r.info.isaBuilt.joined(separator: ",")) · host \(m.isaHost.joined(separator: ",")) · path \(r.meta["isa.kernel_path"] ?? "?")\(r.meta["isa.int8_kernel_path"].map { " · int8 path \($0)" } ?? "")"],
            ["counters", "\(r.info.counterMode.rawValue): \(r.info.counterNote)"],
        ]
        if let t = r.meta["telemetry.summary"] { rows.append(["telemetry", t]) }
        if let c = r.info.calibration {
            rows.append(["overhead", String(format: "clock pair %.0f ns · counter read %.0f ns · empty batch %.0f ns · %.2f ns/iteration · %.3f%% of a 1 ms op",
                                            c.clockPairNs, c.counterReadNs, c.emptyBatchNs, c.perIterationNs, c.shareOfOneMillisecond * 100)])
        }
        if let p = r.peak {
            let bw = p.bandwidth.map { String(format: "%@ %.0f GB/s", $0.level, $0.readGBps) }.joined(separator: ", ")
            rows.append(["peak", String(format: "FMA %.0f GFLOP/s (%@); read %@", p.flopsPerSecond / 1e9, p.kernelPath.rawValue, bw)])
        }
        return HTMLReport.Section(id: "run", title: "Run", html: HTMLReport.table(header: ["", ""], rows: rows, cssClass: "kv"))
    }
}
