/// Bootstrap confidence intervals.
public enum Bootstrap {
    /// Ratio of medians, head over base, with a hierarchical percentile-bootstrap confidence
    /// interval.
    ///
    /// - Parameters:
    ///   - base: baseline values grouped by worker process (outer array: processes; inner: the
    ///     per-iteration values of that process's batches). Empty groups are ignored.
    ///   - head: candidate values, grouped the same way.
    ///   - resamples: number of bootstrap resamples (at least 1).
    ///   - confidence: coverage of the interval, in (0, 1).
    ///   - seed: seed of the ``Random`` generator; the same inputs and seed give the same
    ///     interval on every machine.
    /// - Returns: `ratio` = median(all head values) / median(all base values) (pooled, numpy
    ///   median), and the percentile interval [`lower`, `upper`] of the resampled ratios
    ///   (quantiles (1−c)/2 and (1+c)/2, linear interpolation).
    ///
    /// Each resample is drawn in two stages, for base and head independently: as many processes
    /// as there are, with replacement; then, for each drawn process, as many of its values as it
    /// has, with replacement. Its ratio is median(resampled head) / median(resampled base).
    /// Resampling processes carries the between-process variance (memory placement, alignment;
    /// see "Processes, baselines and the gate" in the README) into the interval, which batches of one process cannot show. With
    /// a single process per side the first stage is skipped (no random draw) and this is the
    /// ordinary percentile bootstrap of the values.
    ///
    /// Both sides must contain at least one value. A zero base median makes the ratio infinite
    /// or NaN; callers with such data must not rely on the result.
    public static func ratioOfMedians(base: [[Double]], head: [[Double]], resamples: Int = 2000,
                                      confidence: Double = 0.95, seed: UInt64) -> (ratio: Double, lower: Double, upper: Double) {
        let r = ratioOfMediansTest(base: base, head: head, resamples: resamples, confidence: confidence, seed: seed)
        return (r.ratio, r.lower, r.upper)
    }

    /// ``ratioOfMedians(base:head:resamples:confidence:seed:)`` plus a two-sided bootstrap
    /// p-value for "ratio = 1": twice the share of resampled ratios on the far side of 1 (at
    /// least 1/resamples, at most 1). Because it resamples processes, it carries the
    /// between-process variance that a rank test on pooled batches ignores.
    public static func ratioOfMediansTest(base: [[Double]], head: [[Double]], resamples: Int = 2000, confidence: Double = 0.95,
                                          seed: UInt64) -> (ratio: Double, lower: Double, upper: Double, p: Double) {
        let baseGroups = base.filter { !$0.isEmpty }
        let headGroups = head.filter { !$0.isEmpty }
        precondition(!baseGroups.isEmpty && !headGroups.isEmpty, "bootstrap needs values on both sides")
        precondition(resamples >= 1, "bootstrap needs at least one resample")
        precondition(confidence > 0 && confidence < 1, "confidence must lie in (0, 1)")

        let ratio = Stats.median(headGroups.flatMap { $0 }) / Stats.median(baseGroups.flatMap { $0 })

        var rng = Random(seed: seed)
        var ratios: [Double] = []
        ratios.reserveCapacity(resamples)
        var buffer: [Double] = []
        for _ in 0..<resamples {
            let mb = resampledMedian(baseGroups, &rng, &buffer)
            let mh = resampledMedian(headGroups, &rng, &buffer)
            ratios.append(mh / mb)
        }
        ratios.sort()
        let alpha = 1 - confidence
        let below = Double(ratios.filter { $0 <= 1 }.count), above = Double(ratios.filter { $0 >= 1 }.count)
        let p = min(1, max(1 / Double(resamples), 2 * min(below, above) / Double(resamples)))
        return (ratio, Stats.quantile(sorted: ratios, alpha / 2), Stats.quantile(sorted: ratios, 1 - alpha / 2), p)
    }

    /// Median of `groups` (pooled) with a process-resampling percentile-bootstrap interval — the
    /// uncertainty of one run's median, for exports such as Bencher's lower/upper values.
    public static func medianInterval(_ groups: [[Double]], resamples: Int = 2000, confidence: Double = 0.95,
                                      seed: UInt64) -> (median: Double, lower: Double, upper: Double) {
        let g = groups.filter { !$0.isEmpty }
        precondition(!g.isEmpty, "bootstrap needs values")
        var rng = Random(seed: seed)
        var buffer: [Double] = []
        var medians: [Double] = []
        medians.reserveCapacity(resamples)
        for _ in 0..<resamples { medians.append(resampledMedian(g, &rng, &buffer)) }
        medians.sort()
        let alpha = 1 - confidence
        return (Stats.median(g.flatMap { $0 }), Stats.quantile(sorted: medians, alpha / 2), Stats.quantile(sorted: medians, 1 - alpha / 2))
    }

    /// Median of one two-stage resample of `groups` (processes, then values within each).
    static func resampledMedian(_ groups: [[Double]], _ rng: inout Random, _ buffer: inout [Double]) -> Double {
        buffer.removeAll(keepingCapacity: true)
        let g = groups.count
        for _ in 0..<g {
            let group = g == 1 ? groups[0] : groups[rng.nextInt(below: g)]
            for _ in 0..<group.count {
                buffer.append(group[rng.nextInt(below: group.count)])
            }
        }
        return Stats.medianInPlace(&buffer)
    }
}
