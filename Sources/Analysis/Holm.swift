/// Holm–Bonferroni step-down correction for multiple comparisons.
public enum Holm {
    /// Holm-adjusted p-values, in the order of `p`.
    ///
    /// With the m p-values sorted ascending p₍₁₎ ≤ … ≤ p₍ₘ₎, the adjusted value of p₍ᵢ₎ is
    /// `min(1, max_{j ≤ i} (m − j + 1) · p₍ⱼ₎)` — the same as statsmodels'
    /// `multipletests(p, method='holm')[1]`. The result is monotone in the raw p-values and
    /// never below them. Ties in the input keep their input order (a stable sort), which does
    /// not change the adjusted values. An empty input gives an empty result; a NaN p-value
    /// stays NaN and takes no part in the correction (it does not count towards m).
    public static func adjust(_ p: [Double]) -> [Double] {
        var adjusted = p
        let valid = p.indices.filter { !p[$0].isNaN }
        let order = valid.sorted { p[$0] < p[$1] || (p[$0] == p[$1] && $0 < $1) }
        let m = order.count
        var running = 0.0
        for (rank, index) in order.enumerated() {
            let scaled = Swift.min(1, Double(m - rank) * p[index])
            running = Swift.max(running, scaled)
            adjusted[index] = running
        }
        return adjusted
    }
}
