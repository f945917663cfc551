// The executors: one class per kind of pass. Each is built once with its buffers resolved and
// runs one pass per `run()` without allocating. Most take an optional epilogue `EWProgram` that
// they apply to each finished tile/row while it is in registers or L1 — with no epilogue they are
// the unfused per-layer kernels, with one they are the fused group kernels.
import Kernels

/// A prepared pass over buffers.
protocol ExecKernel: AnyObject {
    func run()
}

/// Elementwise chain (or single elementwise layer): optional absmax prologue (a chain headed by
/// `quantize`), then the program, src → dst.
final class ChainKernel: ExecKernel {
    let program: EWProgram
    let src: UnsafePointer<Float>
    let dst: UnsafeMutablePointer<Float>
    let rows: Int, cols: Int
    /// Scale cell to fill with absmax(src)/127 before the chain runs.
    let prologueScale: UnsafeMutablePointer<Float>?

    init(program: EWProgram, src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
         prologueScale: UnsafeMutablePointer<Float>?) {
        self.program = program
        self.src = src
        self.dst = dst
        self.rows = rows
        self.cols = cols
        self.prologueScale = prologueScale
    }

    func run() {
        if let prologueScale { prologueScale.pointee = absmaxScale(src, count: rows * cols) }
        program.run(src: src, dst: dst, rows: rows, cols: cols)
    }
}

/// C = A·B (or A·Bᵀ) on the optimized GEMM, epilogue per finished tile (linear bias, fused ops).
///
/// A leading `bias` and/or `gelu` step of the epilogue is the GEMM's own `GEMMTileEpilogue` (the
/// same per-lane operations as the `.bias` and `.gelu` steps, so the output is bit-identical): a
/// pass per block of finished columns, or on each stored tile when steps follow; the remaining
/// steps run per finished tile.
final class GEMMKernel: ExecKernel {
    let workspace: GEMMWorkspace
    let a: UnsafePointer<Float>
    let b: UnsafePointer<Float>
    let c: UnsafeMutablePointer<Float>
    /// Source of Bᵀ to transpose into `b` first (matmul with transpose_b), with its row count n.
    let transposeFrom: UnsafePointer<Float>?
    /// The leading bias / GELU steps, applied by the GEMM in its last k block.
    let tileEpilogue: GEMMTileEpilogue?
    let epilogue: GEMMEpilogue?
    /// The steps after `tileEpilogue`, run per finished tile (nil when none are left).
    let program: EWProgram?

    init(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
         transposeFrom: UnsafePointer<Float>? = nil, epilogue full: EWProgram?) {
        workspace = GEMMWorkspace(m: m, n: n, k: k)
        self.a = a
        self.b = b
        self.c = c
        self.transposeFrom = transposeFrom
        let (tileEpilogue, program) = GEMMKernel.split(full)
        self.tileEpilogue = tileEpilogue
        self.program = program
        if let program, program.count > 0 {
            epilogue = { tile, ld, row, col, rows, cols in
                program.runTile(tile, ld: ld, row0: row, col0: col, rows: rows, cols: cols)
            }
        } else {
            epilogue = nil
        }
    }

    func run() {
        if let t = transposeFrom {
            // b (k×n) = tᵀ where t is n×k.
            let n = workspace.n, k = workspace.k
            let bm = UnsafeMutablePointer(mutating: b)
            for j in 0..<n { for p in 0..<k { bm[p * n + j] = t[j * k + p] } }
        }
        workspace.multiply(a: a, b: b, c: c, tileEpilogue: tileEpilogue, epilogue: epilogue)
    }

    /// Splits `program` into its leading `bias` / `gelu` steps (as the GEMM's tile epilogue) and the rest.
    static func split(_ program: EWProgram?) -> (GEMMTileEpilogue?, EWProgram?) {
        guard let program, program.count > 0 else { return (nil, nil) }
        let steps = Array(program.stepBuffer)
        var i = 0
        var bias: UnsafePointer<Float>?
        var activation = GEMMTileEpilogue.Activation.none
        if case .bias(let b) = steps[i] {
            bias = b
            i += 1
        }
        if i < steps.count, case .gelu = steps[i] {
            activation = .gelu
            i += 1
        }
        if i == 0 { return (nil, program) }
        let rest = i < steps.count ? EWProgram(Array(steps[i...])) : nil
        return (GEMMTileEpilogue(bias: bias, activation: activation), rest)
    }
}

