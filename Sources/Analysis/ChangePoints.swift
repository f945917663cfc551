// Change-point detection over a benchmark series (one benchmark's runs, oldest first): E-divisive
// means with a permutation test (Matteson & James 2014, the method of Apache Otava / hunter),
// applied to the runs' sample distributions rather than to one number per stored median. Pure: the
// caller loads the runs and stores the results; the only randomness is the seeded generator in the
// options.
//
// Each run is summarised by the quantiles of its log samples (deciles 10..90 %). The distance between
// two runs is the mean absolute difference of the chosen quantiles (by default the median alone; with
// all deciles it approximates the 1-Wasserstein distance between the two runs' log-time distributions,
// trimmed of the outer tails, and also sees a change of shape such as a new slow mode). In log space a
// uniform slowdown by a factor r moves every quantile by log r, so a step's distance is |log r| at any
// speed. Distances are capped at `distanceCap` × the median pairwise distance of the series: one run
// that a loaded machine made 3× slower must not outweigh a whole level (measured in docs/results.md,
// "Change-point detection": without the cap, recall at 5 % fell from 1.0 to 0.5 in real noise).
//
// Significance comes from permuting runs within the searched segment, so the threshold is the series'
// own between-run noise (process placement, alignment, machine state), not a hand-set percentage.
import BenchModel
import Foundation

/// One run of a series, reduced to what change-point detection needs: the quantiles of the natural
/// logarithm of its samples (e.g. per-iteration nanoseconds of every batch).
public struct RunDistribution: Sendable, Hashable {
    /// The quantile levels summarised, in (0, 1), ascending.
    public static let levels: [Double] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]

    /// log-quantiles of the run's samples at ``levels``.
    public let logQuantiles: [Double]

    /// Median of the run's log samples: the run's location, used for step sizes.
    public var logMedian: Double { logQuantiles[RunDistribution.levels.count / 2] }

    /// Summarises one run's samples. Samples that are not finite and positive are ignored;
    /// returns nil when none is left.
    public init?(samples: [Double]) {
        let logs = samples.compactMap { $0.isFinite && $0 > 0 ? Foundation.log($0) : nil }.sorted()
        guard !logs.isEmpty else { return nil }
        logQuantiles = RunDistribution.levels.map { Stats.quantile(sorted: logs, $0) }
    }

    /// A run given directly by its log-quantiles (must have `levels.count` finite values).
    public init?(logQuantiles: [Double]) {
        guard logQuantiles.count == RunDistribution.levels.count, logQuantiles.allSatisfy(\.isFinite) else { return nil }
        self.logQuantiles = logQuantiles
    }

    /// Distance between two runs: mean absolute difference of their log-quantiles (all of them, or
    /// those at positions `indices` of ``levels``).
    public func distance(to other: RunDistribution, indices: [Int]? = nil) -> Double {
        let ks = indices ?? Array(logQuantiles.indices)
        guard !ks.isEmpty else { return 0 }
        var s = 0.0
        for k in ks { s += abs(logQuantiles[k] - other.logQuantiles[k]) }
        return s / Double(ks.count)
    }

    /// Positions in ``levels`` of the given quantile levels (unknown levels are ignored; all
    /// positions when none is known).
    public static func indices(of wanted: [Double]) -> [Int] {
        let ks = wanted.compactMap { w in levels.firstIndex { abs($0 - w) < 1e-9 } }
        return ks.isEmpty ? Array(levels.indices) : Array(Set(ks)).sorted()
    }
}

/// Settings of ``ChangePoints/detect(_:knownBoundaries:options:)``. The defaults are the ones
/// measured in docs/results.md ("Change-point detection").
public struct ChangePointOptions: Sendable, Hashable {
    /// A candidate split is significant when its permutation p-value is at most this.
    public var significance: Double
    /// Random permutations per test (the smallest attainable p is 1/(permutations + 1)).
    public var permutations: Int
    /// Fewest runs on each side of a change point (at least 2). A single slow run is an outlier,
    /// not a new level; a step is reported once this many runs after it agree.
    public var minSegment: Int
    /// A significant split is reported only when its step, |log ratio|, is at least this many times
    /// the series' between-run noise (robust standard deviation of successive differences of the
    /// runs' log medians, over the whole series, divided by √2). 0 (the default) disables the check:
    /// on real noise it lowered recall at 1–2 % steps without removing a false positive
    /// (docs/results.md, "Change-point detection").
    public var minEffectNoise: Double
    /// Bootstrap resamples (over runs) for the step's confidence interval.
    public var bootstrapResamples: Int
    /// Coverage of the step's confidence interval, in (0, 1).
    public var confidence: Double
    /// Seed of the permutations and the bootstrap; the same series and seed give the same result.
    public var seed: UInt64
    /// Quantile levels (a subset of ``RunDistribution/levels``) compared between runs: `[0.5]` (the
    /// default) compares run medians; all of `RunDistribution.levels` compares the decile profiles,
    /// which also sees shape changes but has less power when batches have heavy tails.
    public var levels: [Double]
    /// Pairwise distances are capped at this multiple of their median over the series (0 = no cap),
    /// so single outlier runs do not dominate the statistic.
    public var distanceCap: Double

