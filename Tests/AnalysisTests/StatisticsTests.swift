import Testing
@testable import Analysis

@Suite struct RandomTests {
    // Reference: Python implementations of SplitMix64 and xoshiro256** (Vigna's C code):
    //   M=(1<<64)-1
    //   def sm(s):
    //       while True:
    //           s=(s+0x9E3779B97F4A7C15)&M; z=s
    //           z=((z^(z>>30))*0xBF58476D1CE4E5B9)&M; z=((z^(z>>27))*0x94D049BB133111EB)&M
    //           yield z^(z>>31)
    //   g=sm(0); [hex(next(g)) for _ in range(3)]
    //   -> 0xe220a8397b1dcdaf 0x6e789e6aa1b965f4 0x06c45d188009454f
    //   g=sm(42); st=[next(g) for _ in range(4)]; then xoshiro256** steps:
    //   res=(rotl((st[1]*5)&M,7)*9)&M; t=(st[1]<<17)&M
    //   st[2]^=st[0]; st[3]^=st[1]; st[1]^=st[2]; st[0]^=st[3]; st[2]^=t; st[3]=rotl(st[3],45)
    //   -> 0x15780b2e0c2ec716 0x6104d9866d113a7e 0xae17533239e499a1
    @Test func splitMix64KnownValues() {
        var s: UInt64 = 0
        #expect(Random.splitMix64(&s) == 0xE220_A839_7B1D_CDAF)
        #expect(Random.splitMix64(&s) == 0x6E78_9E6A_A1B9_65F4)
        #expect(Random.splitMix64(&s) == 0x06C4_5D18_8009_454F)
    }

    @Test func xoshiroKnownValues() {
        var r = Random(seed: 42)
        #expect(r.next() == 0x1578_0B2E_0C2E_C716)
        #expect(r.next() == 0x6104_D986_6D11_3A7E)
        #expect(r.next() == 0xAE17_5332_39E4_99A1)
    }

    @Test func sameSeedSameStreamAndBoundedDraws() {
        var a = Random(seed: 7), b = Random(seed: 7), c = Random(seed: 8)
        let xa = (0..<100).map { _ in a.nextInt(below: 10) }
        let xb = (0..<100).map { _ in b.nextInt(below: 10) }
        let xc = (0..<100).map { _ in c.nextInt(below: 10) }
        #expect(xa == xb)
        #expect(xa != xc)
        #expect(xa.allSatisfy { (0..<10).contains($0) })
        #expect(Set(xa).count == 10)
        var d = Random(seed: 1)
        let u = (0..<1000).map { _ in d.nextDouble() }
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = u.reduce(0, +) / 1000
        #expect(abs(mean - 0.5) < 0.05)
    }
}

@Suite struct MannWhitneyTests {
    // Reference values: scipy 1.17.1,
    //   from scipy.stats import mannwhitneyu as m
    //   r = m(a, b, alternative='two-sided'); (float(r.statistic), float(r.pvalue))
    func check(_ a: [Double], _ b: [Double], u: Double, p: Double, method: MannWhitney.Method,
               sourceLocation: SourceLocation = #_sourceLocation) {
        let r = MannWhitney.detailed(a, b)
        #expect(r.u == u, sourceLocation: sourceLocation)
        #expect(abs(r.p - p) <= 1e-12 * max(1, p) + 1e-15, "p \(r.p) vs scipy \(p)", sourceLocation: sourceLocation)
        #expect(r.method == method, sourceLocation: sourceLocation)
        let t = MannWhitney.test(a, b)
        #expect(t.u == r.u && t.p == r.p, sourceLocation: sourceLocation)
    }

    @Test func exactSmallNoTies() {
        // m([1.1,2.3,3.5,4.2,5.0],[2.0,6.1,7.3,8.4,9.9,10.2]) -> 4.0 0.05194805194805195
        check([1.1, 2.3, 3.5, 4.2, 5.0], [2.0, 6.1, 7.3, 8.4, 9.9, 10.2], u: 4, p: 0.05194805194805195, method: .exact)
        // m([10.0],[1.0,2.0,3.0]) -> 3.0 0.5
        check([10], [1, 2, 3], u: 3, p: 0.5, method: .exact)
        // U exactly n1*n2/2: m([1,4,5,8],[2,3,6,7]) -> 8.0 1.0 (scipy clips 2*sf to 1)
        check([1, 4, 5, 8], [2, 3, 6, 7], u: 8, p: 1, method: .exact)
    }

    @Test func exactWhenOnlyOneSampleIsSmall() {
        // scipy's auto rule: asymptotic only if n1 > 8 and n2 > 8 (or ties).
        // m([0.5,1.5,2.5,3.5,4.5],[float(i) for i in range(12)]) -> 15.0 0.12960568842921785
        check([0.5, 1.5, 2.5, 3.5, 4.5], (0..<12).map(Double.init), u: 15, p: 0.12960568842921785, method: .exact)
        // m([0.15,7.3,21.9],[float(i) for i in range(30)]) -> 31.0 0.4164222873900293
        check([0.15, 7.3, 21.9], (0..<30).map(Double.init), u: 31, p: 0.4164222873900293, method: .exact)
        // m([i*12.5+0.25 for i in range(8)],[float(i) for i in range(100)]) -> 356.0 0.6161120938879779
        // m([i*3.5+0.25 for i in range(8)],[float(i) for i in range(100)]) -> 104.0 0.00017161948721730477
        let b100 = (0..<100).map(Double.init)
        check((0..<8).map { Double($0) * 12.5 + 0.25 }, b100, u: 356, p: 0.6161120938879779, method: .exact)
        check((0..<8).map { Double($0) * 3.5 + 0.25 }, b100, u: 104, p: 0.00017161948721730477, method: .exact)
    }

