// Family extras: what an op family adds to a run after its op is measured, through the
// `OpFamilyExtras` seam of its factory (e.g. fused models: the planner's decision log, the bytes
// each plan moves, per-layer timings).
import BenchModel
import CPerfEvent
import Kernels
import Suite

/// Runs the extras of an op's family on this build's side (a foreign build's families are its own).
final class FamilyExtras {
    private let context: RunContext
    /// Timer for per-layer timings (no counters: layers are only timed).
    private let layerTimer = BatchTimer(counters: nil)
    private var layerCalibration: Calibration?

    init(context: RunContext) {
        self.context = context
    }

    /// What an op family adds to the op's results: extra samples (sequences from 0), and the
    /// decision log and run notes stored with the op in its one transaction (`OpResults`).
    struct Output {
        /// Extra samples (e.g. per-layer timings), sequences from 0.
        var samples: [Sample] = []
        /// Decisions behind the measured instances, each carrying the op's suite.
        var fusionDecisions: [FusionDecision] = []
        /// Run notes (`fusion.bytes.SUITE/OP/VARIANT`, the family's `runNotes` as `KEY.SUITE/OP`).
        var runMeta: [String: String] = [:]
    }

    /// The extras for `op` on side `side`, gathered into `output` (kept up to the point where a
    /// failure is thrown, so the decisions survive a failing layer timing).
    func run(op: PlannedOp, side: Int, result: OpResult, progress: ProgressLine, into output: inout Output) throws {
        guard context.config.sides[side].executable == nil, let source = op.factory as? any OpFamilyExtras else { return }
        try familyExtras(op: op, source: source, decisions: result.fusionDecisions, progress: progress, into: &output)
    }

    /// For an op family with extras (`OpFamilyExtras`, e.g. a fused model): the decisions behind
    /// the measured instances (under the op's suite), the bytes each variant moves, and timings of
    /// the family's extra parts (variant `layer:NAME`, `partBatches` batches each, interleaved round-robin,
    /// in this process).
    private func familyExtras(op: PlannedOp, source: any OpFamilyExtras, decisions: [FusionDecision],
                              progress: ProgressLine, into output: inout Output) throws {
        output.fusionDecisions = decisions.map { d in
            var d = d
            d.suite = op.suite
            d.model = op.spec.name
            return d
        }
        for (key, value) in source.runNotes {
            output.runMeta["\(key).\(op.suite)/\(op.spec.name)"] = value
        }
        for v in op.spec.variants {
            guard let bytes = source.variantBytes(v) else { continue }
            output.runMeta[RunMetaKey.fusionBytes(op.benchmarkKey(variant: v))] = String(bytes)
        }
        let layers = try source.extraTimedParts(seed: op.spec.settings.seed)
        guard !layers.isEmpty else { return }
        let timer = layerTimer
        let calibration = try calibrationForLayers()
        let measurer = OpMeasurer(timer: timer, calibration: calibration, quiet: true, spinNs: 0)
        var settings = op.spec.settings
        settings.warmupNs = min(settings.warmupNs, 50_000_000)
        var iterations: [Int] = []
        for layer in layers {
            progress.update("\(op.qualifiedName) warming up part \(layer.name)")
            let est = try measurer.warmup(layer.instance, settings: settings, batchTarget: settings.batchNs)
            iterations.append(max(1, Int((settings.batchNs / max(est, 0.001)).rounded(.up))))
        }
        // Round-robin: batch r of every part before batch r + 1 of any, so parts are compared over
        // the same stretch of the machine (a fused group against its own layers alone, batch by
        // batch). One untimed call first restores the part's warm caches after the other parts.
        progress.update("\(op.qualifiedName) timing \(layers.count) parts, interleaved")
        for _ in 0..<FamilyExtras.partBatches(samples: op.spec.settings.samples) {
            for (layer, n) in zip(layers, iterations) {
                if fb_interrupt_signal() != 0 { return }
                layer.instance.run()
                let m = try timer.measure(layer.instance, iterations: n)
                output.samples.append(Sample(key: op.benchmarkKey(variant: "layer:\(layer.name)"), sequence: output.samples.count,
                                      iterations: n, wallNs: Double(m.wallNs), cpuNs: Double(m.cpuNs),
                                      overheadNs: calibration.overhead(iterations: n)))
            }
        }
    }

    /// Timed batches per extra part: as many as the op's variants get (`samples`), at least 5.
    static func partBatches(samples: Int) -> Int { max(5, samples) }

    /// One calibration for all per-layer timings of the run, made when first needed.
    private func calibrationForLayers() throws -> Calibration {
        if let c = layerCalibration { return c }
        let c = try Calibrator.calibrate(timer: layerTimer, targetBatchNs: 2_000_000)
        layerCalibration = c
        return c
    }
}