    /// Creates options; see each property for its meaning.
    public init(significance: Double = 0.01, permutations: Int = 199, minSegment: Int = 3, minEffectNoise: Double = 0,
                bootstrapResamples: Int = 1000, confidence: Double = 0.95, seed: UInt64 = 0x5EED_C4A6,
                levels: [Double] = [0.5], distanceCap: Double = 2) {
        self.levels = levels
        self.distanceCap = distanceCap
        self.significance = significance
        self.permutations = permutations
        self.minSegment = minSegment
        self.minEffectNoise = minEffectNoise
        self.bootstrapResamples = bootstrapResamples
        self.confidence = confidence
        self.seed = seed
    }
}

/// One change point found in a series.
public struct DetectedChangePoint: Sendable, Hashable, Codable {
    /// Index (in the analysed runs) of the first run at the new level; the run before it is `index - 1`.
    public var index: Int
    /// Step size: median of the runs' medians after / before (within the neighbouring segments).
    public var ratio: Double
    /// Lower end of the bootstrap confidence interval of `ratio` (runs resampled on each side).
    public var lower: Double
    /// Upper end of that interval.
    public var upper: Double
    /// Permutation p-value of the split when it was found.
    public var p: Double
}

/// E-divisive means change-point detection over runs.
public enum ChangePoints {
    /// Finds the change points of a series.
    ///
    /// - Parameters:
    ///   - runs: the series' runs, oldest first.
    ///   - knownBoundaries: indices `i` (0 < i < runs.count) where a change is already known (an
    ///     accepted or stored change point, between runs `i - 1` and `i`). Detection runs separately in
    ///     each segment between them, so a known large step neither masks smaller later ones nor is
    ///     reported again. Indices out of range are ignored.
    ///   - options: significance, permutations, minimum segment, effect threshold, seed.
    /// - Returns: the new change points, by index. Fewer than `2 × minSegment` runs in a segment means
    ///   nothing can be found there (a series of 1–5 runs with the defaults gives none).
    ///
    /// The search is binary segmentation: in each segment, the split maximising the E-statistic
    ///   Q(τ) = τ(m−τ)/m · (2·mean between − mean within left − mean within right)
    /// is tested by recomputing the maximum over random permutations of the segment's runs; a
    /// significant split is kept and both halves are searched again. Splits whose step is below the
    /// effect threshold still divide the search but are not reported. Step sizes and intervals are
    /// computed at the end from each point's neighbouring segments (between the final splits and the
    /// known boundaries), which are homogeneous by construction.
    public static func detect(_ runs: [RunDistribution], knownBoundaries: [Int] = [],
                              options: ChangePointOptions = ChangePointOptions()) -> [DetectedChangePoint] {
        let n = runs.count
        let minSeg = max(2, options.minSegment)
        let known = Set(knownBoundaries.filter { $0 > 0 && $0 < n })
        guard n >= 2 * minSeg else { return [] }

        // Pairwise distances, row-major n × n, capped at distanceCap × their median.
        let ks = RunDistribution.indices(of: options.levels)
        var d = [Double](repeating: 0, count: n * n)
        var upper: [Double] = []
        upper.reserveCapacity(n * (n - 1) / 2)
        for i in 0..<n {
            for j in (i + 1)..<n {
                let v = runs[i].distance(to: runs[j], indices: ks)
                d[i * n + j] = v
                d[j * n + i] = v
                upper.append(v)
            }
        }
        if options.distanceCap > 0 {
            let cap = options.distanceCap * Stats.median(upper)
            if cap > 0 { for i in d.indices where d[i] > cap { d[i] = cap } }
        }

        var rng = Random(seed: options.seed)
        var splits: [Int: Double] = [:]  // index -> p
        let cuts = [0] + known.sorted() + [n]
        var queue: [Range<Int>] = zip(cuts.dropLast(), cuts.dropFirst()).map { $0..<$1 }
        var scratch = Scratch()
        while let segment = queue.popLast() {
            guard segment.count >= 2 * minSeg else { continue }
            let order = Array(segment)
            guard let best = bestSplit(d, n: n, order: order, minSegment: minSeg, scratch: &scratch), best.q > 0 else { continue }
            let p = permutationP(d, n: n, order: order, observed: best.q, minSegment: minSeg, options: options,
                                 rng: &rng, scratch: &scratch)
            guard p <= options.significance else { continue }
            let at = segment.lowerBound + best.tau
            splits[at] = p
            queue.append(segment.lowerBound..<at)
            queue.append(at..<segment.upperBound)
        }
        guard !splits.isEmpty else { return [] }

        let locations = runs.map(\.logMedian)
        let noise = betweenRunNoise(locations)
        let allCuts = ([0] + Set(splits.keys).union(known).sorted() + [n])
        var found: [DetectedChangePoint] = []
        for (c, at) in allCuts.enumerated() where c > 0 && c < allCuts.count - 1 {
            guard let p = splits[at] else { continue }
            let left = Array(locations[allCuts[c - 1]..<at]), right = Array(locations[at..<allCuts[c + 1]])
            let step = Stats.median(right) - Stats.median(left)
            if options.minEffectNoise > 0, abs(step) < options.minEffectNoise * noise { continue }
            let ci = stepInterval(left: left, right: right, options: options, seed: options.seed &+ UInt64(at))
            found.append(DetectedChangePoint(index: at, ratio: exp(step), lower: ci.lower, upper: ci.upper, p: p))
        }
        return found
    }

