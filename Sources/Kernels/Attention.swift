// attention: scaled dot-product attention, non-causal, per (batch, head):
//
//   O = softmax(Q·Kᵀ / √d) · V,   Q, K, V, O [seq, d] row-major, stored [batch, heads, seq, d]
//
// Shape keys `seq`, `head_dim` (d) and optional `heads`, `batch` (default 1).
//
// `reference` materialises the whole seq×seq score matrix S = Q·Kᵀ/√d (dot-product loops), takes
// a numerically stable softmax of each row (max, libm exp, sum, divide) and multiplies P·V.
//
// `optimized` never forms S (FlashAttention-style): for a block of 6 queries it streams K and V in
// blocks of 64 keys, keeping per query a running maximum m, running sum l and an unnormalised
// output accumulator o:
//
//   s = q·K_blockᵀ/√d;  m' = max(m, max s);  p = e^(s − m');  c = e^(m − m')
//   l = l·c + Σp;  o = o·c + p·V_block;  finally O = o / l
//
// Scores are a small GEMM with SIMD over keys (K is transposed once per head into Kᵀ [d, seq],
// zero-padded to a multiple of 64 keys, so 16/8/4 scores come out of one FMA chain); p·V is a
// small GEMM with SIMD over d (V copied into rows padded to the vector width). Register tiles are
// 6 queries × 2 vectors. Padding keys get score −∞, so p = 0 for them. The exponentials use the
// vectorized `fastExp` (≈ 2 ulp). Scratch is 6×64 scores plus 6×d accumulators — in L1.
import BenchModel
import Foundation

/// `attention`: O = softmax(Q·Kᵀ/√d)·V per batch and head. Shape keys `seq`, `head_dim`, `heads`, `batch`.
public struct AttentionFactory: KernelFactory {
    /// Creates the factory.
    public init() {}
    /// `attention`.
    public var kind: String { "attention" }
    /// One-line description.
    public var summary: String { "scaled dot-product attention softmax(QKᵀ/√d)·V, Q,K,V [batch,heads,seq,d], non-causal" }
    /// `seq`, `head_dim`, `heads`, `batch` (heads and batch default 1).
    public var shapeKeys: [String] { ["seq", "head_dim", "heads", "batch"] }
    /// `reference` (materialised scores) and `optimized` (streaming online softmax).
    public var variants: [String] { ["reference", "optimized"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, positive sizes, no other key, and the element limits of Q/K/V and the score matrix.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, dimensions)
    }

    /// 4·batch·heads·seq²·d: Q·Kᵀ and P·V, two multiply-adds per term (the softmax's ~5·seq² is not counted).
    public func flops(shape: Shape) -> Double {
        let s = Double(shape["seq"] ?? 0), d = Double(shape["head_dim"] ?? 0)
        return 4 * Double(shape["batch"] ?? 1) * Double(shape["heads"] ?? 1) * s * s * d
    }

    /// 16·batch·heads·seq·d: Q, K, V read once, O written once (the optimized variant's actual
    /// traffic; the reference additionally writes and reads the seq² score matrix).
    public func bytes(shape: Shape, dtype: String) -> Double {
        let s = Double(shape["seq"] ?? 0), d = Double(shape["head_dim"] ?? 0)
        return 16 * Double(shape["batch"] ?? 1) * Double(shape["heads"] ?? 1) * s * d
    }

    /// Q, K, V, O plus the reference's seq² score matrix (the optimized variant's streaming scratch
    /// is far smaller): an upper bound for either variant.
    public func allocationBytes(shape: Shape, dtype: String) -> Double {
        let s = Double(shape["seq"] ?? 0)
        return bytes(shape: shape, dtype: dtype) + 4 * s * s
    }

