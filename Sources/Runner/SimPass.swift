// The callgrind pass of a run: after an op's timed batches (every side's), one callgrind run per
// timed variant gives its simulated counters (instructions, cache and branch misses). Counts are
// deterministic for a given executable, op, variant, seed and iteration count, so they are looked
// up in the database's cache first (`SimCacheKey`); the misses run in parallel (`--sim-jobs`) —
// never during a timed batch, the op's timing is over — within the run's budget (`SimBudget`).
import BenchModel
import CPerfEvent
import Counters
import Foundation
import Kernels
import Store
import Suite

/// One side's op to count: the variants it timed and the timing samples that size the budget.
struct SimRequest {
    /// Index of the side in `RunConfig.sides`.
    var side: Int
    /// The side's op (`RunSide.op(for:)`).
    var op: PlannedOp
    /// Variants that passed verification and were timed (all of the op's when empty).
    var timed: [String]
    /// The side's timing samples of this op (per-iteration times for the budget).
    var timing: [Sample]
}

/// The simulated-counter pass, per side: this binary's sim choice for our own side; for a
/// foreign side (`gate --against`) its own executable when that was built without AVX-512
/// (valgrind runs it), else the sim build given with `--against-sim`.
final class SimPass {
    private let context: RunContext
    private let simulators: [Callgrind?]
    /// Per side: the cache identity of what its callgrind runs (nil = no cache for that side).
    private let identities: [SimIdentity?]
    private var cachesNoted = false
    private var profileProblemNoted = false
    private var cacheProblemNoted = false
    /// Turns mangled Swift symbols into readable names (nil without a Swift toolchain: raw names).
    private let demangler: SwiftDemangler?
    /// The run's sim budget and what it learnt about callgrind's slowdown.
    private(set) var budget: SimBudget
    /// Cache hits and callgrind runs so far per side (for the run's summary note and meta).
    private(set) var sideHits: [Int]
    private(set) var sideCounted: [Int]
    private var hits: Int { sideHits.reduce(0, +) }
    private var counted: Int { sideCounted.reduce(0, +) }
    private var hitRuns = Set<Int64>()
    /// Budget decisions of the run, `SUITE/OP/VARIANT: what (why)`, stored as run meta `sim.budget`.
    private(set) var budgetNotes: [String] = []

    /// Prepares each side's callgrind runner (none when the run's counters are not `sim`).
    init(context: RunContext) throws {
        self.context = context
        let sim = context.counters.mode == .sim
        demangler = sim ? SwiftDemangler.find(environment: context.config.environment) : nil
        budget = SimBudget(seconds: context.config.simBudgetSeconds, jobs: context.config.simJobs,
                           items: sim ? SimPass.plannedItems(context) : 0)
        var simulators: [Callgrind?] = []
        for (i, side) in context.config.sides.enumerated() {
            guard sim else {
                simulators.append(nil)
                continue
            }
            guard let exe = side.executable else {
                simulators.append(context.counters.simulator)
                continue
            }
            if let simExe = side.simExecutable {
                do {
                    simulators.append(try Callgrind.prepare(executable: simExe, environment: context.config.environment))
                } catch let e as Callgrind.Unavailable {
                    throw RunError("--against-sim \(simExe): \(e.description)")
                }
                continue
            }
            // The foreign executable itself, when valgrind can run what it was built for.
            let built = i < context.hellos.count ? context.hellos[i].isaBuilt : nil
            guard let built, !SimPass.needsSimBuild(isaBuilt: built) else {
                let why = built == nil ? "its built ISA is unknown" : "it was built for AVX-512, which valgrind cannot run"
                context.note("no simulated counters for \(side.name) (\(exe)): \(why); pass its AVX2 sim build with --against-sim")
                simulators.append(nil)
                continue
            }
            do {
                simulators.append(try Callgrind.prepare(executable: exe, environment: context.config.environment))
                context.note("simulated counters for \(side.name): callgrind runs \(exe) itself (built for \(built.joined(separator: " ")), no AVX-512)")
            } catch let e as Callgrind.Unavailable {
                context.note("no simulated counters for \(side.name) (\(exe)): \(e.description)")
                simulators.append(nil)
            }
        }
        self.simulators = simulators
        sideHits = simulators.map { _ in 0 }
        sideCounted = simulators.map { _ in 0 }
        identities = SimPass.identities(context: context, simulators: simulators)
    }

