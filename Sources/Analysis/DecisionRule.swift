// Applies the gate's contract (DecisionContract) to a family of log-ratio estimates: Holm across the
// family, Bonferroni across sequential looks, the indifference-zone boundary, and the reasons an op
// stays undecided (too few pairs, not yet significant, too noisy on this machine).
import Foundation

/// How one op's time verdict was reached (JSON: `decision` of a comparison).
public struct DecisionDetails: Codable, Sendable, Hashable {
    /// `paired` or `unpaired`.
    public var method: String
    /// d̂ = ln(head/base).
    public var estimate: Double
    /// Standard error of d̂.
    public var standardError: Double
    /// Degrees of freedom of its t reference distribution (a large number stands for normal).
    public var degreesOfFreedom: Double
    /// δ = ln(1 + t).
    public var delta: Double
    /// Decision boundary c inside [0, δ]: max(``DecisionContract/boundary(delta:benchmarks:)``, δ − (ln upperBound − d̂)).
    public var boundary: Double
    /// Look-corrected one-sided upper bound of the ratio at confidence 1 − missRate / maximumLooks:
    /// paired, the bound of the sign-flip test (``SignFlipTest/upperBound(level:)``); unpaired,
    /// exp(d̂ + q·se) with q the t quantile at
    /// 1 − missRate / maximumLooks. Pass needs it below 1 + t.
    public var upperBound: Double
    /// One-sided p-value of the test of d ≤ 0.
    public var pValueOneSided: Double
    /// That p-value after Holm across the family and × maximumLooks (Bonferroni over looks); regression needs < 1%.
    public var pValueCorrected: Double
    /// The look (measuring round) this decision was made at, 1-based.
    public var look: Int
    /// Looks the gate may take at most.
    public var maximumLooks: Int
    /// Pairs (paired) or processes of both sides (unpaired).
    public var observations: Int
    /// Smallest threshold this op can resolve given its standard-error floor, when it has one.
    public var smallestResolvableThreshold: Double?
    /// Which noise the standard error includes.
    public var noiseSource: String
    /// Why the op is undecided (nil when decided).
    public var reason: String?
    /// Head runs whose own estimate is at or above the boundary, when the regression rule counts
    /// them (unpaired, one- or two-process head runs); nil otherwise.
    public var confirmingRuns: Int?
    /// Head runs counted for `confirmingRuns`; nil when not counted.
    public var headRuns: Int?
    /// True when the op would be a regression but too few head runs show it yet: measuring another
    /// round can decide it (the gate does not give up on it as too noisy).
    public var awaitsConfirmation: Bool?
}