    @Test func tiesUseNormalApproximation() {
        // m([1,2,2,3,3,3,4],[2,3,4,4,5,5,6]) -> 8.5 0.043051432728945134
        check([1, 2, 2, 3, 3, 3, 4], [2, 3, 4, 4, 5, 5, 6], u: 8.5, p: 0.043051432728945134, method: .asymptotic)
    }

    @Test func largeSamples() {
        // a=[(i*7919)%1000/10.0 for i in range(40)]; b=[(i*104729)%1000/10.0+5 for i in range(50)]
        // m(a,b) -> 898.0 0.4098384754760165
        let a = (0..<40).map { Double(($0 * 7919) % 1000) / 10.0 }
        let b = (0..<50).map { Double(($0 * 104_729) % 1000) / 10.0 + 5 }
        check(a, b, u: 898, p: 0.4098384754760165, method: .asymptotic)
        // n1 = n2 = 9, no ties: asymptotic.
        // m([3.0,1.0,2.0,5.0,4.0,9.0,7.0,8.0,6.0],[11.0,10.0,12.5,14.0,9.5,13.0,15.0,16.0,2.5])
        //   -> 7.0 0.003568628436933387
        check([3, 1, 2, 5, 4, 9, 7, 8, 6], [11, 10, 12.5, 14, 9.5, 13, 15, 16, 2.5], u: 7, p: 0.003568628436933387,
              method: .asymptotic)
    }

    @Test func identicalSamples() {
        // m([1,2,3,4,5],[1,2,3,4,5]) -> 12.5 1.0 ; m([5,5,5],[5,5,5]) -> 4.5 1.0
        check([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], u: 12.5, p: 1, method: .asymptotic)
        check([5, 5, 5], [5, 5, 5], u: 4.5, p: 1, method: .asymptotic)
    }

    @Test func completelySeparated() {
        // m([1,2,3,4,5],[6,7,8,9,10]) -> 0.0 0.007936507936507936  (= 2/252)
        check([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], u: 0, p: 0.007936507936507936, method: .exact)
        // m([float(i) for i in range(20)],[float(i+100) for i in range(20)]) -> 0.0 6.795615128173358e-08
        check((0..<20).map(Double.init), (0..<20).map { Double($0 + 100) }, u: 0, p: 6.795615128173358e-08,
              method: .asymptotic)
        // U of the other side is n1*n2; the p-value is symmetric.
        let r = MannWhitney.test([6, 7, 8, 9, 10], [1, 2, 3, 4, 5])
        #expect(r.u == 25)
        #expect(abs(r.p - 0.007936507936507936) < 1e-15)
    }

    @Test func exactDistributionSumsToOne() {
        // P(U <= n1*n2) = 1 and P(U <= 0) = 1 / C(n1+n2, n1).
        #expect(MannWhitney.exactCDF(15, 3, 5) == 1)
        #expect(abs(MannWhitney.exactCDF(0, 3, 5) - 1.0 / 56) < 1e-15)
        // Symmetry: P(U <= k) + P(U <= n1*n2 - k - 1) = 1.
        for k in 0..<40 {
            let s = MannWhitney.exactCDF(k, 5, 8) + MannWhitney.exactCDF(40 - k - 1, 5, 8)
            #expect(abs(s - 1) < 1e-12)
        }
    }

    @Test func midRanks() {
        let r = MannWhitney.midRanks([3, 1, 3, 2, 3])
        #expect(r.ranks == [4, 1, 4, 2, 4])
        #expect(r.tieSizes.sorted() == [1, 1, 3])
    }
}

@Suite struct HolmTests {
    // Reference: statsmodels.stats.multitest.multipletests(p, method='holm')[1], equivalently
    //   def holm(p):
    //       m=len(p); o=sorted(range(m), key=lambda i:p[i]); out=[0]*m; run=0
    //       for r,i in enumerate(o): run=max(run, min(1,(m-r)*p[i])); out[i]=run
    //       return out
    //   holm([0.01,0.04,0.03,0.005]) -> [0.03, 0.06, 0.06, 0.02]
    //   holm([0.5,0.001,0.02,0.9,0.04]) -> [1.0, 0.005, 0.08, 1.0, 0.12]
    func close(_ a: [Double], _ b: [Double]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) < 1e-12 }
    }

    @Test func knownValues() {
        #expect(close(Holm.adjust([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02]))
        #expect(close(Holm.adjust([0.5, 0.001, 0.02, 0.9, 0.04]), [1.0, 0.005, 0.08, 1.0, 0.12]))
    }

    @Test func edgeCases() {
        #expect(Holm.adjust([]) == [])
        #expect(Holm.adjust([0.03]) == [0.03])
        #expect(Holm.adjust([0.6, 0.7]) == [1, 1])
        // Monotone in the raw p-values and never below them.
        let p = [0.2, 0.001, 0.04, 0.04, 0.3, 0.0101]
        let adj = Holm.adjust(p)
        for i in p.indices {
            #expect(adj[i] >= p[i])
            for j in p.indices where p[i] <= p[j] { #expect(adj[i] <= adj[j]) }
        }
        // NaN is passed through and not counted.
        let n = Holm.adjust([0.01, .nan, 0.02])
        #expect(n[1].isNaN)
        #expect(close([n[0], n[2]], [0.02, 0.02]))
    }
}
