import BenchModel
import Testing
@testable import Analysis

/// Synthetic per-iteration times: `processes` worker processes × `perProcess` batches around
/// `median` ns, with relative Gaussian noise `noise` per batch and a relative offset per process
/// drawn with spread `processSpread`.
func synthetic(op: String = "op", variant: String = "optimized", median: Double, noise: Double, processes: Int,
               perProcess: Int, processSpread: Double = 0, seed: UInt64,
               counters: (Int) -> [CounterValue] = { _ in [] }) -> [Sample] {
    var rng = Random(seed: seed)
    var out: [Sample] = []
    for p in 0..<processes {
        let offset = 1 + processSpread * rng.nextGaussian()
        for _ in 0..<perProcess {
            let v = max(1, median * offset * (1 + noise * rng.nextGaussian()))
            out.append(sample(op: op, variant: variant, perIteration: v, process: p, sequence: out.count,
                              counters: counters(out.count)))
        }
    }
    return out
}

/// One batch of 10 iterations whose net per-iteration time is `perIteration` ns (50 ns overhead).
func sample(op: String = "op", variant: String = "optimized", perIteration: Double, process: Int = 0,
            sequence: Int = 0, counters: [CounterValue] = [], flags: SampleFlags = []) -> Sample {
    Sample(key: BenchmarkKey(suite: "t", op: op, variant: variant), sequence: sequence, process: process, iterations: 10,
           wallNs: perIteration * 10 + 50, cpuNs: perIteration * 10, overheadNs: 50, counters: counters, flags: flags)
}

/// An `instructions` counter over a 10-iteration batch.
func instructions(_ perIteration: Double, _ backend: CounterBackend) -> CounterValue {
    CounterValue(event: "instructions", value: perIteration * 10, raw: UInt64(perIteration * 10),
                 timeEnabled: 1000, timeRunning: 1000, backend: backend)
}

@Suite struct BootstrapTests {
    @Test func pointEstimateIsRatioOfPooledMedians() {
        let r = Bootstrap.ratioOfMedians(base: [[1, 2], [3, 4, 5]], head: [[6], [2, 8]], resamples: 10, seed: 1)
        #expect(r.ratio == 6.0 / 3.0)
        #expect(r.lower <= r.upper)
    }

    @Test func singleProcessIsTheOrdinaryBootstrap() {
        let base: [Double] = [10, 11, 9.5, 10.2, 10.8, 9.9, 10.1]
        let head: [Double] = [11, 12.1, 10.4, 11.5, 11.2]
        let r = Bootstrap.ratioOfMedians(base: [base], head: [head], resamples: 300, confidence: 0.9, seed: 99)
        // Ordinary percentile bootstrap with the same generator and draw order.
        var rng = Random(seed: 99)
        var ratios: [Double] = []
        for _ in 0..<300 {
            let b = (0..<base.count).map { _ in base[rng.nextInt(below: base.count)] }
            let h = (0..<head.count).map { _ in head[rng.nextInt(below: head.count)] }
            ratios.append(Stats.median(h) / Stats.median(b))
        }
        #expect(r.lower == Stats.quantile(ratios, 0.05))
        #expect(r.upper == Stats.quantile(ratios, 0.95))
    }

    @Test func deterministicForASeed() {
        let base = (0..<5).map { p in (0..<20).map { 100 + Double(p) + Double(($0 * 37) % 11) } }
        let head = (0..<5).map { p in (0..<20).map { 104 + Double(p) + Double(($0 * 53) % 13) } }
        let a = Bootstrap.ratioOfMedians(base: base, head: head, resamples: 500, seed: 2024)
        let b = Bootstrap.ratioOfMedians(base: base, head: head, resamples: 500, seed: 2024)
        let c = Bootstrap.ratioOfMedians(base: base, head: head, resamples: 500, seed: 2025)
        #expect(a.ratio == b.ratio && a.lower == b.lower && a.upper == b.upper)
        #expect(a.lower != c.lower || a.upper != c.upper)
    }

