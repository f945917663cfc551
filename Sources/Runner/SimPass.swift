// The callgrind pass of a run: after an op is timed, one callgrind run per timed variant gives
// its simulated counters (instructions, cache and branch misses).
import BenchModel
import CPerfEvent
import Counters
import Suite

/// The simulated-counter pass, per side: this binary's sim choice for our own side; for a
/// foreign side (`gate --against`) only when it came with its own sim executable.
final class SimPass {
    private let context: RunContext
    private let simulators: [Callgrind?]
    private var cachesNoted = false
    private var profileProblemNoted = false
    /// Turns mangled Swift symbols into readable names (nil without a Swift toolchain: raw names).
    private let demangler: SwiftDemangler?

    /// Prepares each side's callgrind runner (none when the run's counters are not `sim`).
    init(context: RunContext) throws {
        self.context = context
        demangler = context.counters.mode == .sim ? SwiftDemangler.find(environment: context.config.environment) : nil
        simulators = try context.config.sides.map { side in
            guard context.counters.mode == .sim else { return nil }
            guard let exe = side.executable else { return context.counters.simulator }
            guard let simExe = side.simExecutable else {
                context.note("no simulated counters for \(side.name) (\(exe)): pass its AVX2 sim build with --against-sim")
                return nil
            }
            do {
                return try Callgrind.prepare(executable: simExe, environment: context.config.environment)
            } catch let e as Callgrind.Unavailable {
                throw RunError("--against-sim \(simExe): \(e.description)")
            }
        }
    }

    /// One `.simulated` sample per variant in `timed` (all of the op's variants when empty), with
    /// sequences from 0, each with its per-function profile (names demangled in one batch per op).
    /// On SIGINT/SIGTERM the callgrind run in flight is killed, and the samples
    /// of the variants done so far are returned with `interrupted` set.
    func run(op: PlannedOp, side: Int, timed: [String], progress: ProgressLine) throws -> (samples: [Sample], interrupted: Bool) {
        guard let callgrind = simulators[side] else { return ([], false) }
        let variants = timed.isEmpty ? op.spec.variants : timed
        let n = op.simIterations
        var samples: [Sample] = []
        for v in variants {
            progress.update("\(op.qualifiedName) \(v) counting under callgrind (\(n) iterations)")
            let t0 = Clock.wall()
            let out: CallgrindOutput
            do {
                out = try callgrind.run(arguments: ["exec", op.suitePath, op.spec.name, v, "--iterations", String(n), "--callgrind"],
                                        shouldStop: { fb_interrupt_signal() != 0 })
            } catch is Callgrind.Interrupted {
                return (samples, true)   // raw names: no further process once interrupted
            } catch let e as Callgrind.Unavailable {
                throw RunError("\(op.qualifiedName)/\(v): simulated counters failed: \(e.description)")
            } catch let e as CallgrindOutput.ParseError {
                throw RunError("\(op.qualifiedName)/\(v): simulated counters failed: \(e.description)")
            }
            try noteCaches(out.caches)
            if let problem = out.functionsProblem, !profileProblemNoted {
                profileProblemNoted = true
                context.note("per-function profile not kept (\(op.qualifiedName)/\(v)): \(problem)")
            }
            samples.append(Sample(key: op.benchmarkKey(variant: v), sequence: samples.count, iterations: n,
                                  wallNs: Double(Clock.wall() &- t0), cpuNs: 0, overheadNs: 0,
                                  counters: out.counterValues(), flags: .simulated, functionProfile: out.functionProfile()))
        }
        demangle(&samples)
        return (samples, false)
    }

    /// Replaces the mangled Swift symbols of the samples' profiles by readable names, with one
    /// `swift-demangle` process for all of them.
    private func demangle(_ samples: inout [Sample]) {
        guard let demangler else { return }
        let symbols = samples.flatMap { $0.functionProfile?.functions.map(\.symbol) ?? [] }
        let names = demangler.demangle(symbols)
        guard !names.isEmpty else { return }
        for i in samples.indices { samples[i].functionProfile?.rename(names) }
    }

    /// Stores and says, once per run, the cache hierarchy callgrind simulated.
    private func noteCaches(_ caches: [String]) throws {
        guard !cachesNoted, !caches.isEmpty else { return }
        cachesNoted = true
        let text = caches.joined(separator: "; ")
        for id in context.runIDs { try context.store.setRunMeta(runID: id, key: "sim.caches", value: text) }
        context.note("simulated cache hierarchy (callgrind): \(text)")
    }
}
