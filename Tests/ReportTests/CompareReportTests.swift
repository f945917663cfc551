import Analysis
import BenchModel
import Foundation
import Report
import Store
import TestSupport
import Testing

/// `CompareReport` on synthetic runs: every gate outcome, Holm across ops, warnings, errors,
/// and the three renderings.
@Suite struct CompareReportTests {
    /// Two ops at 10 µs and 40 µs, tight noise, 5 processes × 8 batches per variant.
    static func steadyOps(factor: Double = 1, seed: UInt64 = 1) -> [Synthetic.Op] {
        [Synthetic.op("gemm_16", median: 10_000 * factor, seed: seed),
         Synthetic.op("bias_relu_small", median: 40_000 * factor, seed: seed &+ 100)]
    }

    @Test func runComparedWithItselfPasses() throws {
        let store = try ResultStore.inMemory()
        let id = try Synthetic.run(store, ops: Self.steadyOps())
        let r = try CompareReport(store: store, baseIDs: [id], headIDs: [id])
        #expect(r.verdict == .pass)
        #expect(r.exitCode == 0)
        #expect(r.comparisons.count == 4)
        for c in r.comparisons {
            #expect(c.verdict == .pass)
            #expect(c.ratio == 1)
            #expect(c.ciLower <= 1 && c.ciUpper >= 1 && c.ciUpper < 1.05)
            #expect(c.processesBase == 5 && c.processesHead == 5)
        }
        #expect(r.warnings.isEmpty, "\(r.warnings)")
    }

    @Test func identicalDistributionsInTwoRunsPass() throws {
        let store = try ResultStore.inMemory()
        let base = try Synthetic.run(store, ops: Self.steadyOps(seed: 1))
        let head = try Synthetic.run(store, ops: Self.steadyOps(seed: 7))
        let r = try CompareReport(store: store, baseIDs: [base], headIDs: [head])
        #expect(r.exitCode == 0, "\(r.comparisons.map { ($0.op, $0.variant, $0.verdict, $0.ciLower, $0.ciUpper) })")
        #expect(r.comparisons.allSatisfy { $0.verdict == .pass })
    }

    @Test func thirtyPercentSlowerHeadIsARegression() throws {
        let store = try ResultStore.inMemory()
        let base = try Synthetic.run(store, ops: Self.steadyOps(seed: 1))
        let head = try Synthetic.run(store, ops: Self.steadyOps(factor: 1.3, seed: 7))
        let r = try CompareReport(store: store, baseIDs: [base], headIDs: [head])
        #expect(r.verdict == .regression)
        #expect(r.exitCode == 1)
        for c in r.comparisons {
            #expect(c.verdict == .regression)
            #expect(abs(c.ratio - 1.3) < 0.02)
            #expect(c.ciLower > 1.05)
            #expect(c.pValueAdjusted < 0.05)
        }
        // The other direction is an improvement, which passes the gate.
        let back = try CompareReport(store: store, baseIDs: [head], headIDs: [base])
        #expect(back.exitCode == 0)
        #expect(back.comparisons.allSatisfy { $0.verdict == .improvement })
    }

    /// Batches flagged descheduled/throttled are kept and counted, and left out on request.
    @Test func flaggedBatchesCanBeExcluded() throws {
        let store = try ResultStore.inMemory()
        let base = try Synthetic.run(store, ops: Self.steadyOps(seed: 1))
        // Head: the same distribution, but every 4th batch is 3× slower and flagged descheduled.
        var ops = Self.steadyOps(seed: 9)
        for i in ops.indices {
            for (v, processes) in ops[i].values {
                ops[i].values[v] = processes.map { values in values.enumerated().map { $0.offset % 4 == 0 ? $0.element * 3 : $0.element } }
            }
        }
        let head = try Synthetic.run(store, ops: ops, flags: { _, index in index % 8 % 4 == 0 ? .descheduled : [] })
        let kept = try CompareReport(store: store, baseIDs: [base], headIDs: [head])
        #expect(kept.excludedThrottled == 0)
        let excluded = try CompareReport(store: store, baseIDs: [base], headIDs: [head],
                                         options: CompareReport.Options(excludeThrottled: true))
        #expect(excluded.excludedThrottled > 0)
        #expect(excluded.comparisons.allSatisfy { abs($0.ratio - 1) < 0.02 })
        #expect(excluded.exitCode == 0)
    }