    /// True when an executable built for `isaBuilt` needs a separate AVX2 build to run under
    /// valgrind 3.19 (which cannot execute AVX-512).
    static func needsSimBuild(isaBuilt: [String]) -> Bool {
        isaBuilt.contains { $0.lowercased().hasPrefix("avx512") }
    }

    /// The cache identity per side: content hash of the executable callgrind runs (the one the
    /// stripped copy was made of), the simulator, and the ISA path that executable takes.
    private static func identities(context: RunContext, simulators: [Callgrind?]) -> [SimIdentity?] {
        guard context.config.simCache else { return simulators.map { _ in nil } }
        var version: String?
        var hashes: [String: String] = [:]
        for (i, side) in context.config.sides.enumerated() {
            let exe = side.executable ?? Harness.executablePath
            if i < context.binaryHashes.count { hashes[exe] = context.binaryHashes[i] }
        }
        return simulators.enumerated().map { i, cg in
            guard let cg else { return nil }
            let source = cg.sourceExecutable ?? cg.executable
            let hash: String
            if let h = hashes[source] {
                hash = h
            } else if let h = try? ContentHash.file(atPath: source) {
                hashes[source] = h
                hash = h
            } else {
                context.note("simulated-counter cache off for \(context.config.sides[i].name.isEmpty ? "this run" : context.config.sides[i].name): cannot hash \(source)")
                return nil
            }
            if version == nil { version = cg.version() }
            // The ISA path of the executable callgrind runs: this binary's own, the side's hello,
            // or (a separate sim build) whatever that build takes — its hash covers it.
            let path: String
            if cg.sourceExecutable == Harness.executablePath || (context.config.sides[i].executable == nil && context.config.sides[i].simExecutable == nil && source == Harness.executablePath) {
                path = ISA.kernelPath.rawValue
            } else if context.config.sides[i].simExecutable == nil, i < context.hellos.count {
                path = context.hellos[i].kernelPath
            } else {
                path = "sim-build"
            }
            return SimIdentity(binaryHash: hash, simulator: "\(version ?? "") \(Callgrind.options.joined(separator: " ")) host \(context.simHost)",
                               isaPath: path)
        }
    }

    /// Upper bound of the callgrind runs of the run: every variant of every op on every side that counts.
    private static func plannedItems(_ context: RunContext) -> Int {
        let perOp = context.plan.ops.reduce(0) { $0 + $1.spec.variants.count }
        return perOp * context.config.sides.count
    }