/// Per-row layer normalization, then the epilogue on the row while it is in L1.
final class LayerNormKernel: ExecKernel {
    let src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>
    let gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
    let rows: Int, cols: Int
    let eps: Float
    let program: EWProgram?

    init(src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
         rows: Int, cols: Int, eps: Float, epilogue: EWProgram?) {
        self.src = src
        self.dst = dst
        self.gamma = gamma
        self.beta = beta
        self.rows = rows
        self.cols = cols
        self.eps = eps
        program = (epilogue?.count ?? 0) > 0 ? epilogue : nil
    }

    func run() {
        let w = fvLanes
        let vecCols = cols - cols % w
        for r in 0..<rows {
            let x = src + r * cols, y = dst + r * cols
            var acc = FV()
            var c = 0
            while c < vecCols { acc += load(x + c); c += w }
            var sum = acc.sum()
            while c < cols { sum += x[c]; c += 1 }
            let mean = sum / Float(cols)
            let mv = FV(repeating: mean)
            acc = FV()
            c = 0
            while c < vecCols { let d = load(x + c) - mv; acc = acc.addingProduct(d, d); c += w }
            var sq = acc.sum()
            while c < cols { let d = x[c] - mean; sq += d * d; c += 1 }
            let rstd = 1 / (sq / Float(cols) + eps).squareRoot()
            let rv = FV(repeating: rstd)
            c = 0
            while c < vecCols {
                store(((load(x + c) - mv) * rv) * load(gamma + c) + load(beta + c), y + c)
                c += w
            }
            while c < cols { y[c] = ((x[c] - mean) * rstd) * gamma[c] + beta[c]; c += 1 }
            program?.runTile(y, ld: cols, row0: r, col0: 0, rows: 1, cols: cols)
        }
    }
}

/// Per-row softmax: max, e^(x − max), sum, scale by 1/sum.
final class SoftmaxKernel: ExecKernel {
    let src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>
    let rows: Int, cols: Int

    init(src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        self.src = src
        self.dst = dst
        self.rows = rows
        self.cols = cols
    }

    func run() {
        let w = fvLanes
        for r in 0..<rows {
            let x = src + r * cols, y = dst + r * cols
            var m = -Float.infinity
            var c = 0
            while c < cols {
                let n = min(w, cols - c)
                var v = n == w ? load(x + c) : loadPartial(x + c, n)
                if n < w { for i in n..<w { v[i] = -.infinity } }
                m = max(m, v.max())
                c += n
            }
            let mv = FV(repeating: m)
            var s = FV()
            c = 0
            while c < cols {
                let n = min(w, cols - c)
                let v = n == w ? load(x + c) : loadPartial(x + c, n)
                var e = VMath.exp(v - mv)
                if n < w { for i in n..<w { e[i] = 0 } }
                s += e
                if n == w { store(e, y + c) } else { storePartial(e, y + c, n) }
                c += n
            }
            let inv = FV(repeating: 1 / s.sum())
            c = 0
            while c + w <= cols { store(load(y + c) * inv, y + c); c += w }
            while c < cols { y[c] *= inv[0]; c += 1 }
        }
    }
}

/// Kᵀ per head into a padded scratch: kt[h][d][j] = k[j, h·dh + d], row stride `seqPad`.
@inline(__always)
func transposeHeads(_ k: UnsafePointer<Float>, _ kt: UnsafeMutablePointer<Float>, seq: Int, hidden: Int, heads: Int, seqPad: Int) {
    let dh = hidden / heads
    for h in 0..<heads {
        let base = kt + h * dh * seqPad
        for j in 0..<seq {
            let row = k + j * hidden + h * dh
            for d in 0..<dh { base[d * seqPad + j] = row[d] }
        }
    }
}