    @Test func veryNoisyHeadIsInconclusive() throws {
        let store = try ResultStore.inMemory()
        let base = try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: 10_000, seed: 1)])
        let head = try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: 10_000, noise: 0.4, processSpread: 0.6, seed: 3)])
        let r = try CompareReport(store: store, baseIDs: [base], headIDs: [head])
        #expect(r.verdict == .inconclusive, "\(r.comparisons.map { ($0.variant, $0.ratio, $0.ciLower, $0.ciUpper, $0.pValueAdjusted) })")
        #expect(r.exitCode == 2)
        #expect(r.comparisons.allSatisfy { $0.verdict == .inconclusive })
        #expect(r.comparisons.allSatisfy { $0.ciUpper - $0.ciLower > 0.2 })
    }

    /// Holm across the compared ops (and × the looks): the same slowed op "a" compared alone and
    /// among three ops; its corrected p-value is its raw p × 3 ops × 6 looks in the family.
    @Test func holmAdjustmentAcrossOps() throws {
        func op(_ name: String, _ level: Double) -> Synthetic.Op {
            var processes: [[Double]] = []
            for o in [0.0, 0.4, -0.4, 0.2] { processes.append([level + o, level + o + 1, level + o + 2, level + o + 3]) }
            return Synthetic.Op(name: name, values: ["optimized": processes])
        }
        let store = try ResultStore.inMemory()
        let baseRun = try Synthetic.run(store, ops: [op("a", 100), op("b", 100), op("c", 100)])
        let headRun = try Synthetic.run(store, ops: [op("a", 130), op("b", 100), op("c", 100)])
        let onlyA = try Synthetic.run(store, ops: [op("a", 130)])

        let single = try CompareReport(store: store, baseIDs: [baseRun], headIDs: [onlyA])
        let a1 = try #require(single.comparisons.first)
        #expect(abs(a1.pValueAdjusted - min(1, a1.pValue * Double(DecisionContract.maximumLooks))) < 1e-12)
        #expect(a1.ciLower > 1.05)
        #expect(a1.verdict == .regression)
        #expect(single.exitCode == 1)

        let multi = try CompareReport(store: store, baseIDs: [baseRun], headIDs: [headRun])
        #expect(multi.comparisons.map(\.key.opKey.description) == ["tiny/a", "tiny/b", "tiny/c"])
        let a = multi.comparisons[0]
        #expect(abs(a.pValueAdjusted - min(1, 3 * a.pValue * Double(DecisionContract.maximumLooks))) < 1e-12,
                "smallest of 3 p-values × 3 ops × the looks")
        #expect(a.ratio > 1.25 && a.ciLower > 1)
        #expect(multi.comparisons[1].verdict == .pass && multi.comparisons[2].verdict == .pass)
    }

    /// One process per side and no noise history: no honest interval, so inconclusive with the
    /// reason, and the `noise:` line says so (compare's guarantee without learned noise).
    @Test func oneProcessPerSideWithoutHistoryIsInconclusiveWithTheReason() throws {
        let store = try ResultStore.inMemory()
        let ops = [Synthetic.Op(name: "a", values: ["optimized": [[100, 101, 102, 103]]])]
        let slow = [Synthetic.Op(name: "a", values: ["optimized": [[150, 151, 152, 153]]])]
        let r = try CompareReport(store: store, baseIDs: [try Synthetic.run(store, ops: ops)], headIDs: [try Synthetic.run(store, ops: slow)])
        let c = try #require(r.comparisons.first)
        #expect(c.verdict == .inconclusive && c.decision == nil)
        #expect(c.undecidedReason == "one process per side and no noise history on this machine: 0 of 5 A/A pairs")
        #expect(r.exitCode == 2)
        #expect(abs(c.ratio - 1.5) < 0.02)  // the descriptive ratio is still shown
        let text = CompareRenderer.text(r, colour: false)
        #expect(text.contains("undecided: tiny/a/optimized: one process per side and no noise history"))
        #expect(text.contains("noise: no estimate: one process per side"))
    }

    /// Two rounds (runs) per side: groups are (run, process), so process 0 of each run is its own
    /// group; paired, run i of base goes with run i of head.
    @Test func mergedRoundsKeepProcessesApartAndPairWithinARound() throws {
        let store = try ResultStore.inMemory()
        // 10 processes per round, each its own speed: the pair ratios vary by ±0.3% around the step.
        func op(_ level: Double, jitter: Double = 0) -> [Synthetic.Op] {
            var processes: [[Double]] = []
            for p in 0..<10 {
                let center: Double = level * (1 + 0.001 * Double(p)) * (1 + jitter * sin(Double(p) * 1.7 + level))
                processes.append([center, center + 0.01, center + 0.02])
            }
            return [Synthetic.Op(name: "a", values: ["optimized": processes])]
        }
        // Round 2 ran on a machine 40% slower: pairing within rounds still sees +10%.
        let b1 = try Synthetic.run(store, ops: op(100)), h1 = try Synthetic.run(store, ops: op(110, jitter: 0.003))
        let b2 = try Synthetic.run(store, ops: op(140)), h2 = try Synthetic.run(store, ops: op(154, jitter: 0.003))
        let r = try CompareReport(store: store, baseIDs: [b1, b2], headIDs: [h1, h2], options: .init(paired: true))
        let c = try #require(r.comparisons.first)
        #expect(c.processesBase == 20 && c.processesHead == 20)
        #expect(c.decision?.method == "paired" && c.decision?.observations == 20)
        #expect(abs(c.ratio - 1.1) < 2e-3)
        #expect(GateDecision.gateVerdict(c) == .regression, "\(String(describing: c.decision))")
        #expect(r.noiseLines == ["paired: 20 back-to-back base/head process pairs, sign-flip tests"])
        // Unequal round counts cannot be paired.
        #expect(throws: CompareError.self) { try CompareReport(store: store, baseIDs: [b1], headIDs: [h1, h2], options: .init(paired: true)) }
    }

    @Test func onlyInOneSideAndEnvironmentChangesAreWarnings() throws {
        let store = try ResultStore.inMemory()
        var other = Synthetic.machine
        other.cpuModel = "Other CPU 1"
        other.logicalCPUs = 64
        let base = try Synthetic.run(store, ops: Self.steadyOps() + [Synthetic.op("gone", median: 5_000, seed: 9)])
        var reshaped = Self.steadyOps()
        reshaped[0].shape = ["m": 16, "n": 16, "k": 32]
        let head = try Synthetic.run(store, ops: reshaped + [Synthetic.op("new_op", median: 5_000, seed: 9)],
                                     harness: "9.9.9", machine: other, status: .interrupted)
        let r = try CompareReport(store: store, baseIDs: [base], headIDs: [head])
        #expect(r.onlyInBase == ["tiny/gone/reference", "tiny/gone/optimized"])
        #expect(r.onlyInHead == ["tiny/new_op/reference", "tiny/new_op/optimized"])
        #expect(r.comparisons.count == 4)
        let w = r.warnings.joined(separator: "\n")
        #expect(w.contains("only in base (not compared): tiny/gone/reference, tiny/gone/optimized"))
        #expect(w.contains("only in head (not compared): tiny/new_op/reference, tiny/new_op/optimized"))
        #expect(w.contains("different machines"))
        #expect(w.contains("Other CPU 1"))
        #expect(w.contains("different harness versions: base \(Harness.version), head 9.9.9"))
        #expect(w.contains("run \(head) is interrupted"))
        #expect(w.contains("op tiny/\(reshaped[0].name) has another shape or dtype (base k=16,m=16,n=16 f32, head k=32,m=16,n=16 f32)"))
        // Every rendering shows them.
        #expect(try CompareRenderer.render(r, format: .text).contains("warning: only in head"))
        #expect(try CompareRenderer.render(r, format: .markdown).contains("> ⚠️ different machines"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(CompareRenderer.render(r, format: .json).utf8)) as? [String: Any])
        #expect((json["warnings"] as? [String])?.count == r.warnings.count)
        #expect((json["onlyInHead"] as? [String]) == r.onlyInHead)
    }

    @Test func badComparisonsThrow() throws {
        let store = try ResultStore.inMemory()
        let good = try Synthetic.run(store, ops: Self.steadyOps())
        let empty = try Synthetic.run(store, ops: [])
        let otherSuite = try Synthetic.run(store, suite: "other", ops: Self.steadyOps())
        let disjoint = try Synthetic.run(store, ops: [Synthetic.op("unrelated", median: 1_000, seed: 4)])

        #expect(throws: CompareError.self) { try CompareReport(store: store, baseIDs: [good], headIDs: [empty]) }
        #expect(throws: CompareError.self) { try CompareReport(store: store, baseIDs: [empty], headIDs: [good]) }
        do {
            _ = try CompareReport(store: store, baseIDs: [good], headIDs: [otherSuite])
            Issue.record("different suites should throw")
        } catch let e as CompareError {
            #expect(e.description.contains("different suites"))
        }
        #expect(throws: CompareError.self) { try CompareReport(store: store, baseIDs: [good], headIDs: [disjoint]) }
        #expect(throws: StoreError.unknownRun("999")) { try CompareReport(store: store, baseIDs: [good], headIDs: [999]) }
    }

    @Test func renderingsCarryTheVerdict() throws {
        let store = try ResultStore.inMemory()
        let base = try Synthetic.run(store, ops: Self.steadyOps(seed: 1))
        let head = try Synthetic.run(store, ops: Self.steadyOps(factor: 1.3, seed: 7))
        let r = try CompareReport(store: store, baseIDs: [base], headIDs: [head])

        let text = try CompareRenderer.render(r, format: .text)
        #expect(text.contains("ratio [95% CI]"))
        #expect(text.contains("tiny/gemm_16/optimized"))
        #expect(text.contains("REGRESSION — 4 regression"))
        #expect(!text.contains("\u{1B}["), "no colour unless asked")
        #expect(CompareRenderer.text(r, colour: true).contains("\u{1B}[31m"))

        let md = try CompareRenderer.render(r, format: .markdown)
        #expect(md.hasPrefix("### fusebench: ❌ regression"))
        #expect(md.split(separator: "\n").filter { $0.hasPrefix("| tiny/") }.count == 4)

        let doc = try #require(try JSONSerialization.jsonObject(with: Data(CompareRenderer.render(r, format: .json).utf8)) as? [String: Any])
        #expect(doc["verdict"] as? String == "regression")
        #expect(doc["exitCode"] as? Int == 1)
        #expect(doc["baseRuns"] as? [Int] == [Int(base)])
        #expect(doc["headRuns"] as? [Int] == [Int(head)])
        let comparisons = try #require(doc["comparisons"] as? [[String: Any]])
        #expect(comparisons.count == 4)
        for c in comparisons {
            for key in ["benchmark", "suite", "op", "variant", "ratio", "ciLower", "ciUpper", "pValue", "pValueAdjusted", "verdict", "threshold",
                        "baseMedian", "headMedian", "nBase", "nHead"] {
                #expect(c[key] != nil, "comparison lacks \(key)")
            }
            #expect(c["verdict"] as? String == "regression")
            // `benchmark` is the identity SUITE/OP/VARIANT; `op` is the bare op name.
            let suite = try #require(c["suite"] as? String), op = try #require(c["op"] as? String)
            let variant = try #require(c["variant"] as? String)
            #expect(c["benchmark"] as? String == "\(suite)/\(op)/\(variant)")
            #expect(suite == "tiny" && !op.contains("/"), "\(c)")
            let lo = try #require(c["ciLower"] as? Double), ratio = try #require(c["ratio"] as? Double), hi = try #require(c["ciUpper"] as? Double)
            #expect(lo <= ratio && ratio <= hi)
        }
    }

    @Test func thresholdOverrideAndMergedRuns() throws {
        let store = try ResultStore.inMemory()
        let base1 = try Synthetic.run(store, ops: Self.steadyOps(seed: 1))
        let base2 = try Synthetic.run(store, ops: Self.steadyOps(seed: 2))
        let head = try Synthetic.run(store, ops: Self.steadyOps(factor: 1.3, seed: 7))
        // 30% slower is within a 50% threshold: pass.
        let lenient = try CompareReport(store: store, baseIDs: [base1, base2], headIDs: [head],
                                        options: .init(threshold: 0.5))
        #expect(lenient.exitCode == 0)
        #expect(lenient.comparisons.allSatisfy { $0.threshold == 0.5 })
        // Merged runs keep their processes apart: 2 runs × 5 processes.
        #expect(lenient.comparisons.allSatisfy { $0.processesBase == 10 && $0.nBase == 80 })
    }
}
