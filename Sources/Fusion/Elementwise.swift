// The elementwise engine: a chain of elementwise layers is compiled once (at load time) into an
// `EWProgram` — a short list of `EWStep`s with their constants and operand pointers resolved —
// and executed block by block (256 elements): read once from the source, every step run over the
// block while it sits in L1, written once to the destination (see `ewRun`). Intermediates of the
// chain never reach L2 or memory. The same engine, with a
// one-step program, is the unfused per-layer kernel (a vectorised single-op pass, as a real
// unfused runtime would run), and with the GEMM/conv/layernorm output as its source it is the
// fused epilogue applied to a tile while the tile is still in L1.
import Kernels

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

    /// L1 work area of `ewRun` (one block): programs are not shared between threads.
    let scratch = allocateFloats(ewBlock)

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
        UnsafeMutableRawPointer(scratch).deallocate()
    }

    var stepBuffer: UnsafeBufferPointer<EWStep> { UnsafeBufferPointer(start: steps.baseAddress, count: count) }

    /// Runs the program over a whole contiguous tensor of `rows × cols` (`src` may equal `dst`).
    func run(src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        if needsPosition {
            ewRun(stepBuffer, scratch: scratch, src: src, srcLD: cols, dst: dst, dstLD: cols, opLD: cols, row0: 0, col0: 0, rows: rows, cols: cols)
        } else {
            let n = rows * cols
            ewRun(stepBuffer, scratch: scratch, src: src, srcLD: n, dst: dst, dstLD: n, opLD: n, row0: 0, col0: 0, rows: 1, cols: n)
        }
    }

    /// Runs the program in place on a tile of a `ld`-strided tensor starting at (row0, col0).
    @inline(__always)
    func runTile(_ tile: UnsafeMutablePointer<Float>, ld: Int, row0: Int, col0: Int, rows: Int, cols: Int) {
        ewRun(stepBuffer, scratch: scratch, src: UnsafePointer(tile), srcLD: ld, dst: tile, dstLD: ld, opLD: ld, row0: row0, col0: col0,
              rows: rows, cols: cols)
    }
}

/// Elements per block of the interpreter: 16 vectors, a 1 KiB buffer that never leaves L1.
let ewBlock = 256

/// Executes `steps` on the region: dst[r, c] = steps(src[r, c]) for r < rows, c < cols; tensor
/// operands are read at [(row0 + r)·opLD + col0 + c], biases at [col0 + c].
///
/// Each row is cut into blocks of `ewBlock` elements. Step 1 reads the block from `src`, the last
/// step writes it to `dst`, and the steps in between pass it through a 1 KiB stack block that stays
/// in L1 — so the chain touches memory once on the way in and once on the way out, whatever its
/// length. Each step is a tight vector loop over the block (the step's `switch` runs once per
/// block, not per vector). A per-vector interpreter keeping the block in registers was tried
/// first: with the `switch` inside the vector loop the compiler spilled the vectors and it ran
/// 2–3× slower than separate passes on in-cache data.
func ewRun(_ steps: UnsafeBufferPointer<EWStep>, scratch: UnsafeMutablePointer<Float>, src: UnsafePointer<Float>, srcLD: Int, dst: UnsafeMutablePointer<Float>,
           dstLD: Int, opLD: Int, row0: Int, col0: Int, rows: Int, cols: Int) {
    let count = steps.count
    guard count > 0 else {
        if UnsafePointer(dst) != src { for r in 0..<rows { (dst + r * dstLD).update(from: src + r * srcLD, count: cols) } }
        return
    }
    if UnsafePointer(dst) == src && srcLD == dstLD && rows * cols <= ewTileLimit {
        // In place on a small region (a GEMM/conv tile, a normalized row) that is already in L1:
        // every step runs over the whole region, the `switch` once per step. (Gathering a strided
        // tile into a contiguous buffer first, against 4K aliasing of rows 12 KiB apart, measured
        // slower in the GEMM epilogue on Zen 5, so the tile is processed where it is.)
        for step in steps {
            stepRegion(step, src, srcLD, dst, dstLD, rows, cols, row0 * opLD + col0, opLD, col0, row0)
        }
        return
    }
    if registerResident(steps) {
        ewRunRegisters(steps, src: src, srcLD: srcLD, dst: dst, dstLD: dstLD, opLD: opLD, row0: row0, col0: col0, rows: rows, cols: cols)
        return
    }
    do {
        let blk = scratch
        for r in 0..<rows {
            let s = src + r * srcLD, d = dst + r * dstLD
            let row = row0 + r
            var c = 0
            while c < cols {
                let n = min(ewBlock, cols - c)
                let o = row * opLD + col0 + c
                for (i, step) in steps.enumerated() {
                    let input = i == 0 ? s + c : UnsafePointer(blk)
                    let output = i == count - 1 ? d + c : blk
                    stepRegion(step, input, 0, output, 0, 1, n, o, opLD, col0 + c, row)
                }
                c += n
            }
        }
    }
}

/// True when no step is transcendental (GELU, SiLU, quantize): the register interpreter then wins.
func registerResident(_ steps: UnsafeBufferPointer<EWStep>) -> Bool {
    !steps.contains { switch $0 { case .gelu, .silu, .quantize: true; default: false } }
}

/// Largest in-place region (floats, 16 KiB) run step by step over the whole region.
let ewTileLimit = 4096

/// A vector operation of one step: value, element index in the block, valid lanes → value.
/// (Concrete structs through a generic `vmap`, so each step's loop is specialized and inlined;
/// closures here were left as calls.)
private protocol VOp {
    func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ lanes: Int) -> FV
}