/// Scores for one query row `q` (dh floats) against keys j ..< j+16 of one head's Kᵀ.
@inline(__always)
func scoreBlock(_ q: UnsafePointer<Float>, _ kt: UnsafePointer<Float>, dh: Int, seqPad: Int, j: Int) -> FV {
    var acc = FV()
    for d in 0..<dh { acc = acc.addingProduct(FV(repeating: q[d]), load(kt + d * seqPad + j)) }
    return acc
}

/// Per-head QKᵀ → scores [heads·seq × seq].
final class AttnScoresKernel: ExecKernel {
    let q: UnsafePointer<Float>, k: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>
    let seq: Int, hidden: Int, heads: Int, seqPad: Int
    let kt: UnsafeMutablePointer<Float>

    init(q: UnsafePointer<Float>, k: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, seq: Int, hidden: Int, heads: Int) {
        self.q = q
        self.k = k
        self.out = out
        self.seq = seq
        self.hidden = hidden
        self.heads = heads
        seqPad = (seq + fvLanes - 1) / fvLanes * fvLanes
        kt = allocateFloats(hidden * seqPad)
    }

    deinit { UnsafeMutableRawPointer(kt).deallocate() }

    func run() {
        transposeHeads(k, kt, seq: seq, hidden: hidden, heads: heads, seqPad: seqPad)
        let dh = hidden / heads
        for h in 0..<heads {
            let kth = UnsafePointer(kt + h * dh * seqPad)
            for i in 0..<seq {
                let qi = q + i * hidden + h * dh
                let row = out + (h * seq + i) * seq
                var j = 0
                while j < seq {
                    let s = scoreBlock(qi, kth, dh: dh, seqPad: seqPad, j: j)
                    let n = min(fvLanes, seq - j)
                    if n == fvLanes { store(s, row + j) } else { storePartial(s, row + j, n) }
                    j += fvLanes
                }
            }
        }
    }
}

/// Accumulates acc[0..<dh] += p · v[0..<dh].
@inline(__always)
func axpy(_ acc: UnsafeMutablePointer<Float>, _ p: Float, _ v: UnsafePointer<Float>, _ dh: Int) {
    let pv = FV(repeating: p)
    var d = 0
    while d + fvLanes <= dh { store(load(acc + d).addingProduct(pv, load(v + d)), acc + d); d += fvLanes }
    while d < dh { acc[d] = acc[d].addingProduct(p, v[d]); d += 1 }
}

/// Per-head P·V → [seq × hidden].
final class AttnContextKernel: ExecKernel {
    let p: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>
    let seq: Int, hidden: Int, heads: Int

    init(p: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, seq: Int, hidden: Int, heads: Int) {
        self.p = p
        self.v = v
        self.out = out
        self.seq = seq
        self.hidden = hidden
        self.heads = heads
    }

    func run() {
        let dh = hidden / heads
        for h in 0..<heads {
            for i in 0..<seq {
                let acc = out + i * hidden + h * dh
                acc.update(repeating: 0, count: dh)
                let prow = p + (h * seq + i) * seq
                for j in 0..<seq {
                    let pj = prow[j]
                    if pj != 0 { axpy(acc, pj, v + j * hidden + h * dh, dh) }
                }
            }
        }
    }
}

/// Streaming attention: per query row, keys in tiles of up to 256 with an online softmax (running
/// max m and sum l; the accumulator is rescaled by e^(m_old − m_new) when a later tile raises the
/// max). A tile's scores live in a 1 KiB L1 buffer and are turned into probabilities in place, so
/// no score matrix is ever stored; with a causal mask the keys past the diagonal are skipped.
/// (A first version with 16-key tiles paid a max/sum reduction and an accumulator rescale per 16
/// keys and was measured slower than the unfused passes at seq 128.)
final class StreamingAttentionKernel: ExecKernel {
    let q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>
    let seq: Int, hidden: Int, heads: Int, seqPad: Int
    let scale: Float
    let causal: Bool
    let kt: UnsafeMutablePointer<Float>
    let tile = 256
    let sbuf: UnsafeMutablePointer<Float>

