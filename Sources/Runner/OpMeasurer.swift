import BenchModel
import CPerfEvent
import Foundation
import Kernels
import Suite
import Telemetry

/// Samples and accuracy checks of one op.
struct OpResult {
    var samples: [Sample]
    var checks: [AccuracyCheck]
    var interrupted: Bool
    /// Variants that passed verification (and were timed).
    var timed: [String] = []
    /// Telemetry taken with the samples.
    var telemetry: [TelemetryRow] = []
    /// For fused models: the planner decisions behind exactly the plans the instances run.
    var fusionDecisions: [FusionDecision] = []
}

/// What a measurer reports while it works (to a worker's parent, see `WorkerRequest.stream`).
enum MeasureEvent {
    /// About to `what` (`building`, `verifying`, `warming up`, `measuring`) `variant`.
    case activity(variant: String, what: String)
    /// Verification is over: these are the op's accuracy checks.
    case checks([AccuracyCheck])
    /// A sample was just taken (without its throttle flag, known only at the end).
    case sample(Sample)
}

/// Measures one op: verify, warm up, size batches, then ABBA-interleaved batches.
final class OpMeasurer {
    let timer: BatchTimer
    let calibration: Calibration
    let progress: ProgressLine
    /// ns per `SpinWork` unit (0 when no slowdown is injected in this run).
    let spinNs: Double
    /// Reads temperatures, frequencies, throttle counts and energy after every batch (outside
    /// the timed window); nil when the run records none.
    var telemetry: TelemetrySampler?
    /// Temperature above which a sample is flagged as throttled (°C).
    var temperatureLimitC = ThrottleFlagger.defaultTemperatureLimitC
    /// Told about every step as it happens (nil in the measuring parent: nothing extra per batch).
    var observer: ((MeasureEvent) -> Void)?

    init(timer: BatchTimer, calibration: Calibration, quiet: Bool, spinNs: Double) {
        self.timer = timer
        self.calibration = calibration
        self.progress = ProgressLine(quiet: quiet)
        self.spinNs = spinNs
    }

    var interruptRequested: Bool { fb_interrupt_signal() != 0 }