    /// `abs 1e-7·√(seq·d)`, `rel 1e-4`, `cosine 0.9999`.
    ///
    /// Justification. With inputs in [−1, 1), scores are d-term dot products scaled by 1/√d
    /// (|s| ≲ 1); each is summed in a different order by the two variants, a difference of
    /// ~ε·√d relative. Through e^s this becomes the same relative error in each weight p, and the
    /// output is a weighted sum of seq values of V: its error is a random walk over seq terms, so
    /// the discrepancy grows like √(seq·d)·ε·|v|. The fast exp (≈ 2 ulp) and the online
    /// rescaling add a few ε per block. Measured max |diff| on Zen 5 (suite seed 42): 1.8e-7 at
    /// seq 128 × 12 heads (allowed 9.1e-6, 50×) and 1.3e-7 at seq 512, d 64 (allowed 1.8e-5, 140×). Outputs are ~|v|/√seq (≈ 0.03 at seq 512),
    /// and the bugs this band must catch are relative errors of O(1e-2) or more: a missing 1/√d,
    /// a missing rescale of o when the maximum moves, a key block skipped or counted twice, an
    /// unmasked padding key (e^0 weight on a zero value).
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        let s = Double(max(1, shape["seq"] ?? 1)), d = Double(max(1, shape["head_dim"] ?? 1))
        return Tolerance(abs: 1e-7 * (s * d).squareRoot(), rel: 1e-4, minCosine: 0.9999)
    }

    /// An `AttentionInstance` for `variant` with Q, K, V from one `SeededGenerator(seed:)` sequence.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let (seq, d, heads, batch) = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, dimensions)
        return AttentionInstance(seq: seq, headDim: d, heads: heads, batch: batch, seed: seed,
                                 path: variant == "optimized" ? .current : nil)
    }

    private func dimensions(_ shape: Shape) throws -> (Int, Int, Int, Int) {
        let seq = try dimension(shape, "seq"), d = try dimension(shape, "head_dim")
        let heads = shape["heads"] == nil ? 1 : try dimension(shape, "heads")
        let batch = shape["batch"] == nil ? 1 : try dimension(shape, "batch")
        try rejectUnknownKeys(shape)
        try requireElements(seq, seq, "the score matrix (seq×seq)")
        try requireElements4(batch, heads, seq, d, "Q, K, V (batch·heads·seq·head_dim)")
        return (seq, d, heads, batch)
    }
}

/// Queries per register tile of the optimized attention.
let attentionQueryTile = 6
/// Keys per streamed block of the optimized attention.
let attentionKeyBlock = 64

/// One attention problem: owns Q, K, V, O and the variant's scratch.
public final class AttentionInstance: KernelInstance {
    /// Sequence length (queries and keys).
    public let seq: Int
    /// Head dimension d.
    public let headDim: Int
    /// Heads per batch entry.
    public let heads: Int
    /// Batch entries.
    public let batch: Int
    /// SIMD path of the optimized variant; nil for the reference.
    public let path: GEMMKernelPath?
    private let q: UnsafeMutablePointer<Float>
    private let k: UnsafeMutablePointer<Float>
    private let v: UnsafeMutablePointer<Float>
    private let o: UnsafeMutablePointer<Float>
    /// Reference: the seq×seq score/probability matrix. Optimized: unused.
    private let scores: UnsafeMutablePointer<Float>?
    private let stream: AttentionScratch?

    /// Creates the problem with Q, K, V ([batch, heads, seq, d] each) from `SeededGenerator(seed:)`.
    public init(seq: Int, headDim: Int, heads: Int, batch: Int, seed: UInt64, path: GEMMKernelPath?) {
        precondition(seq > 0 && headDim > 0 && heads > 0 && batch > 0, "attention dimensions must be positive")
        self.seq = seq
        self.headDim = headDim
        self.heads = heads
        self.batch = batch
        self.path = path
        let count = batch * heads * seq * headDim
        var g = SeededGenerator(seed: seed)
        q = g.filledFloats(count)
        k = g.filledFloats(count)
        v = g.filledFloats(count)
        o = allocateFloats(count)
        if let path {
            scores = nil
            stream = AttentionScratch(seq: seq, d: headDim, width: path.vectorWidth)
        } else {
            scores = allocateFloats(seq * seq)
            stream = nil
        }
    }

    deinit {
        freeFloats(q)
        freeFloats(k)
        freeFloats(v)
        freeFloats(o)
        if let scores { freeFloats(scores) }
    }

