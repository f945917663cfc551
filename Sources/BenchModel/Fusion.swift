import Foundation

/// One decision of the runtime fusion planner, stored in `fusion_decisions` with its run.
public struct FusionDecision: Codable, Sendable, Hashable {
    /// What the planner concluded.
    public enum Outcome: String, Codable, Sendable, CaseIterable {
        case accepted
        /// Not legal (e.g. an intermediate has another consumer or is an output).
        case rejectedIllegal = "rejected: illegal"
        /// Estimated or measured benefit too small.
        case rejectedNoGain = "rejected: no gain"
        /// Fused output outside tolerance of the unfused output.
        case rejectedAccuracy = "rejected: accuracy"
        /// Autotune measured the fused group slower than unfused.
        case rejectedSlower = "rejected: measured slower"
    }

    /// Suite of the `[[model]]` the group belongs to; empty when unknown (the planner does not
    /// know its suite: the runner sets it before storing; rows of older databases may lack it).
    public var suite: String
    /// Model (graph) the group belongs to: the op name of its `[[model]]` in `suite`.
    public var model: String
    /// Layer names of the candidate group, in execution order.
    public var group: [String]
    /// Fusion rule that proposed the group (e.g. `elementwise-chain`, `gemm-epilogue`).
    public var rule: String
    public var outcome: Outcome
    /// Human-readable reason (always set, also for accepted groups).
    public var reason: String
    /// Bytes of intermediate traffic the fusion avoids per inference (estimate).
    public var bytesSaved: Double
    /// Kernel launches (passes) saved per inference.
    public var launchesSaved: Int
    /// Predicted time of the unfused and fused group (ns), from the cost model.
    public var predictedUnfusedNs: Double?
    public var predictedFusedNs: Double?
    /// Measured time of the unfused and fused group (ns), when autotune ran.
    public var measuredUnfusedNs: Double?
    public var measuredFusedNs: Double?
    /// Max abs error of the fused output vs the unfused output, when validated.
    public var maxAbsError: Double?
    /// 95% bootstrap interval of the measured fused/unfused time ratio (below 1: fusion faster),
    /// when the planner measured both; nil otherwise (and for decisions stored before it existed).
    public var measuredRatioLower: Double?
    public var measuredRatioUpper: Double?

    /// Memberwise initialiser (`suite` empty until the runner knows it).
    public init(suite: String = "", model: String, group: [String], rule: String, outcome: Outcome, reason: String, bytesSaved: Double = 0,
                launchesSaved: Int = 0, predictedUnfusedNs: Double? = nil, predictedFusedNs: Double? = nil,
                measuredUnfusedNs: Double? = nil, measuredFusedNs: Double? = nil, maxAbsError: Double? = nil,
                measuredRatioLower: Double? = nil, measuredRatioUpper: Double? = nil) {
        self.suite = suite
        self.model = model
        self.group = group
        self.rule = rule
        self.outcome = outcome
        self.reason = reason
        self.bytesSaved = bytesSaved
        self.launchesSaved = launchesSaved
        self.predictedUnfusedNs = predictedUnfusedNs
        self.predictedFusedNs = predictedFusedNs
        self.measuredUnfusedNs = measuredUnfusedNs
        self.measuredFusedNs = measuredFusedNs
        self.maxAbsError = maxAbsError
        self.measuredRatioLower = measuredRatioLower
        self.measuredRatioUpper = measuredRatioUpper
    }

    /// Measured fused/unfused time ratio (below 1: the fusion is faster), when both were measured.
    public var measuredRatio: Double? {
        guard let u = measuredUnfusedNs, let f = measuredFusedNs, u > 0 else { return nil }
        return f / u
    }

    /// Predicted fused/unfused time ratio, when the cost model predicted both.
    public var predictedRatio: Double? {
        guard let u = predictedUnfusedNs, let f = predictedFusedNs, u > 0 else { return nil }
        return f / u
    }

    /// The `[[model]]` op the decision belongs to (`suite` empty when unknown).
    public var opKey: OpKey { OpKey(suite: suite, op: model) }

    /// Decodes a decision; `suite` may be absent (JSON written by builds before it existed).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        suite = try c.decodeIfPresent(String.self, forKey: .suite) ?? ""
        model = try c.decode(String.self, forKey: .model)
        group = try c.decode([String].self, forKey: .group)
        rule = try c.decode(String.self, forKey: .rule)
        outcome = try c.decode(Outcome.self, forKey: .outcome)
        reason = try c.decode(String.self, forKey: .reason)
        bytesSaved = try c.decode(Double.self, forKey: .bytesSaved)
        launchesSaved = try c.decode(Int.self, forKey: .launchesSaved)
        predictedUnfusedNs = try c.decodeIfPresent(Double.self, forKey: .predictedUnfusedNs)
        predictedFusedNs = try c.decodeIfPresent(Double.self, forKey: .predictedFusedNs)
        measuredUnfusedNs = try c.decodeIfPresent(Double.self, forKey: .measuredUnfusedNs)
        measuredFusedNs = try c.decodeIfPresent(Double.self, forKey: .measuredFusedNs)
        maxAbsError = try c.decodeIfPresent(Double.self, forKey: .maxAbsError)
        measuredRatioLower = try c.decodeIfPresent(Double.self, forKey: .measuredRatioLower)
        measuredRatioUpper = try c.decodeIfPresent(Double.self, forKey: .measuredRatioUpper)
    }
}