    /// Sample sequences start at 0 for this op; `SampleSequencer` makes them run-wide.
    func measure(op: PlannedOp, index: Int, of total: Int, slowdown: Double?) throws -> OpResult {
        let spec = op.spec
        let settings = spec.settings
        let label = "[\(index + 1)/\(total)] \(op.qualifiedName)"
        fb_guard_set_context(op.qualifiedName)  // a guard-page report (user kernels) names the op

        // 1. Instances with identical seeded inputs; the first variant is the reference. A variant
        //    whose instance cannot be made (e.g. a plug-in's `setup` failing) is recorded as a failed
        //    check below and not timed; the other variants and ops go on.
        var instances: [String: KernelInstance] = [:]
        var makeFailures: [String: String] = [:]
        let refName = op.factory.referenceVariant
        func instance(_ v: String) -> KernelInstance? {
            if let i = instances[v] { return i }
            if makeFailures[v] != nil { return nil }
            observer?(.activity(variant: v, what: "building"))
            do {
                let i = try op.factory.make(variant: v, shape: spec.shape, dtype: spec.dtype, seed: settings.seed)
                instances[v] = i
                return i
            } catch {
                makeFailures[v] = "\(error)"
                return nil
            }
        }
        for v in spec.variants { _ = instance(v) }

        let decisions = spec.variants.flatMap { (instances[$0] as? any DecisionLogSource)?.decisionLog ?? [] }

        // 2. Verify every non-reference variant against the reference before timing it.
        var checks: [AccuracyCheck] = []
        var timed = spec.variants.filter { makeFailures[$0] == nil }
        let needsReference = spec.variants.contains { $0 != refName }
        /// A failed check of `v`, a variant that could not be made or has no reference to compare with.
        func failedCheck(_ v: String, _ reason: String) -> AccuracyCheck {
            var check = AccuracyCheck(op: spec.name, variant: v, referenceVariant: refName, maxAbsError: .infinity, maxRelError: .infinity,
                                      cosine: 0, tolerance: op.tolerance, passed: false, reason: reason)
            check.key = op.benchmarkKey(variant: v)
            return check
        }
        // Elementwise verification needs a reference instance (made here when it is not timed);
        // without one every variant fails with the reference's reason.
        var referenceFailure: String?
        if needsReference, !(op.factory is any TaskAccuracySource), instance(refName) == nil, let r = makeFailures[refName] {
            referenceFailure = "reference variant \(refName) could not be prepared: \(r)"
        }
        for v in spec.variants where makeFailures[v] != nil || (v != refName && referenceFailure != nil) {
            checks.append(failedCheck(v, makeFailures[v].map { "could not be prepared: \($0)" } ?? referenceFailure ?? "could not be prepared"))
            timed.removeAll { $0 == v }
        }
        let verify = spec.variants.filter { $0 != refName && timed.contains($0) }
        if needsReference, referenceFailure == nil, let task = op.factory as? any TaskAccuracySource {
            // Task-accuracy verification: reject a variant whose metric drops more than the band
            // below the reference's; outputs are not compared elementwise.
            progress.update("\(label) verifying task accuracy against \(refName)")
            let ref = try task.taskAccuracy(variant: refName, seed: settings.seed)
            for v in verify {
                let cand = try task.taskAccuracy(variant: v, seed: settings.seed)
                var check = TaskAccuracy.check(op: spec.name, variant: v, referenceVariant: refName, metric: ref.metric,
                                               reference: ref.value, candidate: cand.value, band: task.accuracyBand)
                check.key = op.benchmarkKey(variant: v)
                checks.append(check)
                if !check.passed { timed.removeAll { $0 == v } }
            }
        } else if needsReference, referenceFailure == nil, let reference = instance(refName) {
            progress.update("\(label) verifying against \(refName)")
            observer?(.activity(variant: refName, what: "verifying"))
            let referenceProblem = Self.verificationRun(reference)
            // The error-bound scale (GEMM-like ops) for the checks' normalised error; once per op.
            let errorScale = verify.isEmpty ? nil : Accuracy.errorScale(of: reference)
            for v in verify {
                guard let candidate = instances[v] else { continue }
                observer?(.activity(variant: v, what: "verifying"))
                let problem = Self.verificationRun(candidate)
                // Exact (integer outputs of user kernels) or within the op's band.
                var check = Accuracy.compare(reference: reference, candidate: candidate, tolerance: op.tolerance,
                                             op: spec.name, variant: v, referenceVariant: refName, errorScale: errorScale)
                if let reason = problem ?? referenceProblem.map({ "reference variant \(refName): \($0)" }) {
                    check.passed = false
                    check.reason = reason
                }
                check.key = op.benchmarkKey(variant: v)
                checks.append(check)
                if !check.passed { timed.removeAll { $0 == v } }
            }
        }

        observer?(.checks(checks))

        // 3. Optional injected slowdown (testing aid), sized per variant from its kernel and the
        //    spin chain timed alternately (SpinWork.units).
        var flags: SampleFlags = []
        if let fraction = slowdown, fraction > 0, spinNs > 0 {
            flags.insert(.injectedSlowdown)
            for v in timed {
                guard let inst = instances[v] else { continue }
                let est = try estimate(inst, budgetNs: 50_000_000, batchNs: settings.batchNs)
                let units = SpinWork.units(costing: fraction, of: inst, iterationNs: est, spinNs: spinNs)
                instances[v] = SlowdownInstance(base: inst, spins: units)
            }
        }

        // 4. Warm up each variant until stable and size its batches.
        var iterations: [String: Int] = [:]
        var perIteration: [String: Double] = [:]
        let batchTarget = max(settings.batchNs, 100 * calibration.counterReadNs)
        for v in timed {
            if interruptRequested { return OpResult(samples: [], checks: checks, interrupted: true, fusionDecisions: decisions) }
            progress.update("\(label) \(v) warming up")
            let est = try warmup(instances[v]!, settings: settings, batchTarget: batchTarget, variant: v)
            perIteration[v] = est
            iterations[v] = max(1, Int((batchTarget / max(est, 0.001)).rounded(.up)))
        }

        // 5. Measured batches, ABBA order, counter groups rotated per repetition.
        var samples: [Sample] = []
        samples.reserveCapacity(settings.samples * timed.count)
        let groups = timer.counters?.groupCount ?? 0
        let perRepetitionNs = timed.reduce(0.0) { $0 + Double(iterations[$1]!) * perIteration[$1]! }
        let start = Clock.wall()
        var inputs: [ThrottleInput] = []
        var rows: [TelemetryRow] = []
        var last = telemetry?.read()
        func finish(interrupted: Bool) -> OpResult {
            for flag in ThrottleFlagger.flag(inputs, temperatureLimitC: temperatureLimitC) where flag.index < samples.count {
                samples[flag.index].flags.insert(.throttled)
            }
            return OpResult(samples: samples, checks: checks, interrupted: interrupted, timed: timed, telemetry: rows,
                            fusionDecisions: decisions)
        }
        // Instances that time every iteration (edge ops) alternate per-iteration-timed batches (the
        // latency distribution) with plain ones, whose batch times carry no per-iteration clock
        // reads (the speedup); `batchSchedule` balances the variant order within each kind.
        let timesIterations = timed.contains { instances[$0] is any IterationLabeled }
        for rep in 0..<settings.samples {
            if groups > 0 { try timer.select(group: timer.counters!.group(forRepetition: rep)) }
            let schedule = op.batchSchedule(repetition: rep, timesIterations: timesIterations)
            for v in schedule.order where timed.contains(v) {
                if interruptRequested { return finish(interrupted: true) }
                let n = iterations[v]!
                observer?(.activity(variant: v, what: "measuring"))
                let m = schedule.timing == .perIteration ? try timer.measureAny(instances[v]!, iterations: n)
                                                         : try timer.measure(instances[v]!, iterations: n)
                var f = flags
                if m.counters.contains(where: { $0.multiplexed }) { f.insert(.multiplexed) }
                let overhead = m.iterationNs == nil ? calibration.overhead(iterations: n) : calibration.timedOverhead(iterations: n)
                if Double(m.wallNs) <= overhead { f.insert(.belowOverhead) }
                if Double(m.wallNs) > 1.5 * Double(m.cpuNs) + overhead { f.insert(.descheduled) }
                let sample = Sample(key: op.benchmarkKey(variant: v), sequence: samples.count, iterations: n,
                                    wallNs: Double(m.wallNs), cpuNs: Double(m.cpuNs), overheadNs: overhead,
                                    counters: m.counters, flags: f,
                                    iterationLatencies: m.iterationNs.map {
                                        IterationLatencies(ns: $0, labels: m.labels ?? [], overheadNs: calibration.perTimedIterationNs ?? calibration.perIterationNs)
                                    })
                let cycles = m.counters.first { $0.event == "cycles" }?.value
                if let sampler = telemetry, let before = last {
                    let after = sampler.read()
                    inputs.append(ThrottleInput(before: before, after: after, cycles: cycles, wallNs: Double(m.wallNs)))
                    rows += TelemetryRows.forSample(sample.sequence, before: before, after: after, cycles: cycles, wallNs: Double(m.wallNs))
                    last = after
                } else {
                    inputs.append(ThrottleInput(effectiveGHz: ThrottleFlagger.effectiveGHz(cycles: cycles, wallNs: Double(m.wallNs))))
                    if let ghz = ThrottleFlagger.effectiveGHz(cycles: cycles, wallNs: Double(m.wallNs)) {
                        rows.append(TelemetryRow(sampleSequence: sample.sequence, kind: "effective_ghz", label: "cycles/wall", value: ghz, unit: "GHz"))
                    }
                }
                samples.append(sample)
                observer?(.sample(sample))
            }
            let elapsed = Double(Clock.wall() &- start)
            let eta = max(0, Double(settings.samples - rep - 1) * perRepetitionNs) / 1e9
            progress.update("\(label) sample \(rep + 1)/\(settings.samples) · \(timed.joined(separator: " ⇄ ")) · ETA \(ProgressLine.duration(eta)) (\(ProgressLine.duration(elapsed / 1e9)) so far)")
        }
        return finish(interrupted: false)
    }

