// The elementwise engine: a chain of elementwise layers is compiled once (at load time) into an
// `EWProgram` — a short list of `EWStep`s with their constants and operand pointers resolved —
// and executed per group of four SIMD vectors: load 64 values, run every step on the registers,
// store once. Intermediates of the chain never leave the registers. The same engine, with a
// one-step program, is the unfused per-layer kernel (a vectorised single-op pass, as a real
// unfused runtime would run), and with the GEMM/conv/layernorm output as its source it is the
// fused epilogue applied to a tile while the tile is still in L1.

/// One elementwise operation on the running value `x` at element (row, col).
enum EWStep {
    /// x + c, x · c, x − c.
    case addC(Float), mulC(Float), subC(Float)
    case relu, relu6, gelu, silu
    /// x + t, x · t, x − t, t − x with t a tensor of the output's shape (row stride `opLD`).
    case addT(UnsafePointer<Float>), mulT(UnsafePointer<Float>), subT(UnsafePointer<Float>), rsubT(UnsafePointer<Float>)
    /// x + b[col].
    case bias(UnsafePointer<Float>)
    /// clamp(round(x / s), −127, 127) with s read from the pointer (set by the absmax prologue).
    case quantize(UnsafePointer<Float>)
    /// x · s with s read from the pointer.
    case dequantize(UnsafePointer<Float>)
    /// −∞ where col > row mod seq.
    case causalMask(seq: Int)

    /// Needs the (row, col) position, not just a flat index.
    var needsPosition: Bool {
        switch self {
        case .bias, .causalMask: true
        default: false
        }
    }

    /// Approximate floating-point operations per element (for the cost model).
    var flops: Double {
        switch self {
        case .gelu: 24
        case .silu: 20
        case .quantize: 5
        case .relu6: 2
        default: 1
        }
    }
}

/// A compiled elementwise chain; owns a stable copy of its steps.
final class EWProgram {
    let steps: UnsafeMutableBufferPointer<EWStep>
    /// True when a step needs (row, col): the program must then run row by row.
    let needsPosition: Bool

    init(_ steps: [EWStep]) {
        self.steps = UnsafeMutableBufferPointer<EWStep>.allocate(capacity: max(1, steps.count))
        _ = self.steps.initialize(from: steps)
        needsPosition = steps.contains { $0.needsPosition }
        count = steps.count
    }

    /// Number of steps.
    let count: Int

    deinit {
        steps.baseAddress!.deinitialize(count: count)
        steps.deallocate()
    }

    var stepBuffer: UnsafeBufferPointer<EWStep> { UnsafeBufferPointer(start: steps.baseAddress, count: count) }

    /// Runs the program over a whole contiguous tensor of `rows × cols` (`src` may equal `dst`).
    func run(src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        if needsPosition {
            ewRun(stepBuffer, src: src, srcLD: cols, dst: dst, dstLD: cols, opLD: cols, row0: 0, col0: 0, rows: rows, cols: cols)
        } else {
            let n = rows * cols
            ewRun(stepBuffer, src: src, srcLD: n, dst: dst, dstLD: n, opLD: n, row0: 0, col0: 0, rows: 1, cols: n)
        }
    }

    /// Runs the program in place on a tile of a `ld`-strided tensor starting at (row0, col0).
    @inline(__always)
    func runTile(_ tile: UnsafeMutablePointer<Float>, ld: Int, row0: Int, col0: Int, rows: Int, cols: Int) {
        ewRun(stepBuffer, src: UnsafePointer(tile), srcLD: ld, dst: tile, dstLD: ld, opLD: ld, row0: row0, col0: col0,
              rows: rows, cols: cols)
    }
}

/// Executes `steps` on the region: dst[r, c] = steps(src[r, c]) for r < rows, c < cols; tensor
/// operands are read at [(row0 + r)·opLD + col0 + c], biases at [col0 + c].
func ewRun(_ steps: UnsafeBufferPointer<EWStep>, src: UnsafePointer<Float>, srcLD: Int, dst: UnsafeMutablePointer<Float>,
           dstLD: Int, opLD: Int, row0: Int, col0: Int, rows: Int, cols: Int) {
    let w = fvLanes
    for r in 0..<rows {
        let s = src + r * srcLD, d = dst + r * dstLD
        let row = row0 + r
        let opRow = row * opLD + col0
        var c = 0
        while c + 4 * w <= cols {
            var v0 = load(s + c), v1 = load(s + c + w), v2 = load(s + c + 2 * w), v3 = load(s + c + 3 * w)
            for step in steps {
                apply4(step, &v0, &v1, &v2, &v3, opRow + c, col0 + c, row)
            }
            store(v0, d + c); store(v1, d + c + w); store(v2, d + c + 2 * w); store(v3, d + c + 3 * w)
            c += 4 * w
        }
        while c < cols {
            let n = min(w, cols - c)
            var v = n == w ? load(s + c) : loadPartial(s + c, n)
            for step in steps {
                apply1(step, &v, opRow + c, col0 + c, row, n)
            }
            if n == w { store(v, d + c) } else { storePartial(v, d + c, n) }
            c += n
        }
    }
}

@inline(__always)
private func maskLanes(col: Int, row: Int, seq: Int) -> SIMDMask<SIMD16<Int32>> {
    let iota = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    return (iota &+ Int32(col)) .> SIMD16<Int32>(repeating: Int32(row % seq))
}