    init(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
         seq: Int, hidden: Int, heads: Int, scale: Float, causal: Bool) {
        self.q = q
        self.k = k
        self.v = v
        self.out = out
        self.seq = seq
        self.hidden = hidden
        self.heads = heads
        self.scale = scale
        self.causal = causal
        seqPad = (seq + fvLanes - 1) / fvLanes * fvLanes
        kt = allocateFloats(hidden * seqPad)
        sbuf = allocateFloats(tile + fvLanes)
    }

    deinit {
        UnsafeMutableRawPointer(kt).deallocate()
        UnsafeMutableRawPointer(sbuf).deallocate()
    }

    func run() {
        transposeHeads(k, kt, seq: seq, hidden: hidden, heads: heads, seqPad: seqPad)
        let dh = hidden / heads
        let scaleV = FV(repeating: scale)
        let ninf = FV(repeating: -.infinity)
        let iota = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        for h in 0..<heads {
            let kth = UnsafePointer(kt + h * dh * seqPad)
            for i in 0..<seq {
                let qi = q + i * hidden + h * dh
                let acc = out + i * hidden + h * dh
                acc.update(repeating: 0, count: dh)
                var m = -Float.infinity
                var l: Float = 0
                let end = causal ? i + 1 : seq
                var j0 = 0
                while j0 < end {
                    let n = min(tile, end - j0)
                    // Scores of the tile (masked past `end`), and their max.
                    var bm = ninf
                    var j = 0
                    while j < n {
                        var s = scoreBlock(qi, kth, dh: dh, seqPad: seqPad, j: j0 + j) * scaleV
                        s = s.replacing(with: ninf, where: (iota &+ Int32(j0 + j)) .>= SIMD16<Int32>(repeating: Int32(end)))
                        store(s, sbuf + j)
                        bm = bm.replacing(with: s, where: s .> bm)
                        j += fvLanes
                    }
                    let mNew = max(m, bm.max())
                    // e^(s − m_new) in place, and its sum.
                    let mv = FV(repeating: mNew)
                    var sv = FV()
                    j = 0
                    while j < n {
                        let e = VMath.exp(load(sbuf + j) - mv)
                        store(e, sbuf + j)
                        sv += e
                        j += fvLanes
                    }
                    if m != -.infinity && m != mNew {
                        let corr = VMath.exp(FV(repeating: m - mNew))[0]
                        l *= corr
                        let cv = FV(repeating: corr)
                        var d = 0
                        while d + fvLanes <= dh { store(load(acc + d) * cv, acc + d); d += fvLanes }
                        while d < dh { acc[d] *= corr; d += 1 }
                    }
                    m = mNew
                    l += sv.sum()
                    for t in 0..<n {
                        let pt = sbuf[t]
                        if pt != 0 { axpy(acc, pt, v + (j0 + t) * hidden + h * dh, dh) }
                    }
                    j0 += n
                }
                let iv = FV(repeating: 1 / l)
                var d = 0
                while d + fvLanes <= dh { store(load(acc + d) * iv, acc + d); d += fvLanes }
                while d < dh { acc[d] *= iv[0]; d += 1 }
            }
        }
    }
}

/// NHWC convolution with "same" padding. 1×1 stride-1 convolutions run on the GEMM
/// ([n·h·w × cin]·[cin × cout]); the rest run directly, one output row at a time, vectorised over
/// output channels (or channels for depthwise). The epilogue runs per finished output row.
final class ConvKernel: ExecKernel {
    let src: UnsafePointer<Float>, w: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>
    let n: Int, h: Int, wd: Int, cin: Int
    let oh: Int, ow: Int, cout: Int
    let k: Int, stride: Int, depthwise: Bool
    let program: EWProgram?
    let gemm: GEMMKernel?

