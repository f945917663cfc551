import BenchModel
import Counters
import Suite

/// The simulated-counter pass of one op: one callgrind run per variant, a fixed iteration count.
enum SimPass {
    /// Returns one `.simulated` sample per variant and the cache hierarchy callgrind simulated.
    static func run(op: PlannedOp, variants: [String], callgrind: Callgrind, sequenceStart: Int, flags: SampleFlags,
                    progress: (String) -> Void) throws -> (samples: [Sample], caches: [String]) {
        let n = op.simIterations
        var samples: [Sample] = []
        var caches: [String] = []
        for v in variants {
            progress("\(op.qualifiedName) \(v) counting under callgrind (\(n) iterations)")
            let t0 = Clock.wall()
            let out: CallgrindOutput
            do {
                out = try callgrind.run(arguments: ["exec", op.suitePath, op.spec.name, v, "--iterations", String(n), "--callgrind"])
            } catch let e as Callgrind.Unavailable {
                throw RunError("\(op.qualifiedName)/\(v): simulated counters failed: \(e.description)")
            } catch let e as CallgrindOutput.ParseError {
                throw RunError("\(op.qualifiedName)/\(v): simulated counters failed: \(e.description)")
            }
            if caches.isEmpty { caches = out.caches }
            samples.append(Sample(key: op.benchmarkKey(variant: v), sequence: sequenceStart + samples.count, iterations: n,
                                  wallNs: Double(Clock.wall() &- t0), cpuNs: 0, overheadNs: 0,
                                  counters: out.counterValues(), flags: flags.union(.simulated)))
        }
        return (samples, caches)
    }
}