    /// One verification run of `instance`; for an `OutputIntegrityChecked` instance (guarded
    /// buffers of a user kernel) armed before and checked after: what went wrong, or nil.
    static func verificationRun(_ instance: KernelInstance) -> String? {
        let checked = instance as? any OutputIntegrityChecked
        checked?.prepareVerificationRun()
        instance.run()
        return checked?.integrityProblem
    }

    /// Warms up until three consecutive full-size batches agree within 5% (or the warmup
    /// budget is spent) and returns the per-iteration estimate in ns.
    func warmup(_ instance: KernelInstance, settings: MeasurementSettings, batchTarget: Double, variant: String? = nil) throws -> Double {
        let deadline = Clock.wall() &+ UInt64(settings.warmupNs)
        var n = 1
        var recent: [Double] = []
        while true {
            if let variant { observer?(.activity(variant: variant, what: "warming up")) }
            let m = try timer.measureAny(instance, iterations: n)
            let overhead = m.iterationNs == nil ? calibration.overhead(iterations: n) : calibration.timedOverhead(iterations: n)
            let per = max(0, Double(m.wallNs) - overhead) / Double(n)
            let wall = Double(m.wallNs)
            if wall < batchTarget / 2 && n < 1 << 30 {
                // Still growing towards a full batch: jump close to the target, at most ×8.
                let want = per > 0 ? Int((batchTarget / per).rounded(.up)) : n * 8
                n = min(max(want, n + 1), n * 8)
                recent.removeAll()
                if Clock.wall() > deadline { return per > 0 ? per : wall / Double(n) }
                continue
            }
            recent.append(per)
            if recent.count > 3 { recent.removeFirst() }
            if recent.count == 3, let lo = recent.min(), let hi = recent.max(), lo > 0, hi / lo < 1.05 {
                return recent.sorted()[1]
            }
            if Clock.wall() > deadline { return recent.sorted()[recent.count / 2] }
        }
    }

    /// Quick per-iteration estimate used to size an injected slowdown.
    func estimate(_ instance: KernelInstance, budgetNs: Double, batchNs: Double) throws -> Double {
        var s = MeasurementSettings()
        s.warmupNs = budgetNs
        s.batchNs = batchNs
        return try warmup(instance, settings: s, batchTarget: batchNs)
    }
}
