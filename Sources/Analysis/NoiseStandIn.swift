// Local stand-in for H2's NoisePrior (api15 §2) until its API commit lands; deleted at that merge.
/// What this machine's history says about one benchmark's run-to-run noise.
public struct NoisePrior: Sendable, Hashable, Codable {
    /// Where the prior comes from.
    public enum Source: String, Codable, Sendable { case history, none }
    public var source: Source
    public var pairs: Int
    public var sigmaAA: Double
    public var sigmaProcess: Double?
    public var typicalProcesses: Int
    /// No history.
    public static let unknown = NoisePrior(source: .none, pairs: 0, sigmaAA: .nan, sigmaProcess: nil, typicalProcesses: 0)
    /// Creates a prior.
    public init(source: Source, pairs: Int, sigmaAA: Double, sigmaProcess: Double?, typicalProcesses: Int) {
        self.source = source
        self.pairs = pairs
        self.sigmaAA = sigmaAA
        self.sigmaProcess = sigmaProcess
        self.typicalProcesses = typicalProcesses
    }
}