    @Test func intervalCoversTheTrueRatio() {
        // 20 independent data sets with a true median ratio of 1.1; a 95% interval should
        // cover it in nearly all of them (deterministic: seeds are fixed).
        var covered = 0
        for k in 0..<20 {
            var rng = Random(seed: UInt64(1000 + k))
            let base = (0..<3).map { _ in (0..<30).map { _ in 100 * (1 + 0.05 * rng.nextGaussian()) } }
            let head = (0..<3).map { _ in (0..<30).map { _ in 110 * (1 + 0.05 * rng.nextGaussian()) } }
            let r = Bootstrap.ratioOfMedians(base: base, head: head, resamples: 400, seed: UInt64(k))
            #expect(r.lower < r.ratio && r.ratio < r.upper)
            if r.lower <= 1.1 && 1.1 <= r.upper { covered += 1 }
        }
        #expect(covered >= 17)
    }

    @Test func intervalNarrowsWithMoreData() {
        var rng = Random(seed: 5)
        func draw(_ n: Int, _ m: Double) -> [Double] { (0..<n).map { _ in m * (1 + 0.1 * rng.nextGaussian()) } }
        let small = Bootstrap.ratioOfMedians(base: [draw(15, 100)], head: [draw(15, 105)], resamples: 500, seed: 3)
        let large = Bootstrap.ratioOfMedians(base: [draw(600, 100)], head: [draw(600, 105)], resamples: 500, seed: 3)
        #expect(large.upper - large.lower < (small.upper - small.lower) / 2)
        #expect(large.lower < 1.05 && 1.05 < large.upper)
    }

    @Test func processClusteringWidensTheInterval() {
        // Two processes per side whose levels differ (≈100 vs ≈120); batches within a
        // process agree closely. Pooled as if all batches were independent, the median sits
        // firmly in the larger process's cluster and the interval is narrow; resampling the
        // processes shows that another process placement could have given ≈120.
        var rng = Random(seed: 11)
        func process(_ level: Double, _ n: Int) -> [Double] { (0..<n).map { _ in level * (1 + 0.01 * rng.nextGaussian()) } }
        let base = [process(100, 60), process(120, 20)]
        let head = [process(101, 60), process(121, 20)]
        let hierarchical = Bootstrap.ratioOfMedians(base: base, head: head, resamples: 1000, seed: 8)
        let pooled = Bootstrap.ratioOfMedians(base: [base.flatMap { $0 }], head: [head.flatMap { $0 }],
                                              resamples: 1000, seed: 8)
        #expect(hierarchical.ratio == pooled.ratio)
        #expect(pooled.upper - pooled.lower < 0.02)
        #expect(hierarchical.upper - hierarchical.lower > 0.2)
    }
}

@Suite struct ComparatorTests {
    @Test func identicalDistributionsPass() throws {
        let base = synthetic(median: 1000, noise: 0.01, processes: 4, perProcess: 25, processSpread: 0.005, seed: 1)
        let head = synthetic(median: 1000, noise: 0.01, processes: 4, perProcess: 25, processSpread: 0.005, seed: 2)
        let c = try #require(Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "optimized"), base: base, head: head)]).first)
        #expect(c.verdict == .pass)
        #expect(c.ciUpper < 1.05)
        #expect(c.nBase == 100 && c.nHead == 100 && c.processesBase == 4 && c.processesHead == 4)
        #expect(abs(c.ratio - 1) < 0.01)
        #expect(c.instructionRatio == nil && c.instructionVerdict == nil && c.note == nil)
        #expect(GateDecision.combine([c]) == (.pass, 0))
    }

    @Test func tenPercentSlowdownLowNoiseIsARegression() throws {
        let base = synthetic(median: 1000, noise: 0.01, processes: 4, perProcess: 25, processSpread: 0.005, seed: 3)
        let head = synthetic(median: 1100, noise: 0.01, processes: 4, perProcess: 25, processSpread: 0.005, seed: 4)
        let c = try #require(Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "optimized"), base: base, head: head)]).first)
        #expect(c.verdict == .regression)
        #expect(abs(c.ratio - 1.1) < 0.02)
        #expect(c.ciLower > 1.05)
        #expect(c.decision?.method == "unpaired")
        #expect(c.pValueAdjusted <= 0.001)
        #expect(GateDecision.combine([c]) == (.regression, 1))
    }