    /// One `.simulated` sample per variant of each request, per side (sequences from 0), each with
    /// its per-function profile (names demangled in one batch per op). Cached samples are copied
    /// from the database; the others run under callgrind, up to `--sim-jobs` at once. On
    /// SIGINT/SIGTERM the callgrind runs in flight are killed and reaped, and the samples of the
    /// variants done so far are returned with `interrupted` set. A failing callgrind run is
    /// returned as `failure` with every other variant's sample kept.
    func run(_ requests: [SimRequest], progress: ProgressLine) -> (samples: [[Sample]], interrupted: Bool, failure: (any Error)?) {
        var samples: [[Sample]] = context.config.sides.map { _ in [] }
        var items: [SimWorkItem] = []
        for r in requests {
            guard simulators[r.side] != nil else { continue }
            for v in r.timed.isEmpty ? r.op.spec.variants : r.timed {
                items.append(SimWorkItem(request: r, variant: v, iterations: r.op.simIterations,
                                         perIterationNs: SimBudget.perIterationNs(r.timing, variant: v)))
            }
        }
        guard !items.isEmpty else { return (samples, false, nil) }
        // 1. The cache, at the op's fixed iteration count; 2. the budget; 3. the cache again at a
        // reduced count; what is left runs under callgrind.
        var done: [(index: Int, sample: Sample)] = []
        var pending: [Int] = []
        for (i, item) in items.enumerated() {
            if let s = cached(item, iterations: item.iterations) {
                budget.account()
                done.append((i, s))
                continue
            }
            switch budget.plan(item: item) {
            case let .run(n, reason):
                items[i].iterations = n
                if let reason { budgetNote(item, reason) }
                if n != item.iterations, let s = cached(items[i], iterations: n) {
                    done.append((i, s))
                    continue
                }
                pending.append(i)
            case let .skip(reason):
                budgetNote(item, reason)
            }
        }
        // Identical keys (e.g. `gate --against` a byte-identical copy of this binary) run once.
        var copies: [Int: [Int]] = [:]
        var firstOfKey: [String: Int] = [:]
        pending = pending.filter { i in
            guard let text = key(items[i], iterations: items[i].iterations)?.text else { return true }
            if let first = firstOfKey[text] {
                copies[first, default: []].append(i)
                return false
            }
            firstOfKey[text] = i
            return true
        }
        var failure: (any Error)?
        var interrupted = false
        if !pending.isEmpty {
            let op = requests[0].op.qualifiedName
            progress.update("\(op) counting \(pending.count) variant run(s) under callgrind, \(min(pending.count, context.config.simJobs)) at once")
            // Every item's side has a simulator (items are only made for those).
            let runnable = pending.compactMap { i in
                simulators[items[i].request.side].map { cg in
                    (i, SimJob(callgrind: cg, arguments: ["exec", items[i].request.op.suitePath, items[i].request.op.spec.name, items[i].variant,
                                                          "--iterations", String(items[i].iterations), "--callgrind"]))
                }
            }
            pending = runnable.map(\.0)
            let jobs = runnable.map(\.1)
            let t0 = Clock.wall()
            let outcomes = SimJobs.run(jobs, parallel: context.config.simJobs, shouldStop: { fb_interrupt_signal() != 0 })
            budget.spent(seconds: Double(Clock.wall() &- t0) / 1e9)
            var fresh: [(index: Int, sample: Sample)] = []
            var caches: [Int: [String]] = [:]
            for (k, outcome) in outcomes.enumerated() {
                let i = pending[k]
                let item = items[i]
                switch outcome {
                case let .counted(out, wallNs):
                    budget.observe(item: item, wallNs: wallNs)
                    noteCaches(out.caches)
                    if let problem = out.functionsProblem, !profileProblemNoted {
                        profileProblemNoted = true
                        context.note("per-function profile not kept (\(item.request.op.qualifiedName)/\(item.variant)): \(problem)")
                    }
                    fresh.append((i, Sample(key: item.request.op.benchmarkKey(variant: item.variant), sequence: 0, iterations: item.iterations,
                                            wallNs: wallNs, cpuNs: 0, overheadNs: 0, counters: out.counterValues(), flags: .simulated,
                                            functionProfile: out.functionProfile())))
                    caches[i] = out.caches
                    sideCounted[item.request.side] += 1
                case .interrupted, .notStarted:
                    interrupted = true
                case .failed(is Callgrind.CannotExecute):
                    context.note("\(item.request.op.qualifiedName)/\(item.variant): simulated counters unavailable: valgrind cannot execute its "
                                 + "instructions (SIGILL; e.g. a plug-in built for AVX-512)")
                case let .failed(error):
                    if failure == nil { failure = RunError("\(item.request.op.qualifiedName)/\(item.variant): simulated counters failed: \(error)") }
                }
            }
            // Raw names once interrupted (no further process); the cache keeps only demangled profiles.
            if !interrupted {
                demangle(&fresh)
                for f in fresh { store(items[f.index], sample: f.sample, caches: caches[f.index] ?? []) }
            }
            for f in fresh {
                for c in copies[f.index] ?? [] {
                    var copy = f.sample
                    copy.key = items[c].request.op.benchmarkKey(variant: items[c].variant)
                    done.append((c, copy))
                    sideHits[items[c].request.side] += 1
                    markCached(items[c], from: context.runIDs[items[f.index].request.side])
                }
            }
            done += fresh
        }
        for (i, sample) in done.sorted(by: { $0.index < $1.index }) {
            var s = sample
            s.sequence = samples[items[i].request.side].count
            samples[items[i].request.side].append(s)
        }
        return (samples, interrupted, failure)
    }

    /// Says and stores the run's sim-pass summary: cache hits, callgrind runs and budget decisions.
    func finish() {
        guard hits + counted + budgetNotes.count > 0 else { return }
        var line = "simulated counters: \(counted) variant run(s) counted under callgrind, \(hits) copied from the cache"
        if !hitRuns.isEmpty { line += " (counted by run \(hitRuns.sorted().map(String.init).joined(separator: ", ")))" }
        if !context.config.simCache { line += "; cache off (--sim-cache off)" }
        context.note(line)
        for (side, id) in context.runIDs.enumerated() where side < sideHits.count {
            try? context.store.setRunMeta(runID: id, key: "sim.cache",
                                          value: "hits=\(sideHits[side]) counted=\(sideCounted[side])\(context.config.simCache ? "" : " off")")
            if !budgetNotes.isEmpty { try? context.store.setRunMeta(runID: id, key: "sim.budget", value: budgetNotes.joined(separator: "; ")) }
        }
    }

