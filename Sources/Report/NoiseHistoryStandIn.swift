// Local stand-in for H2's NoiseHistory (api15 §2) until its API commit lands; deleted at that merge.
import Analysis
import BenchModel
import Store

/// Learned per-benchmark noise from this machine's history (stand-in: always unknown).
public enum NoiseHistory {
    /// Priors per benchmark (stand-in: `.unknown` for every key).
    public static func priors(store: ResultStore, machineKey: String, keys: [BenchmarkKey],
                              excluding: Set<Int64>) throws -> [BenchmarkKey: NoisePrior] {
        Dictionary(uniqueKeysWithValues: keys.map { ($0, NoisePrior.unknown) })
    }
    /// A/A pairs needed before a prior is used.
    public static let minimumPairs = 5
    /// Newest pairs used per benchmark.
    public static let window = 50
}