    init(src: UnsafePointer<Float>, weights: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, inShape: [Int], outShape: [Int],
         kernel: Int, stride: Int, depthwise: Bool, epilogue: EWProgram?) {
        self.src = src
        w = weights
        self.dst = dst
        (n, h, wd, cin) = (inShape[0], inShape[1], inShape[2], inShape[3])
        (oh, ow, cout) = (outShape[1], outShape[2], outShape[3])
        k = kernel
        self.stride = stride
        self.depthwise = depthwise
        program = (epilogue?.count ?? 0) > 0 ? epilogue : nil
        if kernel == 1 && stride == 1 && !depthwise {
            gemm = GEMMKernel(m: inShape[0] * inShape[1] * inShape[2], n: outShape[3], k: inShape[3], a: src, b: weights, c: dst,
                              epilogue: program)
        } else {
            gemm = nil
        }
    }

    func run() {
        if let gemm { gemm.run(); return }
        let pad = k / 2
        for b in 0..<n {
            for oy in 0..<oh {
                let rowOut = dst + ((b * oh + oy) * ow) * cout
                for ox in 0..<ow {
                    let o = rowOut + ox * cout
                    var c0 = 0
                    while c0 < cout {
                        let nc = min(fvLanes, cout - c0)
                        var acc = FV()
                        for ky in 0..<k {
                            let iy = oy * stride + ky - pad
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<k {
                                let ix = ox * stride + kx - pad
                                if ix < 0 || ix >= wd { continue }
                                let xp = src + ((b * h + iy) * wd + ix) * cin
                                let tap = ky * k + kx
                                if depthwise {
                                    let wv = nc == fvLanes ? load(w + tap * cout + c0) : loadPartial(w + tap * cout + c0, nc)
                                    let xv = nc == fvLanes ? load(xp + c0) : loadPartial(xp + c0, nc)
                                    acc = acc.addingProduct(xv, wv)
                                } else {
                                    let wp = w + tap * cin * cout + c0
                                    for ci in 0..<cin {
                                        let wv = nc == fvLanes ? load(wp + ci * cout) : loadPartial(wp + ci * cout, nc)
                                        acc = acc.addingProduct(FV(repeating: xp[ci]), wv)
                                    }
                                }
                            }
                        }
                        if nc == fvLanes { store(acc, o + c0) } else { storePartial(acc, o + c0, nc) }
                        c0 += nc
                    }
                }
                program?.runTile(rowOut, ld: cout, row0: (b * oh + oy) * ow, col0: 0, rows: ow, cols: cout)
            }
        }
    }
}

/// NHWC max/avg pooling (no padding), or global pooling to n×1×1×c.
final class PoolKernel: ExecKernel {
    let src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>
    let kind: PoolKind
    let n: Int, h: Int, w: Int, c: Int, oh: Int, ow: Int, size: Int, stride: Int, global: Bool

    init(src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, kind: PoolKind, inShape: [Int], outShape: [Int],
         size: Int, stride: Int, global: Bool) {
        self.src = src
        self.dst = dst
        self.kind = kind
        (n, h, w, c) = (inShape[0], inShape[1], inShape[2], inShape[3])
        (oh, ow) = (outShape[1], outShape[2])
        self.size = size
        self.stride = stride
        self.global = global
    }

    func run() {
        let (wy, wx) = global ? (h, w) : (size, size)
        let inv = 1 / Float(wy * wx)
        for b in 0..<n {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let o = dst + ((b * oh + oy) * ow + ox) * c
                    var c0 = 0
                    while c0 < c {
                        let nc = min(fvLanes, c - c0)
                        var acc = kind == .max ? FV(repeating: -.infinity) : FV()
                        for dy in 0..<wy {
                            for dx in 0..<wx {
                                let p = src + ((b * h + oy * stride + dy) * w + ox * stride + dx) * c + c0
                                let v = nc == fvLanes ? load(p) : loadPartial(p, nc)
                                if kind == .max { acc = acc.replacing(with: v, where: v .> acc) } else { acc += v }
                            }
                        }
                        if kind == .avg { acc *= FV(repeating: inv) }
                        if nc == fvLanes { store(acc, o + c0) } else { storePartial(acc, o + c0, nc) }
                        c0 += nc
                    }
                }
            }
        }
    }
}