@inline(__always)
private func quantizeValue(_ x: FV, _ s: Float) -> FV {
    let q = x / FV(repeating: s)
    let lim = FV(repeating: 127)
    var c = q.replacing(with: lim, where: q .> lim)
    c = c.replacing(with: -lim, where: c .< -lim)
    return VMath.roundEven(c)
}

/// One step on four consecutive vectors (64 elements starting at operand offset `o`, column `col`).
@inline(__always)
private func apply4(_ step: EWStep, _ v0: inout FV, _ v1: inout FV, _ v2: inout FV, _ v3: inout FV,
                    _ o: Int, _ col: Int, _ row: Int) {
    let w = fvLanes
    switch step {
    case .addC(let k):
        let c = FV(repeating: k); v0 += c; v1 += c; v2 += c; v3 += c
    case .mulC(let k):
        let c = FV(repeating: k); v0 *= c; v1 *= c; v2 *= c; v3 *= c
    case .subC(let k):
        let c = FV(repeating: k); v0 -= c; v1 -= c; v2 -= c; v3 -= c
    case .relu:
        v0 = VMath.relu(v0); v1 = VMath.relu(v1); v2 = VMath.relu(v2); v3 = VMath.relu(v3)
    case .relu6:
        v0 = VMath.relu6(v0); v1 = VMath.relu6(v1); v2 = VMath.relu6(v2); v3 = VMath.relu6(v3)
    case .gelu:
        v0 = VMath.gelu(v0); v1 = VMath.gelu(v1); v2 = VMath.gelu(v2); v3 = VMath.gelu(v3)
    case .silu:
        v0 = VMath.silu(v0); v1 = VMath.silu(v1); v2 = VMath.silu(v2); v3 = VMath.silu(v3)
    case .addT(let t):
        v0 += load(t + o); v1 += load(t + o + w); v2 += load(t + o + 2 * w); v3 += load(t + o + 3 * w)
    case .mulT(let t):
        v0 *= load(t + o); v1 *= load(t + o + w); v2 *= load(t + o + 2 * w); v3 *= load(t + o + 3 * w)
    case .subT(let t):
        v0 -= load(t + o); v1 -= load(t + o + w); v2 -= load(t + o + 2 * w); v3 -= load(t + o + 3 * w)
    case .rsubT(let t):
        v0 = load(t + o) - v0; v1 = load(t + o + w) - v1; v2 = load(t + o + 2 * w) - v2; v3 = load(t + o + 3 * w) - v3
    case .bias(let b):
        v0 += load(b + col); v1 += load(b + col + w); v2 += load(b + col + 2 * w); v3 += load(b + col + 3 * w)
    case .quantize(let s):
        let k = s.pointee
        v0 = quantizeValue(v0, k); v1 = quantizeValue(v1, k); v2 = quantizeValue(v2, k); v3 = quantizeValue(v3, k)
    case .dequantize(let s):
        let c = FV(repeating: s.pointee); v0 *= c; v1 *= c; v2 *= c; v3 *= c
    case .causalMask(let seq):
        let ninf = FV(repeating: -.infinity)
        v0 = v0.replacing(with: ninf, where: maskLanes(col: col, row: row, seq: seq))
        v1 = v1.replacing(with: ninf, where: maskLanes(col: col + w, row: row, seq: seq))
        v2 = v2.replacing(with: ninf, where: maskLanes(col: col + 2 * w, row: row, seq: seq))
        v3 = v3.replacing(with: ninf, where: maskLanes(col: col + 3 * w, row: row, seq: seq))
    }
}

/// One step on one vector whose low `n` lanes are valid.
@inline(__always)
private func apply1(_ step: EWStep, _ v: inout FV, _ o: Int, _ col: Int, _ row: Int, _ n: Int) {
    @inline(__always) func ld(_ p: UnsafePointer<Float>) -> FV { n == fvLanes ? load(p) : loadPartial(p, n) }
    switch step {
    case .addC(let k): v += FV(repeating: k)
    case .mulC(let k): v *= FV(repeating: k)
    case .subC(let k): v -= FV(repeating: k)
    case .relu: v = VMath.relu(v)
    case .relu6: v = VMath.relu6(v)
    case .gelu: v = VMath.gelu(v)
    case .silu: v = VMath.silu(v)
    case .addT(let t): v += ld(t + o)
    case .mulT(let t): v *= ld(t + o)
    case .subT(let t): v -= ld(t + o)
    case .rsubT(let t): v = ld(t + o) - v
    case .bias(let b): v += ld(b + col)
    case .quantize(let s): v = quantizeValue(v, s.pointee)
    case .dequantize(let s): v *= FV(repeating: s.pointee)
    case .causalMask(let seq): v = v.replacing(with: FV(repeating: -.infinity), where: maskLanes(col: col, row: row, seq: seq))
    }
}

/// Per-tensor symmetric scale for int8: max|x| / 127 (1 when the tensor is all zeros).
func absmaxScale(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var m0 = FV(), m1 = FV()
    var i = 0
    while i + 2 * fvLanes <= count {
        let a = load(x + i), b = load(x + i + fvLanes)
        let aa = a.replacing(with: -a, where: a .< 0), bb = b.replacing(with: -b, where: b .< 0)
        m0 = m0.replacing(with: aa, where: aa .> m0)
        m1 = m1.replacing(with: bb, where: bb .> m1)
        i += 2 * fvLanes
    }
    m0 = m0.replacing(with: m1, where: m1 .> m0)
    var m = m0.max()
    while i < count {
        m = max(m, abs(x[i]))
        i += 1
    }
    return m > 0 ? m / 127 : 1
}