    /// Robust between-run noise of a series of run locations (log medians): the median absolute
    /// successive difference × 1.4826 / √2, which a few steps barely move. 0 for fewer than 2 runs.
    public static func betweenRunNoise(_ locations: [Double]) -> Double {
        guard locations.count >= 2 else { return 0 }
        let diffs = zip(locations.dropFirst(), locations).map { abs($0 - $1) }
        return Stats.median(diffs) * 1.4826 / 2.0.squareRoot()
    }

    /// Reusable buffers of the search.
    struct Scratch {
        var rowLeft: [Double] = []
        var rowAll: [Double] = []
    }

    /// The split maximising Q over `order` (positions into the distance matrix), each side holding
    /// at least `minSegment` runs; `tau` is the size of the left side.
    static func bestSplit(_ d: [Double], n: Int, order: [Int], minSegment: Int, scratch: inout Scratch) -> (tau: Int, q: Double)? {
        let m = order.count
        guard m >= 2 * minSegment else { return nil }
        scratch.rowLeft = [Double](repeating: 0, count: m)
        scratch.rowAll = [Double](repeating: 0, count: m)
        var total = 0.0
        d.withUnsafeBufferPointer { dp in
            for a in 0..<m {
                let row = order[a] * n
                var left = 0.0, right = 0.0
                for b in 0..<a { left += dp[row + order[b]] }
                for b in (a + 1)..<m { right += dp[row + order[b]] }
                scratch.rowLeft[a] = left
                scratch.rowAll[a] = left + right
                total += left
            }
        }
        // Move runs from the right side to the left one by one.
        var withinLeft = 0.0, withinRight = total, between = 0.0
        var best: (tau: Int, q: Double)?
        for tau in 1..<m {
            let k = tau - 1
            let toLeft = scratch.rowLeft[k], toRight = scratch.rowAll[k] - scratch.rowLeft[k]
            withinLeft += toLeft
            between += toRight - toLeft
            withinRight -= toRight
            guard tau >= minSegment, m - tau >= minSegment else { continue }
            let l = Double(tau), r = Double(m - tau)
            let q = (l * r / Double(m)) * (2 * between / (l * r) - withinLeft / (l * (l - 1) / 2) - withinRight / (r * (r - 1) / 2))
            if best == nil || q > (best?.q ?? 0) { best = (tau, q) }
        }
        return best
    }

    /// Permutation p-value of `observed`: (1 + #permutations whose best Q ≥ observed) / (1 + permutations).
    /// Stops early once the p-value cannot reach the significance level any more.
    static func permutationP(_ d: [Double], n: Int, order: [Int], observed: Double, minSegment: Int, options: ChangePointOptions,
                             rng: inout Random, scratch: inout Scratch) -> Double {
        let perms = max(1, options.permutations)
        let maxExceed = Int((options.significance * Double(perms + 1)).rounded(.down)) - 1
        var shuffled = order
        var exceed = 0, done = 0
        for _ in 0..<perms {
            // Fisher–Yates with the bias-free bounded draw.
            for i in stride(from: shuffled.count - 1, to: 0, by: -1) {
                shuffled.swapAt(i, rng.nextInt(below: i + 1))
            }
            done += 1
            if let q = bestSplit(d, n: n, order: shuffled, minSegment: minSegment, scratch: &scratch)?.q, q >= observed {
                exceed += 1
                if exceed > maxExceed { break }
            }
        }
        if exceed > maxExceed && done < perms {
            // Not significant; report the p-value of the permutations done (an upper-side estimate).
            return min(1, Double(exceed + 1) / Double(done + 1))
        }
        return Double(exceed + 1) / Double(perms + 1)
    }

    /// Percentile-bootstrap interval of exp(median(right) − median(left)), resampling runs on each side.
    static func stepInterval(left: [Double], right: [Double], options: ChangePointOptions, seed: UInt64) -> (lower: Double, upper: Double) {
        var rng = Random(seed: seed)
        let resamples = max(1, options.bootstrapResamples)
        var ratios: [Double] = []
        ratios.reserveCapacity(resamples)
        var bl = [Double](repeating: 0, count: left.count), br = [Double](repeating: 0, count: right.count)
        for _ in 0..<resamples {
            for i in 0..<left.count { bl[i] = left[rng.nextInt(below: left.count)] }
            for i in 0..<right.count { br[i] = right[rng.nextInt(below: right.count)] }
            ratios.append(exp(Stats.median(br) - Stats.median(bl)))
        }
        ratios.sort()
        let alpha = 1 - min(max(options.confidence, 1e-9), 1 - 1e-9)
        return (Stats.quantile(sorted: ratios, alpha / 2), Stats.quantile(sorted: ratios, 1 - alpha / 2))
    }
}