    @Test func tenPercentSlowdownWithHighNoiseAndFewSamplesIsInconclusive() throws {
        // 2 processes × 4 batches per side, 30% batch noise, 5% process noise, true ratio 1.1:
        // too little data to decide (and with 2 processes per side and no noise history, no
        // estimate at all). Over ten data sets the gate must never pass the slowdown.
        var verdicts: [Verdict] = []
        for k in 0..<10 {
            let base = synthetic(median: 1000, noise: 0.3, processes: 2, perProcess: 4, processSpread: 0.05,
                                 seed: UInt64(100 + 2 * k))
            let head = synthetic(median: 1100, noise: 0.3, processes: 2, perProcess: 4, processSpread: 0.05,
                                 seed: UInt64(101 + 2 * k))
            let c = try #require(Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "optimized"), base: base, head: head)]).first)
            verdicts.append(c.verdict)
            if c.verdict == .inconclusive {
                #expect(c.ciUpper > 1.05)
                #expect(GateDecision.combine([c]) == (.inconclusive, 2))
            }
        }
        #expect(!verdicts.contains(.pass) && !verdicts.contains(.improvement))
        #expect(verdicts.filter { $0 == .inconclusive }.count >= 8)
    }

    @Test func noiseAloneNeverFiresTheGate() throws {
        // No real change, but strong between-process variance (10% per process) and 3% batch
        // noise, 8 processes × 8 batches per side: the unpaired estimate works on process medians,
        // so batches of one process cannot fake significance.
        var verdicts: [Verdict] = []
        for k in 0..<20 {
            let base = synthetic(median: 1000, noise: 0.03, processes: 8, perProcess: 8, processSpread: 0.1,
                                 seed: UInt64(300 + 2 * k))
            let head = synthetic(median: 1000, noise: 0.03, processes: 8, perProcess: 8, processSpread: 0.1,
                                 seed: UInt64(301 + 2 * k))
            let c = try #require(Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "v"), base: base, head: head)]).first)
            verdicts.append(c.verdict)
            #expect(c.processesBase == 8 && c.decision?.observations == 16)
        }
        #expect(!verdicts.contains(.regression))
    }

    @Test func twentyPercentSpeedupIsAnImprovementThatPasses() throws {
        let base = synthetic(median: 1000, noise: 0.02, processes: 4, perProcess: 20, processSpread: 0.01, seed: 7)
        let head = synthetic(median: 800, noise: 0.02, processes: 4, perProcess: 20, processSpread: 0.01, seed: 8)
        let c = try #require(Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "optimized"), base: base, head: head)]).first)
        #expect(c.verdict == .improvement)
        #expect(abs(c.ratio - 0.8) < 0.02 && c.ciUpper < 0.95)
        #expect(GateDecision.combine([c]) == (.pass, 0))
    }

    @Test func holmAcrossOpsAndIntervalsIndependentOfTheFamily() throws {
        // Op "a": +4% with 6 processes per side; alone vs with three unchanged ops.
        let a = ComparisonInput(key: BenchmarkKey(suite: "t", op: "a", variant: "v"),
                                base: synthetic(op: "a", median: 1000, noise: 0.01, processes: 6, perProcess: 5, processSpread: 0.01, seed: 11),
                                head: synthetic(op: "a", median: 1040, noise: 0.01, processes: 6, perProcess: 5, processSpread: 0.01, seed: 12))
        let alone = try #require(Comparator.compare([a]).first)
        let others = (1...3).map { k in
            ComparisonInput(key: BenchmarkKey(suite: "t", op: "o\(k)", variant: "v"),
                            base: synthetic(op: "o\(k)", median: 500, noise: 0.01, processes: 6, perProcess: 5, seed: UInt64(20 + k)),
                            head: synthetic(op: "o\(k)", median: 500, noise: 0.01, processes: 6, perProcess: 5, seed: UInt64(30 + k)))
        }
        let family = Comparator.compare([a] + others)
        #expect(family.map(\.op) == ["a", "o1", "o2", "o3"])
        let fa = family[0]
        #expect(abs(alone.pValueAdjusted - min(1, alone.pValue * Double(DecisionContract.maximumLooks))) < 1e-12)
        #expect(fa.pValueAdjusted >= alone.pValueAdjusted)
        // Ratio and interval of an op do not depend on which other ops are compared; the boundary does (m ops).
        #expect(fa.ratio == alone.ratio && fa.ciLower == alone.ciLower && fa.ciUpper == alone.ciUpper)
        #expect((fa.decision?.boundary ?? 0) > (alone.decision?.boundary ?? 1))
    }