    /// Q ([batch, heads, seq, d]).
    public var inputQ: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: q, count: batch * heads * seq * headDim) }
    /// K ([batch, heads, seq, d]).
    public var inputK: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: k, count: batch * heads * seq * headDim) }
    /// V ([batch, heads, seq, d]).
    public var inputV: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: v, count: batch * heads * seq * headDim) }

    /// Computes O once.
    public func run() {
        let headSize = seq * headDim
        for h in 0..<batch * heads {
            let qh = q + h * headSize, kh = k + h * headSize, vh = v + h * headSize, oh = o + h * headSize
            if let scores {
                attentionReference(seq: seq, d: headDim, q: qh, k: kh, v: vh, s: scores, o: oh)
            } else if let path, let stream {
                switch path {
                case .avx512: attentionStreaming(SIMD16<Float>.self, seq: seq, d: headDim, q: qh, k: kh, v: vh, o: oh, stream)
                case .avx2: attentionStreaming(SIMD8<Float>.self, seq: seq, d: headDim, q: qh, k: kh, v: vh, o: oh, stream)
                case .sse: attentionStreaming(SIMD4<Float>.self, seq: seq, d: headDim, q: qh, k: kh, v: vh, o: oh, stream)
                }
            }
        }
    }

    /// O ([batch, heads, seq, d]) from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: o, count: batch * heads * seq * headDim) }
}

/// One head, by the definition: S = Q·Kᵀ/√d (materialised), row softmax, O = P·V.
func attentionReference(seq: Int, d: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                        s: UnsafeMutablePointer<Float>, o: UnsafeMutablePointer<Float>) {
    let scale = 1 / Float(d).squareRoot()
    for i in 0..<seq {
        for j in 0..<seq {
            var acc: Float = 0
            for p in 0..<d { acc += q[i * d + p] * k[j * d + p] }
            s[i * seq + j] = acc * scale
        }
    }
    for i in 0..<seq {
        let row = s + i * seq
        var maximum = row[0]
        for j in 1..<max(1, seq) where row[j] > maximum { maximum = row[j] }
        var sum: Float = 0
        for j in 0..<seq {
            row[j] = Foundation.exp(row[j] - maximum)
            sum += row[j]
        }
        for j in 0..<seq { row[j] /= sum }
    }
    for i in 0..<seq {
        for p in 0..<d {
            var acc: Float = 0
            for j in 0..<seq { acc += s[i * seq + j] * v[j * d + p] }
            o[i * d + p] = acc
        }
    }
}

/// Per-instance buffers of the streaming attention (reused for every head).
final class AttentionScratch {
    /// Keys rounded up to the key block.
    let paddedSeq: Int
    /// d rounded up to two vectors.
    let paddedD: Int
    /// Kᵀ [d, paddedSeq]; columns ≥ seq stay zero.
    let kt: UnsafeMutablePointer<Float>
    /// V [paddedSeq, paddedD]; padding stays zero.
    let vp: UnsafeMutablePointer<Float>
    /// Scores / probabilities of one tile [queryTile, keyBlock].
    let s: UnsafeMutablePointer<Float>
    /// Output accumulators of one tile [queryTile, paddedD].
    let acc: UnsafeMutablePointer<Float>
    /// A zero query row (d floats) for tile rows past the last query.
    let zeroQuery: UnsafeMutablePointer<Float>
    /// Running maximum m per query of the tile.
    let runningMax: UnsafeMutablePointer<Float>
    /// Running sum l per query of the tile.
    let runningSum: UnsafeMutablePointer<Float>

    init(seq: Int, d: Int, width: Int) {
        paddedSeq = (seq + attentionKeyBlock - 1) / attentionKeyBlock * attentionKeyBlock
        paddedD = (d + 2 * width - 1) / (2 * width) * (2 * width)
        kt = allocateFloats(d * paddedSeq)
        vp = allocateFloats(paddedSeq * paddedD)
        s = allocateFloats(attentionQueryTile * attentionKeyBlock)
        acc = allocateFloats(attentionQueryTile * paddedD)
        zeroQuery = allocateFloats(d)
        runningMax = allocateFloats(attentionQueryTile)
        runningSum = allocateFloats(attentionQueryTile)
    }