    private func budgetNote(_ item: SimWorkItem, _ reason: String) {
        let line = "\(item.request.op.qualifiedName)/\(item.variant)\(context.sideTag(item.request.side)): \(reason)"
        budgetNotes.append(line)
        context.note("sim budget: \(line)")
    }

    /// Content hash per suite file (keys of family ops).
    private var suiteHashes: [String: String] = [:]

    /// The key of `item` counted over `iterations`, nil when its side has no cache.
    private func key(_ item: SimWorkItem, iterations: Int) -> SimCacheKey? {
        guard let id = identities[item.request.side] else { return nil }
        let path = item.request.op.suitePath
        if item.request.op.spec.family != nil, suiteHashes[path] == nil { suiteHashes[path] = (try? ContentHash.file(atPath: path)) ?? "unreadable" }
        return SimCacheKey(identity: id, op: item.request.op, variant: item.variant, iterations: iterations, suiteHash: suiteHashes[path])
    }

    /// The cached sample of `item` at `iterations`, marked with the run that counted it.
    private func cached(_ item: SimWorkItem, iterations: Int) -> Sample? {
        guard let key = key(item, iterations: iterations) else { return nil }
        let entry: SimCacheEntry?
        do {
            entry = try context.store.simCacheEntry(key: key.text, binaryHash: key.identity.binaryHash)
        } catch {
            cacheProblem("read", error)
            return nil
        }
        guard let entry, entry.iterations == iterations else { return nil }
        sideHits[item.request.side] += 1
        if let r = entry.sourceRunID { hitRuns.insert(r) }
        noteCaches(entry.caches)
        markCached(item, from: entry.sourceRunID)
        return Sample(key: item.request.op.benchmarkKey(variant: item.variant), sequence: 0, iterations: entry.iterations,
                      wallNs: entry.wallNs, cpuNs: 0, overheadNs: 0, counters: entry.counters, flags: .simulated,
                      functionProfile: entry.functionProfile)
    }

    /// Run meta `sim.cached.SUITE/OP/VARIANT` = `cached from run N` on the item's side's run.
    private func markCached(_ item: SimWorkItem, from run: Int64?) {
        try? context.store.setRunMeta(runID: context.runIDs[item.request.side], key: "sim.cached.\(item.request.op.benchmarkKey(variant: item.variant))",
                                      value: "cached from run \(run.map(String.init) ?? "?")")
    }

    /// Stores what `item` counted in the cache (a failure to write costs a note, not the sample).
    private func store(_ item: SimWorkItem, sample: Sample, caches: [String]) {
        guard let key = key(item, iterations: item.iterations) else { return }
        let entry = SimCacheEntry(key: key.text, binaryHash: key.identity.binaryHash, benchmark: sample.key, iterations: sample.iterations,
                                  wallNs: sample.wallNs, counters: sample.counters, functionProfile: sample.functionProfile,
                                  caches: caches, sourceRunID: context.runIDs[item.request.side])
        do {
            try context.store.storeSimCacheEntry(entry)
        } catch {
            cacheProblem("written", error)
        }
    }

    private func cacheProblem(_ what: String, _ error: any Error) {
        guard !cacheProblemNoted else { return }
        cacheProblemNoted = true
        context.note("simulated-counter cache not \(what): \(error)")
    }

    /// Replaces the mangled Swift symbols of the samples' profiles by readable names, with one
    /// `swift-demangle` process for all of them.
    private func demangle(_ samples: inout [(index: Int, sample: Sample)]) {
        guard let demangler else { return }
        let symbols = samples.flatMap { $0.sample.functionProfile?.functions.map(\.symbol) ?? [] }
        guard !symbols.isEmpty else { return }
        let names = demangler.demangle(symbols)
        guard !names.isEmpty else { return }
        for i in samples.indices { samples[i].sample.functionProfile?.rename(names) }
    }

    /// Stores and says, once per run, the cache hierarchy callgrind simulated.
    private func noteCaches(_ caches: [String]) {
        guard !cachesNoted, !caches.isEmpty else { return }
        cachesNoted = true
        let text = caches.joined(separator: "; ")
        for id in context.runIDs { try? context.store.setRunMeta(runID: id, key: "sim.caches", value: text) }
        context.note("simulated cache hierarchy (callgrind): \(text)")
    }
}
