// MedianInterval: the order-statistic ranks of the distribution-free median interval.
import Analysis
import Testing

@Test func medianIntervalUsesBinomialRanks() {
    // n = 25: P(Binomial(25, ½) ≤ 7) = 0.022 ≤ 0.025 < P(≤ 8) = 0.054 → [x₍₈₎, x₍₁₈₎].
    let values = (1...25).map(Double.init).reversed().map { $0 }
    let ci = MedianInterval.orderStatistics(values)
    #expect(ci.median == 13)
    #expect(ci.lower == 8 && ci.upper == 18)
    // n = 5: no rank reaches 95 %: [min, max].
    let small = MedianInterval.orderStatistics([5, 1, 4, 2, 3])
    #expect(small.median == 3 && small.lower == 1 && small.upper == 5)
    // n = 100: ranks 40 and 61 (the textbook 95 % interval).
    let hundred = MedianInterval.orderStatistics((1...100).map(Double.init))
    #expect(hundred.lower == 40 && hundred.upper == 61)
    #expect(MedianInterval.orderStatistics([]).median.isNaN)
}