    deinit {
        freeFloats(kt)
        freeFloats(vp)
        freeFloats(s)
        freeFloats(acc)
        freeFloats(zeroQuery)
        freeFloats(runningMax)
        freeFloats(runningSum)
    }
}

/// One head, streaming K/V blocks with an online softmax (see the file header).
@inline(__always)
func attentionStreaming<V: FloatVector>(_: V.Type, seq: Int, d: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                        v: UnsafePointer<Float>, o: UnsafeMutablePointer<Float>, _ sc: AttentionScratch) {
    let w = V.scalarCount
    let tq = attentionQueryTile, bk = attentionKeyBlock
    let ldk = sc.paddedSeq, dp = sc.paddedD
    // Per-head layout: Kᵀ (SIMD over keys) and V padded to whole vectors (SIMD over d).
    for j in 0..<seq {
        for p in 0..<d { sc.kt[p * ldk + j] = k[j * d + p] }
        (sc.vp + j * dp).update(from: v + j * d, count: d)
    }
    let scale = V(repeating: 1 / Float(d).squareRoot())
    let m = sc.runningMax, l = sc.runningSum
    var i0 = 0
    while i0 < seq {
        let rows = min(tq, seq - i0)
        let zero = UnsafePointer(sc.zeroQuery)
        let q0 = rows > 0 ? q + i0 * d : zero, q1 = rows > 1 ? q + (i0 + 1) * d : zero
        let q2 = rows > 2 ? q + (i0 + 2) * d : zero, q3 = rows > 3 ? q + (i0 + 3) * d : zero
        let q4 = rows > 4 ? q + (i0 + 4) * d : zero, q5 = rows > 5 ? q + (i0 + 5) * d : zero
        for r in 0..<tq {
            m[r] = -.infinity
            l[r] = 0
        }
        sc.acc.update(repeating: 0, count: tq * dp)
        var j0 = 0
        while j0 < seq {
            let keys = min(bk, seq - j0)
            // Scores: S[r, j] = q_r · k_j / √d for the block, 2 vectors of keys per step.
            // (Same 6×2-vector register tile as Conv2D's direct kernel, written out on purpose: a shared
            // helper taking the 12 accumulators inout risks spilling them in this hot loop.)
            var jv = 0
            while jv < bk {
                let kcol = sc.kt + j0 + jv
                var c0 = V(), d0 = V(), c1 = V(), d1 = V(), c2 = V(), d2 = V()
                var c3 = V(), d3 = V(), c4 = V(), d4 = V(), c5 = V(), d5 = V()
                for p in 0..<d {
                    let k0: V = vload(kcol, p * ldk), k1: V = vload(kcol, p * ldk + w)
                    var b = V(repeating: q0[p])
                    c0 = c0.addingProduct(b, k0); d0 = d0.addingProduct(b, k1)
                    b = V(repeating: q1[p])
                    c1 = c1.addingProduct(b, k0); d1 = d1.addingProduct(b, k1)
                    b = V(repeating: q2[p])
                    c2 = c2.addingProduct(b, k0); d2 = d2.addingProduct(b, k1)
                    b = V(repeating: q3[p])
                    c3 = c3.addingProduct(b, k0); d3 = d3.addingProduct(b, k1)
                    b = V(repeating: q4[p])
                    c4 = c4.addingProduct(b, k0); d4 = d4.addingProduct(b, k1)
                    b = V(repeating: q5[p])
                    c5 = c5.addingProduct(b, k0); d5 = d5.addingProduct(b, k1)
                }
                let s = sc.s + jv
                vstore(c0 * scale, s); vstore(d0 * scale, s, w)
                vstore(c1 * scale, s, bk); vstore(d1 * scale, s, bk + w)
                vstore(c2 * scale, s, 2 * bk); vstore(d2 * scale, s, 2 * bk + w)
                vstore(c3 * scale, s, 3 * bk); vstore(d3 * scale, s, 3 * bk + w)
                vstore(c4 * scale, s, 4 * bk); vstore(d4 * scale, s, 4 * bk + w)
                vstore(c5 * scale, s, 5 * bk); vstore(d5 * scale, s, 5 * bk + w)
                jv += 2 * w
            }
            // Online softmax per query row: mask padding keys, update m and l, rescale the accumulator.
            for r in 0..<rows {
                let sr = sc.s + r * bk
                for j in keys..<bk { sr[j] = -.infinity }
                var bm = V(repeating: -.infinity)
                var j = 0
                while j < bk {
                    bm = vmax(bm, vload(sr, j))
                    j += w
                }
                let mNew = max(m[r], bm.max())
                let mv = V(repeating: mNew)
                var sum = V()
                j = 0
                while j < bk {
                    let e = fastExp((vload(sr, j) as V) - mv)
                    vstore(e, sr, j)
                    sum += e
                    j += w
                }
                let correction = m[r] == -.infinity ? 0 : Foundation.exp(m[r] - mNew)
                l[r] = l[r] * correction + sum.sum()
                m[r] = mNew
                if correction != 1 {
                    let cv = V(repeating: correction)
                    let ar = sc.acc + r * dp
                    var c = 0
                    while c < dp {
                        vstore((vload(ar, c) as V) * cv, ar, c)
                        c += w
                    }
                }
            }
            // acc[r, :] += Σ_j P[r, j]·V[j0 + j, :], 2 vectors of d per step.
            var dc = 0
            while dc < dp {
                let a = sc.acc + dc
                var c0: V = vload(a), d0: V = vload(a, w)
                var c1: V = vload(a, dp), d1: V = vload(a, dp + w)
                var c2: V = vload(a, 2 * dp), d2: V = vload(a, 2 * dp + w)
                var c3: V = vload(a, 3 * dp), d3: V = vload(a, 3 * dp + w)
                var c4: V = vload(a, 4 * dp), d4: V = vload(a, 4 * dp + w)
                var c5: V = vload(a, 5 * dp), d5: V = vload(a, 5 * dp + w)
                var vrow = sc.vp + j0 * dp + dc
                let s = sc.s
                for j in 0..<keys {
                    let v0: V = vload(vrow), v1: V = vload(vrow, w)
                    var b = V(repeating: s[j])
                    c0 = c0.addingProduct(b, v0); d0 = d0.addingProduct(b, v1)
                    b = V(repeating: s[bk + j])
                    c1 = c1.addingProduct(b, v0); d1 = d1.addingProduct(b, v1)
                    b = V(repeating: s[2 * bk + j])
                    c2 = c2.addingProduct(b, v0); d2 = d2.addingProduct(b, v1)
                    b = V(repeating: s[3 * bk + j])
                    c3 = c3.addingProduct(b, v0); d3 = d3.addingProduct(b, v1)
                    b = V(repeating: s[4 * bk + j])
                    c4 = c4.addingProduct(b, v0); d4 = d4.addingProduct(b, v1)
                    b = V(repeating: s[5 * bk + j])
                    c5 = c5.addingProduct(b, v0); d5 = d5.addingProduct(b, v1)
                    vrow += dp
                }
                vstore(c0, a); vstore(d0, a, w)
                vstore(c1, a, dp); vstore(d1, a, dp + w)
                vstore(c2, a, 2 * dp); vstore(d2, a, 2 * dp + w)
                vstore(c3, a, 3 * dp); vstore(d3, a, 3 * dp + w)
                vstore(c4, a, 4 * dp); vstore(d4, a, 4 * dp + w)
                vstore(c5, a, 5 * dp); vstore(d5, a, 5 * dp + w)
                dc += 2 * w
            }
            j0 += bk
        }
        // O = acc / l.
        for r in 0..<rows {
            let inv = 1 / l[r]
            let ar = sc.acc + r * dp, orow = o + (i0 + r) * d
            for c in 0..<d { orow[c] = ar[c] * inv }
        }
        i0 += tq
    }
}