    @Test func instructionVerdict() throws {
        let base = synthetic(median: 1000, noise: 0.01, processes: 2, perProcess: 10, seed: 40) { i in
            [instructions(5000 + Double(i % 3), .hw)]
        }
        let more = synthetic(median: 1000, noise: 0.01, processes: 2, perProcess: 10, seed: 41) { i in
            [instructions(5150 + Double(i % 3), .hw)]
        }
        let same = synthetic(median: 1000, noise: 0.01, processes: 2, perProcess: 10, seed: 42) { i in
            [instructions(5020 + Double(i % 3), .hw)]
        }
        let r = Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "optimized"), base: base, head: more),
                                    ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "optimized"), instructionsThreshold: 0.002,
                                                    base: base, head: same),
                                    ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "optimized"), base: base, head: same)])
        #expect(abs(try #require(r[0].instructionRatio) - 1.03) < 1e-3)
        #expect(r[0].instructionVerdict == .regression)
        #expect(r[0].instructionBackend == .hw)
        #expect(r[0].baseInstructions == 5001 && r[0].headInstructions == 5151)
        #expect(r[1].instructionVerdict == .regression)   // +0.4% against a 0.2% threshold
        #expect(r[1].instructionsThreshold == 0.002)
        #expect(r[2].instructionVerdict == .pass)         // +0.4% against the default 1%
        #expect(r[2].instructionsThreshold == Comparator.defaultInstructionsThreshold)
    }

    @Test func hwAndSimCountsAreNeverCompared() throws {
        let base = synthetic(median: 1000, noise: 0.01, processes: 2, perProcess: 10, seed: 50) { _ in
            [instructions(5000, .hw)]
        }
        let head = synthetic(median: 1000, noise: 0.01, processes: 2, perProcess: 10, seed: 51) { _ in
            [instructions(9000, .sim)]
        }
        let c = try #require(Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "v"), base: base, head: head)]).first)
        #expect(c.instructionRatio == nil && c.instructionVerdict == nil && c.instructionBackend == nil)
        #expect(c.baseInstructions == nil && c.headInstructions == nil)
        #expect(c.note?.contains("instructions not compared") == true)
        #expect(c.note?.contains("hw") == true && c.note?.contains("sim") == true)

        // A side with both backends is compared only on the backend the other side has.
        let mixed = synthetic(median: 1000, noise: 0.01, processes: 2, perProcess: 10, seed: 52) { _ in
            [instructions(5000, .hw), instructions(8000, .sim)]
        }
        let m = try #require(Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "v"), base: mixed, head: head)]).first)
        #expect(m.instructionBackend == .sim)
        #expect(m.instructionRatio == 9000.0 / 8000.0)
        // One side without counts: nothing to compare, nothing to note.
        let none = synthetic(median: 1000, noise: 0.01, processes: 2, perProcess: 10, seed: 53)
        let n = try #require(Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "v"), base: none, head: head)]).first)
        #expect(n.instructionRatio == nil && n.note == nil)
    }

    @Test func instructionsDecideAnUndecidedTimeVerdict() throws {
        let noisyBase = synthetic(median: 1000, noise: 0.3, processes: 2, perProcess: 4, seed: 60) { _ in
            [instructions(5000, .sim)]
        }
        let noisyHead = synthetic(median: 1000, noise: 0.3, processes: 2, perProcess: 4, seed: 61) { _ in
            [instructions(5200, .sim)]
        }
        let c = try #require(Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "v"), base: noisyBase, head: noisyHead)]).first)
        #expect(c.verdict == .inconclusive)
        #expect(c.instructionVerdict == .regression)
        #expect(GateDecision.gateVerdict(c) == .regression)
        #expect(GateDecision.combine([c]) == (.regression, 1))
        #expect(GateDecision.combine([c], instructionSignal: false) == (.inconclusive, 2))
        // +4% instructions (< t) with a time pass: a pass, with a note.
        var passed = c
        passed.verdict = .pass
        #expect(GateDecision.gateVerdict(passed) == .pass)
        #expect(GateDecision.instructionNote(passed) == "instructions +4.0%")
    }

    @Test func emptySideIsInconclusiveAndLeftOutOfHolm() throws {
        let base = synthetic(median: 1000, noise: 0.01, processes: 4, perProcess: 10, seed: 70)
        let head = synthetic(median: 1100, noise: 0.01, processes: 4, perProcess: 10, seed: 71)
        let r = Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "x", variant: "v"), base: base, head: []),
                                    ComparisonInput(key: BenchmarkKey(suite: "t", op: "y", variant: "v"), base: base, head: head)])
        #expect(r[0].verdict == .inconclusive)
        #expect(r[0].ratio.isNaN && r[0].nHead == 0 && r[0].pValue == 1 && r[0].pValueAdjusted == 1)
        #expect(r[0].note == "no usable head samples")
        #expect(r[1].pValueAdjusted == min(1, r[1].pValue * Double(DecisionContract.maximumLooks)))  // a family of one
        #expect(r[1].verdict == .regression)
        #expect(GateDecision.combine(r) == (.regression, 1))
    }

    @Test func belowOverheadSamplesAreLeftOut() throws {
        var base = synthetic(median: 1000, noise: 0.01, processes: 3, perProcess: 10, seed: 80)
        let head = synthetic(median: 1000, noise: 0.01, processes: 3, perProcess: 10, seed: 81)
        base.append(contentsOf: (0..<30).map { _ in sample(perIteration: 0, process: 3, flags: .belowOverhead) })
        let c = try #require(Comparator.compare([ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "v"), base: base, head: head)]).first)
        #expect(c.nBase == 30 && c.processesBase == 3)
        #expect(c.verdict == .pass)
    }

    @Test func perInputThresholdAndDeterminism() {
        let base = synthetic(median: 1000, noise: 0.01, processes: 6, perProcess: 10, seed: 90)
        let head = synthetic(median: 1030, noise: 0.01, processes: 6, perProcess: 10, seed: 91)
        let inputs = [ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "v"), base: base, head: head),
                      ComparisonInput(key: BenchmarkKey(suite: "t", op: "op", variant: "v2"), threshold: 0.02, base: base, head: head)]
        let r = Comparator.compare(inputs)
        #expect(r[0].threshold == 0.05 && r[0].verdict == .pass)        // +3% < 5%
        #expect(r[1].threshold == 0.02 && r[1].verdict == .regression)  // +3% > 2%, significant
        #expect(Comparator.compare(inputs) == r)
    }

    @Test func gateCombination() {
        func c(_ v: Verdict) -> Comparison {
            Comparison(key: BenchmarkKey(suite: "t", op: "o", variant: "v"), baseMedian: 1, headMedian: 1, ratio: 1, ciLower: 1, ciUpper: 1,
                       confidence: 0.95, pValue: 1, pValueAdjusted: 1, threshold: 0.05, verdict: v, nBase: 1, nHead: 1,
                       processesBase: 1, processesHead: 1, instructionsThreshold: 0.01)
        }
        #expect(GateDecision.combine([c(.pass), c(.improvement)]) == (.pass, 0))
        #expect(GateDecision.combine([c(.pass), c(.inconclusive)]) == (.inconclusive, 2))
        #expect(GateDecision.combine([c(.inconclusive), c(.regression), c(.pass)]) == (.regression, 1))
        #expect(GateDecision.combine([]) == (.inconclusive, 2))
    }
}