/// dst[r, i] = op(src[r, i]) over `rows` × `n` elements, per row full vectors then one partial vector.
@inline(__always)
private func vmap<Op: VOp>(_ src: UnsafePointer<Float>, _ srcLD: Int, _ dst: UnsafeMutablePointer<Float>, _ dstLD: Int,
                           _ rows: Int, _ n: Int, _ op: Op) {
    for r in 0..<rows {
        let s = src + r * srcLD, d = dst + r * dstLD
        var i = 0
        while i + fvLanes <= n {
            store(op(load(s + i), r, i, fvLanes), d + i)
            i += fvLanes
        }
        if i < n {
            let k = n - i
            storePartial(op(loadPartial(s + i, k), r, i, k), d + i, k)
        }
    }
}

@inline(__always)
private func ld(_ p: UnsafePointer<Float>, _ lanes: Int) -> FV {
    lanes == fvLanes ? load(p) : loadPartial(p, lanes)
}

private struct AddC: VOp { let c: FV; @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV { v + c } }
private struct MulC: VOp { let c: FV; @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV { v * c } }
private struct SubC: VOp { let c: FV; @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV { v - c } }
private struct Relu: VOp { @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV { VMath.relu(v) } }
private struct Relu6: VOp { @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV { VMath.relu6(v) } }
private struct Gelu: VOp { @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV { VMath.gelu(v) } }
private struct Silu: VOp { @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV { VMath.silu(v) } }
private struct AddT: VOp { let p: UnsafePointer<Float>; let ld_: Int; @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV { v + ld(p + r * ld_ + i, l) } }
private struct MulT: VOp { let p: UnsafePointer<Float>; let ld_: Int; @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV { v * ld(p + r * ld_ + i, l) } }
private struct SubT: VOp { let p: UnsafePointer<Float>; let ld_: Int; @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV { v - ld(p + r * ld_ + i, l) } }
private struct RSubT: VOp { let p: UnsafePointer<Float>; let ld_: Int; @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV { ld(p + r * ld_ + i, l) - v } }
private struct Quantize: VOp {
    let s: FV
    @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV {
        let q = v / s
        let lim = FV(repeating: 127)
        var c = q.replacing(with: lim, where: q .> lim)
        c = c.replacing(with: -lim, where: c .< -lim)
        return VMath.roundEven(c)
    }
}
private struct CausalMask: VOp {
    let col: Int32, row0: Int, seq: Int
    @inline(__always) func callAsFunction(_ v: FV, _ r: Int, _ i: Int, _ l: Int) -> FV {
        let iota = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let masked = (iota &+ (col &+ Int32(i))) .> SIMD16<Int32>(repeating: Int32((row0 + r) % seq))
        return v.replacing(with: FV(repeating: -.infinity), where: masked)
    }
}

/// One step over a region of `rows` × `n` elements starting at (row, col); `o` is the region's
/// offset in tensor operands, whose row stride is `opLD`.
private func stepRegion(_ step: EWStep, _ src: UnsafePointer<Float>, _ srcLD: Int, _ dst: UnsafeMutablePointer<Float>, _ dstLD: Int,
                        _ rows: Int, _ n: Int, _ o: Int, _ opLD: Int, _ col: Int, _ row: Int) {
    switch step {
    case .addC(let k): vmap(src, srcLD, dst, dstLD, rows, n, AddC(c: FV(repeating: k)))
    case .mulC(let k): vmap(src, srcLD, dst, dstLD, rows, n, MulC(c: FV(repeating: k)))
    case .subC(let k): vmap(src, srcLD, dst, dstLD, rows, n, SubC(c: FV(repeating: k)))
    case .relu: vmap(src, srcLD, dst, dstLD, rows, n, Relu())
    case .relu6: vmap(src, srcLD, dst, dstLD, rows, n, Relu6())
    case .gelu: vmap(src, srcLD, dst, dstLD, rows, n, Gelu())
    case .silu: vmap(src, srcLD, dst, dstLD, rows, n, Silu())
    case .addT(let t): vmap(src, srcLD, dst, dstLD, rows, n, AddT(p: t + o, ld_: opLD))
    case .mulT(let t): vmap(src, srcLD, dst, dstLD, rows, n, MulT(p: t + o, ld_: opLD))
    case .subT(let t): vmap(src, srcLD, dst, dstLD, rows, n, SubT(p: t + o, ld_: opLD))
    case .rsubT(let t): vmap(src, srcLD, dst, dstLD, rows, n, RSubT(p: t + o, ld_: opLD))
    case .bias(let b): vmap(src, srcLD, dst, dstLD, rows, n, AddT(p: b + col, ld_: 0))
    case .quantize(let s): vmap(src, srcLD, dst, dstLD, rows, n, Quantize(s: FV(repeating: s.pointee)))
    case .dequantize(let s): vmap(src, srcLD, dst, dstLD, rows, n, MulC(c: FV(repeating: s.pointee)))
    case .causalMask(let seq): vmap(src, srcLD, dst, dstLD, rows, n, CausalMask(col: Int32(col), row0: row, seq: seq))
    }
}

// MARK: - Register-resident interpreter

/// Executes `steps` like `ewRun`, four vectors (64 elements) at a time with every step applied
/// to the registers: intermediates never leave the registers. Used for programs of cheap steps;
/// with GELU/SiLU (a dozen live temporaries per vector) the `switch` inside the vector loop made
/// the compiler spill, and the block interpreter is faster.
func ewRunRegisters(_ steps: UnsafeBufferPointer<EWStep>, src: UnsafePointer<Float>, srcLD: Int, dst: UnsafeMutablePointer<Float>,
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