/// The decision rule of the contract.
public enum DecisionRule {
    /// Decides each op of one family (the ops gated together) at `look`.
    ///
    /// Per op with an estimate, δ = ln(1 + t), U the look-corrected upper bound (log) at confidence
    /// 1 − missRate / maximumLooks and c = max(``DecisionContract/boundary(delta:benchmarks:)``, δ − (U − d̂))
    /// with m = the number of estimates in the family. A paired estimate takes its one-sided p and U
    /// from its exact sign-flip tests (``LogRatioEstimate/signFlip``), an unpaired one from Student's t:
    /// - **regression** if d̂ ≥ c and the one-sided p of d ≤ 0, Holm-adjusted over the family and
    ///   multiplied by ``DecisionContract/maximumLooks``, is below ``DecisionContract/falseFailure``,
    ///   and — for an estimate with ``LogRatioEstimate/headRunEstimates`` — at least
    ///   ``DecisionContract/confirmingRuns`` head runs have their own estimate ≥ c (else it awaits
    ///   confirmation: inconclusive, and another round may decide it);
    /// - **improvement** if a speedup of t is excluded too, i.e. the bound is below 1 − t (it passes);
    /// - **pass** if a slowdown of t is excluded at confidence 1 − missRate / maximumLooks: paired, by
    ///   the sign-flip test at δ (whose inversion U is); unpaired, U below δ (which implies d̂ < c);
    /// - otherwise **inconclusive** (undecided), with the reason.
    /// An input without an estimate is inconclusive with `missingReasons[i]` and takes no part in Holm.
    ///
    /// `bounds: false` leaves a paired estimate's `upperBound` NaN (and its boundary the fixed c):
    /// the bound is a bisection of the sign-flip test, shown to the user but not needed for the
    /// verdict, which the simulations of the contract's tests make by the thousand.
    public static func decide(_ estimates: [LogRatioEstimate?], thresholds: [Double], look: Int,
                              missingReasons: [String?] = [], bounds: Bool = true) -> [(verdict: Verdict, details: DecisionDetails?, reason: String?)] {
        precondition(estimates.count == thresholds.count, "one threshold per estimate")
        let L = DecisionContract.maximumLooks
        let valid = estimates.indices.filter { estimates[$0].map { $0.standardError.isFinite && $0.estimate.isFinite } ?? false }
        let m = valid.count
        var raw = [Double](repeating: .nan, count: estimates.count)
        // The smallest p-value Holm can ask for: α at its strictest step, over the looks.
        let strictest = DecisionContract.falseFailure / Double(max(1, m) * L)
        for i in valid {
            guard let e = estimates[i] else { continue }
            if let flips = e.signFlip {
                raw[i] = flips.pValue(shift: 0, alternative: .greater, level: strictest)
            } else {
                raw[i] = e.standardError > 0 ? 1 - StudentT.cdf(e.estimate / e.standardError, df: e.degreesOfFreedom)
                                              : (e.estimate > 0 ? 0 : 1)
            }
        }
        let holm = Holm.adjust(raw)
        var out: [(Verdict, DecisionDetails?, String?)] = []
        for i in estimates.indices {
            guard valid.contains(i), let e = estimates[i] else {
                let reason = i < missingReasons.count ? missingReasons[i] : nil
                out.append((.inconclusive, nil, reason ?? "no estimate"))
                continue
            }
            let t = thresholds[i]
            let delta = log1p(t)
            let passLevel = DecisionContract.missRate / Double(L)
            let improvementLog = log1p(-min(t, 0.999))
            // Whether a slowdown of t (and a speedup of t) is excluded at confidence 1 − β/L: paired,
            // by the exact sign-flip tests at those shifts (the bound shown is their inversion);
            // unpaired, by the t bound.
            let upperLog: Double
            let belowDelta: Bool
            let belowImprovement: Bool
            if let flips = e.signFlip {
                belowDelta = flips.excludes(shiftOf: delta, level: passLevel)
                belowImprovement = belowDelta && flips.excludes(shiftOf: improvementLog, level: passLevel)
                upperLog = bounds ? flips.upperBound(level: passLevel) : .nan
            } else {
                upperLog = e.estimate + StudentT.quantile(1 - passLevel, df: e.degreesOfFreedom) * e.standardError
                belowDelta = upperLog < delta
                belowImprovement = upperLog < improvementLog
            }
            // The boundary rises toward δ as the estimate gets precise (δ minus the bound's reach
            // above the estimate): there "below c" is exactly "upper bound below δ", so a precisely
            // measured 30% slowdown passes a 50% threshold; it never goes below the fixed c of the contract.
            let fixedBoundary = DecisionContract.boundary(delta: delta, benchmarks: m)
            let c = upperLog.isNaN ? fixedBoundary : max(fixedBoundary, delta - (upperLog - e.estimate))
            let corrected = min(1, holm[i] * Double(L))
            let srt = e.standardErrorFloor.map { DecisionContract.smallestResolvableThreshold(standardErrorFloor: $0, benchmarks: m) }
            var d = DecisionDetails(method: e.method.rawValue, estimate: e.estimate, standardError: e.standardError,
                                    degreesOfFreedom: min(e.degreesOfFreedom, 1e9), delta: delta, boundary: c,
                                    upperBound: exp(upperLog), pValueOneSided: raw[i], pValueCorrected: corrected,
                                    look: look, maximumLooks: L, observations: e.observations,
                                    smallestResolvableThreshold: srt, noiseSource: e.noiseSource, reason: nil)
            let verdict: Verdict
            // A slowdown of t that is excluded passes, however significant the estimate is above 0
            // (the indifference zone). With the bound, d̂ ≥ c already implies that it is not excluded.
            let significant = !belowDelta && e.estimate >= c && corrected < DecisionContract.falseFailure
            var confirmed = true
            if let runs = e.headRunEstimates {
                let showing = runs.filter { $0 >= c }.count
                d.confirmingRuns = showing
                d.headRuns = runs.count
                confirmed = showing >= DecisionContract.confirmingRuns
            }
            if significant && confirmed {
                verdict = .regression
            } else if significant {
                verdict = .inconclusive
                d.awaitsConfirmation = true
                d.reason = String(format: "slower by %+.1f%% (boundary %+.1f%%, corrected p %.3g), shown by %d of %d head run(s): "
                                  + "a regression from one-process runs must show in %d (one such run is now and then far off on a shared machine)",
                                  (exp(e.estimate) - 1) * 100, (exp(c) - 1) * 100, corrected, d.confirmingRuns ?? 0, d.headRuns ?? 0,
                                  DecisionContract.confirmingRuns)
            } else if belowImprovement {
                verdict = .improvement
            } else if belowDelta {
                verdict = .pass
            } else {
                verdict = .inconclusive
                var why: String
                if e.estimate >= c {
                    why = String(format: "slower by %+.1f%% (boundary %+.1f%%) but not yet significant (corrected p %.3g ≥ %.2g)",
                                 (exp(e.estimate) - 1) * 100, (exp(c) - 1) * 100, corrected, DecisionContract.falseFailure)
                } else if upperLog.isNaN {
                    why = String(format: "a slowdown of %.1f%% is not excluded", t * 100)
                } else if upperLog == .infinity {
                    // 2·2⁻ⁿ is the combined sign-flip test's smallest p-value.
                    why = String(format: "%d pairs are too few for the sign-flip test to exclude any slowdown at %.2g (it needs %d)",
                                 e.observations, passLevel, Int(log2(2 / passLevel).rounded(.up)))
                } else {
                    why = String(format: "upper bound %+.1f%% not below the threshold %.1f%%",
                                 (exp(upperLog) - 1) * 100, t * 100)
                }
                if let s = srt, s > t {
                    why += String(format: "; too noisy on this machine: smallest resolvable threshold %.1f%%", s * 100)
                }
                d.reason = why
            }
            out.append((verdict, d, d.reason))
        }
        return out
    }
}
