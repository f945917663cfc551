// GEMM: C[m×n] = A[m×k] · B[k×n], row-major, f32.
//
// `reference` is the obvious triple loop. `optimized` is a Goto/BLIS-style blocked GEMM:
//
//   for jc in n by NC            B block  KC×NC  (L3)
//     for pc in k by KC          pack B[pc.., jc..] into NR-wide panels (zero-padded), row by row
//       for ic in m by MC        pack A[ic.., pc..] into MR-tall panels (zero-padded), MC×KC in L2,
//                                by in-register transposes (CKernels/packa.c)
//         for jr in nc by NR     one B micro-panel KC×NR stays in L1 ...
//           for ir in mc by MR   ... while the A micro-panels stream from L2
//             micro-kernel: C[MR×NR] (+)= Apanel · Bpanel, accumulators in registers
//
// The micro-kernel is chosen at run time from `ISA.built ∩ ISA.host` (`ISA.kernelPath`):
// 14×32 with SIMD16 (AVX-512, 28 zmm accumulators), 6×16 with SIMD8 (AVX2+FMA, 12 ymm
// accumulators), or 4×8 with SIMD4 (SSE, no FMA). Edge tiles (m or n not a multiple of the tile)
// run the same full-size micro-kernel on the zero-padded panels into a scratch tile, and only the
// valid part is copied to C. The first k block stores C, later k blocks add to it. For m ≤ 4
// (GEMV-like, e.g. batch-1 inference) the FMA paths skip packing and stream B row by row.
// An optional `GEMMTileEpilogue` (+ bias, tanh-GELU) runs in the last k block, one vector at a time
// (`applyTileOps`): as one pass over each block of MC rows × 256 finished columns, still in L2
// (`epilogueBlockColumns`), or, when a per-tile closure epilogue follows it, on each tile just
// stored, right before the closure.
import BenchModel
import CKernels

// MARK: - Factory

/// `gemm`: C[m×n] = A[m×k] · B[k×n], row-major f32. Shape keys `m`, `n`, `k`.
public struct GEMMFactory: KernelFactory {
    /// Creates the factory.
    public init() {}
    /// `gemm`.
    public var kind: String { "gemm" }
    /// One-line description.
    public var summary: String { "matrix multiply C[m×n] = A[m×k]·B[k×n], row-major" }
    /// `m`, `n`, `k`.
    public var shapeKeys: [String] { ["m", "n", "k"] }
    /// `reference` (triple loop) and `optimized` (packed, blocked, SIMD micro-kernel).
    public var variants: [String] { ["reference", "optimized"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, that `m`, `n`, `k` are present and positive, that no other key is present,
    /// and that no matrix exceeds the element limit.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, dimensions)
    }

    /// 2·m·n·k (one multiply and one add per term).
    public func flops(shape: Shape) -> Double {
        2 * Double(shape["m"] ?? 0) * Double(shape["n"] ?? 0) * Double(shape["k"] ?? 0)
    }

    /// 4·(m·k + k·n + m·n): A and B read once, C written once.
    public func bytes(shape: Shape, dtype: String) -> Double {
        let m = Double(shape["m"] ?? 0), n = Double(shape["n"] ?? 0), k = Double(shape["k"] ?? 0)
        return 4 * (m * k + k * n + m * n)
    }

    /// `abs = 1e-4·√k`, `rel = 1e-4`, `minCosine = 0.99999`.
    ///
    /// Justification. Inputs are uniform in [-1, 1): each term a·b has mean 0 and variance 1/9,
    /// so |C| is typically √k/3. The two variants sum the same k terms in different orders
    /// (reference: one sequential sum; optimized: FMA, KC-sized partial sums). Each float32
    /// rounding is at most ε/2·|partial sum| with ε = 2⁻²³ ≈ 1.2e-7, and the k roundings behave
    /// like a random walk, so the difference is typically ~ ε·√k·(√k/3) = ε·k/3. Measured on
    /// Zen 5 (seeds 1–3, largest |optimized − reference| over the output): k = 1024 → 4.6e-5
    /// (allowed 3.2e-3), k = 4096 → 1.8e-4 (allowed 6.4e-3, 36× margin), k = 16384 → 8.6e-4
    /// (allowed 1.3e-2), k = 65536 → 2.9e-3 (allowed 2.6e-2). The error grows ~k and the allowance
    /// ~√k, so the margin shrinks with k but stays ≥ 9× up to k = 65536.
    /// A real bug is far outside: dropping one k step removes a term a·b with E|a·b| = 1/4
    /// (at k = 4096, |a·b| exceeds the 6.4e-3 allowance for 96% of the elements), and shifting a
    /// column swaps in an unrelated value of size ~√k/3. The cosine bound (≥ 0.99999) catches a
    /// systematic error that is small per element but everywhere.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        let k = Double(max(1, shape["k"] ?? 1))
        return Tolerance(abs: 1e-4 * k.squareRoot(), rel: 1e-4, minCosine: 0.99999)
    }

    /// A `GEMMInstance` for `variant` with A then B filled from one `SeededGenerator(seed:)` sequence.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let (m, n, k) = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, dimensions)
        let path: GEMMKernelPath? = variant == "optimized" ? .current : nil
        return GEMMInstance(m: m, n: n, k: k, seed: seed, path: path)
    }

    private func dimensions(_ shape: Shape) throws -> (Int, Int, Int) {
        let m = try dimension(shape, "m"), n = try dimension(shape, "n"), k = try dimension(shape, "k")
        try rejectUnknownKeys(shape)
        try requireElements(m, k, "A (m×k)")
        try requireElements(k, n, "B (k×n)")
        try requireElements(m, n, "C (m×n)")
        return (m, n, k)
    }
}

/// Which micro-kernel the optimized GEMM uses: avx512 (14×32 tile, SIMD16 accumulators), avx2
/// (6×16 tile, SIMD8 accumulators with FMA) or sse (4×8 tile, SIMD4, separate multiply and add).
/// The same enum as the recorded kernel path (`KernelPath`, BenchModel).
public typealias GEMMKernelPath = KernelPath

extension KernelPath {
    /// The path for this build on this CPU (`ISA.kernelPath`).
    ///
    /// Every path computes the same product on any CPU that passes `ISA.check()` — the module is
    /// compiled for the build's CPU, so a path whose registers the build lacks is merely slow.
    public static var current: GEMMKernelPath { ISA.kernelPath }

    /// Micro-tile rows × columns (MR, NR).
    public var tile: (rows: Int, cols: Int) {
        switch self {
        case .avx512: (AVX512Kernel.mr, AVX512Kernel.nr)
        case .avx2: (AVX2Kernel.mr, AVX2Kernel.nr)
        case .sse: (SSEKernel.mr, SSEKernel.nr)
        }
    }
}

// MARK: - Instance

/// One GEMM problem: owns A, B, C and (for the optimized variant) its packing buffers.
///
/// All buffers are allocated and filled in `init` and freed in `deinit`; `run()` allocates nothing.
public final class GEMMInstance: KernelInstance {
    /// Rows of A and C.
    public let m: Int
    /// Columns of B and C.
    public let n: Int
    /// Columns of A, rows of B.
    public let k: Int
    /// Micro-kernel of the optimized variant; nil for the reference triple loop.
    public let path: GEMMKernelPath?

    private let a: UnsafeMutablePointer<Float>
    private let b: UnsafeMutablePointer<Float>
    private let c: UnsafeMutablePointer<Float>
    /// Packing buffers and blocked product of the optimized variant; nil for the reference.
    private let workspace: GEMMWorkspace?

    /// Creates the problem with A (m×k) and then B (k×n) drawn from `SeededGenerator(seed:)`.
    /// `path` nil selects the reference triple loop. Dimensions must be positive.
    public init(m: Int, n: Int, k: Int, seed: UInt64, path: GEMMKernelPath?) {
        precondition(m > 0 && n > 0 && k > 0, "GEMM dimensions must be positive")
        self.m = m
        self.n = n
        self.k = k
        self.path = path
        var g = SeededGenerator(seed: seed)
        a = g.filledFloats(m * k)
        b = g.filledFloats(k * n)
        c = allocateFloats(m * n)
        workspace = path.map { GEMMWorkspace(m: m, n: n, k: k, path: $0) }
    }

    deinit {
        freeFloats(a)
        freeFloats(b)
        freeFloats(c)
    }

    /// A (m×k, row-major).
    public var inputA: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: a, count: m * k) }
    /// B (k×n, row-major).
    public var inputB: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: b, count: k * n) }

    /// Computes C = A·B once.
    public func run() {
        if let workspace {
            workspace.multiply(a: a, b: b, c: c)
        } else {
            gemmReference(m: m, n: n, k: k, a: a, b: b, c: c)
        }
    }

    /// C (m×n, row-major) from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: c, count: m * n) }
}

// MARK: - Workspace with an epilogue hook (used by Fusion)

/// Called by `GEMMWorkspace.multiply` once per finished tile of C, right after the tile's last
/// k block, while it is still in L1: `tile` points at C[row, col] (row stride `ldc`) and
/// `rows`×`cols` elements are valid. The closure may rewrite the tile in place (bias,
/// activation, scale, residual add — a fused epilogue); every element is visited exactly once.
public typealias GEMMEpilogue = (_ tile: UnsafeMutablePointer<Float>, _ ldc: Int, _ row: Int, _ col: Int,
                                 _ rows: Int, _ cols: Int) -> Void

/// Bias and activation the optimized GEMM applies to its output in the last k block, a block at a
/// time while the block is still in cache — no separate pass over the whole of C. Per element, in this order and as
/// separate IEEE operations: c (+ C from earlier k blocks), + bias[col], then the activation
/// (`VectorMath.geluTanh` for `.gelu`). That is exactly what a GEMM followed by a `+ bias[col]`
/// pass and a `VectorMath.geluTanh` pass computes, so the fused result is bit-identical to the
/// unfused one.
///
/// Where it runs (`gemmBlocked`): as one pass over each block of MC rows × 256 columns as soon as
/// the block's last micro-panel is done (`epilogueBlockColumns`, the block in L2); when a per-tile
/// closure epilogue follows, on each tile right after its last micro-kernel call (in L1), just
/// before the closure, so the closure sees the tile finished. The history (docs/results.md, issue 18): on the
/// accumulator registers, the optimizer called `storeBytes` out of line for each of them and the
/// fused model measured no faster than the separate passes; per stored tile it cost 3.8% of the
/// GEMM on AVX2 (the GELU's dependency chain exposed at every 12-vector tile); per block, less
/// (the figures are at `epilogueBlockColumns`). The small-m path applies it to the whole of C.
public struct GEMMTileEpilogue {
    /// The activation after the bias.
    public enum Activation {
        /// No activation (bias only).
        case none
        /// tanh-GELU (`VectorMath.geluTanh`).
        case gelu
    }

    /// n per-column biases, or nil for none. Must stay valid while the workspace multiplies.
    public var bias: UnsafePointer<Float>?
    /// The activation applied after the bias.
    public var activation: Activation

    /// Creates an epilogue of `bias` (nil: none) then `activation`.
    public init(bias: UnsafePointer<Float>?, activation: Activation) {
        self.bias = bias
        self.activation = activation
    }

    /// True when it changes nothing (no bias, no activation).
    public var isIdentity: Bool { bias == nil && activation == .none }

    /// The operations for the tile whose first column is `col`.
    func ops(col: Int) -> TileOps { TileOps(bias: bias.map { $0 + col }, gelu: activation == .gelu) }
}

/// `GEMMTileEpilogue` for one tile: bias already offset to the tile's first column.
struct TileOps {
    /// bias[col...] or nil.
    let bias: UnsafePointer<Float>?
    /// Whether GELU follows.
    let gelu: Bool
    /// Whether the micro-kernel has anything to apply.
    var active: Bool { bias != nil || gelu }
}

/// Applies `ops` in place to the stored tile C[0..<rows, 0..<cols] (row stride `ld`) with the
/// micro-kernels' per-lane arithmetic, `V.scalarCount` lanes at a time (the last group of a row
/// partial): `gemmBlocked`'s blocks of finished columns, or each finished tile while it is in L1
/// when a closure epilogue follows, and the small-m path. Each lane's result does not depend on the width (one IEEE operation
/// per lane and step), so every width gives the same bits.
@inline(never)
func applyTileOps<V: FloatVector>(_ ops: TileOps, _ c: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int,
                                  lanes _: V.Type = SIMD8<Float>.self) {
    guard ops.active else { return }
    let width = V.scalarCount
    let full = cols - cols % width
    for i in 0..<rows {
        let row = c + i * ld
        // Full vectors: one loop per combination, so the body has no branch but the loop's own
        // (a pass over a block of C is throughput-bound: GEMMTileEpilogue).
        switch (ops.bias, ops.gelu) {
        case (let bias?, true):
            for j in stride(from: 0, to: full, by: width) {
                let x = UnsafeRawPointer(row + j).loadUnaligned(as: V.self) + UnsafeRawPointer(bias + j).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(row + j).storeBytes(of: fastGeluTanh(x), as: V.self)
            }
        case (let bias?, false):
            for j in stride(from: 0, to: full, by: width) {
                let x = UnsafeRawPointer(row + j).loadUnaligned(as: V.self) + UnsafeRawPointer(bias + j).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(row + j).storeBytes(of: x, as: V.self)
            }
        case (nil, _):
            for j in stride(from: 0, to: full, by: width) {
                let x = UnsafeRawPointer(row + j).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(row + j).storeBytes(of: fastGeluTanh(x), as: V.self)
            }
        }
        // The partial vector at the row's end, lane by lane through the same operations.
        let w = cols - full
        if w > 0 {
            var x = V(), b = V()
            for l in 0..<w { x[l] = row[full + l] }
            if let bias = ops.bias {
                for l in 0..<w { b[l] = bias[full + l] }
                x = x + b
            }
            if ops.gelu { x = fastGeluTanh(x) }
            for l in 0..<w { row[full + l] = x[l] }
        }
    }
}

/// The optimized GEMM's packing buffers for one problem size, for callers that own A, B and C
/// (e.g. a model runtime) and may want an epilogue applied per output tile.
///
/// `multiply` computes exactly what `GEMMInstance` with the same path computes (same blocking,
/// packing and micro-kernel, hence bit-identical C), then hands each finished tile to the epilogue.
/// Not thread-safe: one workspace per concurrent caller.
public final class GEMMWorkspace {
    /// Rows of A and C.
    public let m: Int
    /// Columns of B and C.
    public let n: Int
    /// Columns of A, rows of B.
    public let k: Int
    /// Micro-kernel path.
    public let path: GEMMKernelPath
    private let blocking: GEMMBlocking
    private let aPack: UnsafeMutablePointer<Float>
    private let bPack: UnsafeMutablePointer<Float>
    private let tile: UnsafeMutablePointer<Float>

    /// Allocates the packing buffers for C[m×n] = A[m×k]·B[k×n] on `path` (default: this machine's).
    public init(m: Int, n: Int, k: Int, path: GEMMKernelPath = .current) {
        precondition(m > 0 && n > 0 && k > 0, "GEMM dimensions must be positive")
        self.m = m
        self.n = n
        self.k = k
        self.path = path
        blocking = GEMMBlocking(path: path, m: m, n: n, k: k)
        aPack = allocateFloats(blocking.aPackCount)
        bPack = allocateFloats(blocking.bPackCount)
        tile = allocateFloats(blocking.mr * blocking.nr)
    }

    deinit {
        freeFloats(aPack)
        freeFloats(bPack)
        freeFloats(tile)
    }

    /// C = A·B (row-major, leading dimensions k, n, n), then `tileEpilogue` on every element while
    /// it is in cache (bias, activation; see `GEMMTileEpilogue`), then `epilogue` on
    /// every finished tile. On the small-m path (m ≤ 4, no tiles) both see the whole of C as one tile.
    public func multiply(a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                         tileEpilogue: GEMMTileEpilogue? = nil, epilogue: GEMMEpilogue? = nil) {
        let te = tileEpilogue.flatMap { $0.isIdentity ? nil : $0 }
        if m <= smallM && path != .sse {
            gemmSmallM(m: m, n: n, k: k, a: a, b: b, c: c)
            if let te {
                if path == .avx512 {
                    applyTileOps(te.ops(col: 0), c, ld: n, rows: m, cols: n, lanes: SIMD16<Float>.self)
                } else {
                    applyTileOps(te.ops(col: 0), c, ld: n, rows: m, cols: n)
                }
            }
            epilogue?(c, n, 0, 0, m, n)
            return
        }
        let p = GEMMPointers(a: a, b: b, c: c, aPack: aPack, bPack: bPack, tile: tile)
        switch path {
        case .avx512: gemmBlocked(AVX512Kernel.self, m: m, n: n, k: k, blocking, p, tileEpilogue: te, epilogue: epilogue)
        case .avx2: gemmBlocked(AVX2Kernel.self, m: m, n: n, k: k, blocking, p, tileEpilogue: te, epilogue: epilogue)
        case .sse: gemmBlocked(SSEKernel.self, m: m, n: n, k: k, blocking, p, tileEpilogue: te, epilogue: epilogue)
        }
    }
}

// MARK: - Reference

/// C = A·B by the definition: for each (i, j), a Float sum over p of A[i,p]·B[p,j], in order.
func gemmReference(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                   c: UnsafeMutablePointer<Float>) {
    for i in 0..<m {
        for j in 0..<n {
            var acc: Float = 0
            for p in 0..<k {
                acc += a[i * k + p] * b[p * n + j]
            }
            c[i * n + j] = acc
        }
    }
}

// MARK: - Small m (GEMV-like)

/// Largest m that takes the unpacked row-streaming path instead of the blocked one.
///
/// With m this small a 14-row (or 6-row) micro-tile would mostly multiply zero padding, and
/// packing B costs as much as the product itself; streaming B once per row is cheaper.
let smallM = 4

/// C = A·B for small m: each row of C is Σ_p A[i,p]·B[p,:], accumulated in SIMD16 registers
/// across 64 columns at a time (then 16, then one masked-width vector at the right edge, both with
/// four interleaved partial sums over k), streaming B row by row.
func gemmSmallM(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                c: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let rowBytes = n * MemoryLayout<Float>.stride
    for i in 0..<m {
        let ai = a + i * k
        let ci = UnsafeMutableRawPointer(c + i * n)
        var j = 0
        while j + 64 <= n {
            var c0 = V(), c1 = V(), c2 = V(), c3 = V()
            var bp = UnsafeRawPointer(b + j)
            for p in 0..<k {
                let s = V(repeating: ai[p])
                c0 = c0.addingProduct(s, bp.loadUnaligned(fromByteOffset: 0, as: V.self))
                c1 = c1.addingProduct(s, bp.loadUnaligned(fromByteOffset: 64, as: V.self))
                c2 = c2.addingProduct(s, bp.loadUnaligned(fromByteOffset: 128, as: V.self))
                c3 = c3.addingProduct(s, bp.loadUnaligned(fromByteOffset: 192, as: V.self))
                bp += rowBytes
            }
            let o = j * MemoryLayout<Float>.stride
            ci.storeBytes(of: c0, toByteOffset: o, as: V.self)
            ci.storeBytes(of: c1, toByteOffset: o + 64, as: V.self)
            ci.storeBytes(of: c2, toByteOffset: o + 128, as: V.self)
            ci.storeBytes(of: c3, toByteOffset: o + 192, as: V.self)
            j += 64
        }
        while j + 16 <= n {
            let c0 = columnStrip(ai, b + j, n: n, rows: k)
            ci.storeBytes(of: c0, toByteOffset: j * MemoryLayout<Float>.stride, as: V.self)
            j += 16
        }
        if j < n {
            // Right edge (< 16 columns; all of C when n < 16, e.g. a 10-class output layer): still
            // one SIMD16 FMA per k row. Rows whose 16-float read stays inside B are loaded whole
            // (the lanes past the edge hold the next row's values and are discarded); only the
            // last few rows, where that read would leave B, are gathered lane by lane.
            let rem = n - j
            let slack = k * n - j - 16   // row p's read is inside B iff p·n ≤ slack
            let wholeRows = slack < 0 ? 0 : min(k, slack / n + 1)
            var c0 = columnStrip(ai, b + j, n: n, rows: wholeRows)
            var bp = b + j + wholeRows * n
            for p in wholeRows..<k {
                var row = V()
                for l in 0..<rem { row[l] = bp[l] }
                c0 = c0.addingProduct(V(repeating: ai[p]), row)
                bp += n
            }
            for l in 0..<rem { c[i * n + j + l] = c0[l] }
        }
    }
}

/// Σ_{p < rows} a[p]·B[p, 0..<16] for one 16-column strip starting at `b` (row stride `n`), in
/// four independent accumulators (rows p mod 4) so the sum is bound by FMA throughput, not by one
/// chain of `rows` dependent FMAs (a 128-deep chain is 512+ cycles of latency at batch 1).
@inline(__always)
private func columnStrip(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, n: Int, rows: Int) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    var c0 = V(), c1 = V(), c2 = V(), c3 = V()
    var bp = UnsafeRawPointer(b)
    let stride = n * MemoryLayout<Float>.stride
    var p = 0
    while p + 4 <= rows {
        c0 = c0.addingProduct(V(repeating: a[p]), bp.loadUnaligned(as: V.self))
        c1 = c1.addingProduct(V(repeating: a[p + 1]), bp.loadUnaligned(fromByteOffset: stride, as: V.self))
        c2 = c2.addingProduct(V(repeating: a[p + 2]), bp.loadUnaligned(fromByteOffset: 2 * stride, as: V.self))
        c3 = c3.addingProduct(V(repeating: a[p + 3]), bp.loadUnaligned(fromByteOffset: 3 * stride, as: V.self))
        bp += 4 * stride
        p += 4
    }
    while p < rows {
        c0 = c0.addingProduct(V(repeating: a[p]), bp.loadUnaligned(as: V.self))
        bp += stride
        p += 1
    }
    return (c0 + c1) + (c2 + c3)
}

// MARK: - Optimized driver

/// Cache blocking of one instance (block sizes clamped to the problem, packing buffer sizes).
struct GEMMBlocking {
    let mr: Int, nr: Int
    /// k block: a KC×NR B micro-panel stays in L1 (48 KiB on Zen 5, 32 KiB on Zen 3).
    let kc: Int
    /// m block: the packed MC×KC A block stays in L2 (1 MiB on Zen 5, 512 KiB on Zen 3).
    let mc: Int
    /// n block: the packed KC×NC B block stays in L3.
    let nc: Int

    init(path: GEMMKernelPath, m: Int, n: Int, k: Int) {
        let (mr, nr) = path.tile
        let (kcMax, mcMax, ncMax): (Int, Int, Int)
        switch path {
        // B micro-panel 256×32×4 = 32 KiB of the 48 KiB L1d; A block 252×256×4 = 252 KiB, a quarter
        // of L2 (measured on Zen 5 at 512³: KC 128–512 and MC 112–504 all within ±2%, this the best).
        case .avx512: (kcMax, mcMax, ncMax) = (256, 18 * 14, 4096)
        // B micro-panel 256×16×4 = 16 KiB of a 32 KiB L1d; A block 240×256×4 = 240 KiB of 512 KiB L2.
        case .avx2: (kcMax, mcMax, ncMax) = (256, 40 * 6, 4096)
        // B micro-panel 256×8×4 = 8 KiB; A block 128×256×4 = 128 KiB.
        case .sse: (kcMax, mcMax, ncMax) = (256, 32 * 4, 4096)
        }
        self.mr = mr
        self.nr = nr
        kc = min(kcMax, k)
        mc = min(mcMax, (m + mr - 1) / mr * mr)
        nc = min(ncMax, (n + nr - 1) / nr * nr)
    }

    /// Floats in the packed A block (MC rounded up to MR, times KC).
    var aPackCount: Int { mc * kc }
    /// Floats in the packed B block (KC times NC rounded up to NR).
    var bPackCount: Int { kc * nc }
}

/// The buffers one optimized run works on.
struct GEMMPointers {
    let a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
    let aPack: UnsafeMutablePointer<Float>, bPack: UnsafeMutablePointer<Float>, tile: UnsafeMutablePointer<Float>
}

/// A register-tiled micro-kernel: C[mr×nr] = (accumulate ? C : 0) + Apanel[kc×mr] · Bpanel[kc×nr].
protocol MicroKernel {
    /// Tile rows.
    static var mr: Int { get }
    /// Tile columns.
    static var nr: Int { get }
    /// The vector the kernel's rows are made of (the width `applyTileOps` uses on its tiles).
    associatedtype Lanes: FloatVector
    /// `a`: kc groups of mr floats; `b`: kc groups of nr floats (64-byte aligned); `c` row stride `ldc`.
    static func compute(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool)
}

/// 14×32 AVX-512 micro-kernel.
enum AVX512Kernel: MicroKernel {
    typealias Lanes = SIMD16<Float>
    static var mr: Int { 14 }
    static var nr: Int { 32 }
    @inline(__always)
    static func compute(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
        kernel14x32(kc, a, b, c, ldc, accumulate)
    }
}

/// 6×16 AVX2 micro-kernel.
enum AVX2Kernel: MicroKernel {
    typealias Lanes = SIMD8<Float>
    static var mr: Int { 6 }
    static var nr: Int { 16 }
    @inline(__always)
    static func compute(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
        kernel6x16(kc, a, b, c, ldc, accumulate)
    }
}

/// 4×8 SSE micro-kernel.
enum SSEKernel: MicroKernel {
    typealias Lanes = SIMD8<Float>
    static var mr: Int { 4 }
    static var nr: Int { 8 }
    @inline(__always)
    static func compute(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
        kernel4x8(kc, a, b, c, ldc, accumulate)
    }
}

/// Blocked GEMM (loop nest in the file header) with micro-kernel `K`.
@inline(__always)
func gemmBlocked<K: MicroKernel>(_: K.Type, m: Int, n: Int, k: Int, _ bl: GEMMBlocking, _ p: GEMMPointers,
                                  tileEpilogue: GEMMTileEpilogue? = nil, epilogue: GEMMEpilogue? = nil) {
    let mr = K.mr, nr = K.nr
    // Without a per-tile closure after it, the tile epilogue runs once per block of finished
    // columns (`epilogueBlockColumns`); with one, on each finished tile just before the closure.
    let blockEpilogue = epilogue == nil ? tileEpilogue : nil
    var jc = 0
    while jc < n {
        let nc = min(bl.nc, n - jc)
        var pc = 0
        while pc < k {
            let kc = min(bl.kc, k - pc)
            let accumulate = pc > 0
            let last = pc + kc == k
            packB(K.self, kc: kc, nc: nc, src: p.b + pc * n + jc, ldb: n, dst: p.bPack)
            var ic = 0
            while ic < m {
                let mc = min(bl.mc, m - ic)
                packA(K.self, mc: mc, kc: kc, src: p.a + ic * k + pc, lda: k, dst: p.aPack)
                var blockStart = 0
                var jr = 0
                while jr < nc {
                    let cols = min(nr, nc - jr)
                    let bPanel = UnsafePointer(p.bPack + jr * kc)
                    var ir = 0
                    while ir < mc {
                        let rows = min(mr, mc - ir)
                        let aPanel = UnsafePointer(p.aPack + ir * kc)
                        let cTile = p.c + (ic + ir) * n + jc + jr
                        if rows == mr && cols == nr {
                            K.compute(kc, aPanel, bPanel, cTile, n, accumulate)
                        } else {
                            K.compute(kc, aPanel, bPanel, p.tile, nr, false)
                            for i in 0..<rows {
                                let src = p.tile + i * nr, dst = cTile + i * n
                                if accumulate {
                                    for j in 0..<cols { dst[j] += src[j] }
                                } else {
                                    for j in 0..<cols { dst[j] = src[j] }
                                }
                            }
                        }
                        if let epilogue, last {
                            // Last k block: the tile is final and still in L1.
                            if let te = tileEpilogue {
                                applyTileOps(te.ops(col: jc + jr), cTile, ld: n, rows: rows, cols: cols, lanes: K.Lanes.self)
                            }
                            epilogue(cTile, n, ic + ir, jc + jr, rows, cols)
                        }
                        ir += mr
                    }
                    jr += nr
                    if last, let te = blockEpilogue, jr - blockStart >= epilogueBlockColumns || jr >= nc {
                        // Columns blockStart..<jr of rows ic..<ic+mc are final: one pass over them.
                        let c0 = jc + blockStart
                        applyTileOps(te.ops(col: c0), p.c + ic * n + c0, ld: n, rows: mc,
                                     cols: min(jr, nc) - blockStart, lanes: K.Lanes.self)
                        blockStart = jr
                    }
                }
                ic += mc
            }
            pc += kc
        }
        jc += nc
    }
}

/// Columns per block of `gemmBlocked`'s block epilogue (a multiple of every NR).
///
/// The bias and GELU of a `GEMMTileEpilogue` run as one pass over MC rows × this many finished
/// columns (at most 252 × 256 floats, 252 KiB, in L2), right after the block's last micro-panel.
/// Inside each micro-kernel call they cost more. The likely reason: a 6×16 tile is only 12
/// vectors, so the GELU's long dependency chain (a polynomial and a division per vector) is
/// exposed at every tile boundary, while a pass over a block is bound by throughput. Measured
/// on Zen 4 at 64×3072×768 with `applyTileOps`' branch-free loops (docs/results.md, issue 18):
/// fused/GEMM 1.041 → 1.026 on AVX2 and 1.023 → 1.013 on AVX-512 (medians of 20-round runs);
/// per 16 or 64 columns no gain, one pass over the whole of C about as good as 256 columns.
let epilogueBlockColumns = 256

/// Packs A[0..<mc, 0..<kc] (row stride `lda`) into mr-tall panels: panel r holds, for each p,
/// the mr values A[r·mr + i, p] contiguously; rows past `mc` are zero. A transpose, done in registers
/// by `fb_pack_a_panels` (CKernels/packa.c): element by element it cost ~6% of a 512³ GEMM.
@inline(__always)
func packA<K: MicroKernel>(_: K.Type, mc: Int, kc: Int, src: UnsafePointer<Float>, lda: Int,
                           dst: UnsafeMutablePointer<Float>) {
    fb_pack_a_panels(src, Int64(lda), Int64(mc), Int64(kc), Int64(K.mr), dst)
}

/// Packs B[0..<kc, 0..<nc] (row stride `ldb`) into nr-wide panels: panel q holds, for each p,
/// the nr values B[p, q·nr + j] contiguously; columns past `nc` are zero. Row by row: each row of B
/// is read front to back once, which the hardware prefetcher follows (panel by panel, the reads
/// stride by `ldb` and each one waited on L3).
@inline(__always)
func packB<K: MicroKernel>(_: K.Type, kc: Int, nc: Int, src: UnsafePointer<Float>, ldb: Int,
                           dst: UnsafeMutablePointer<Float>) {
    let nr = K.nr
    let full = nc / nr, cols = nc - full * nr
    let panel = nr * kc
    for p in 0..<kc {
        let row = src + p * ldb
        let out = dst + p * nr
        for q in 0..<full {
            (out + q * panel).update(from: row + q * nr, count: nr)
        }
        if cols > 0 {
            let o = out + full * panel
            o.update(from: row + full * nr, count: cols)
            (o + cols).update(repeating: 0, count: nr - cols)
        }
    }
}

/// C row segment update for the micro-kernels: `r[offset..]` = (accumulate ? r[offset..] : 0) + v.
@inline(__always)
func store<V: SIMD & BitwiseCopyable>(_ r: UnsafeMutableRawPointer, _ offset: Int, _ v: V, _ accumulate: Bool)
where V.Scalar == Float {
    if accumulate {
        r.storeBytes(of: r.loadUnaligned(fromByteOffset: offset, as: V.self) + v, toByteOffset: offset, as: V.self)
    } else {
        r.storeBytes(of: v, toByteOffset: offset, as: V.self)
    }
}

// MARK: - Micro-kernels
//
// Written out register by register: Swift has no way to ask for "an array in registers", and
// LLVM keeps these named SIMD values in registers only when nothing forces them to memory.
// `addingProduct` is the fused multiply-add (`vfmadd231ps`); `a * b + c` would not be fused.
// The A element is broadcast (`vbroadcastss`) and used for one FMA per B vector.
// The three kernels are deliberately separate, not one generic: each tile (14×32 zmm, 6×16 ymm,
// 4×8 xmm) is sized so its accumulators fill that ISA's register file without spilling.

/// AVX-512 micro-kernel: C[14×32] (+)= Apanel[kc×14] · Bpanel[kc×32] with 28 zmm accumulators,
/// 2 zmm for the B row and 1 for the broadcast A element — 31 of the 32 zmm registers.
@inline(never)
func kernel14x32(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                 _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    var c0a = SIMD16<Float>(), c0b = SIMD16<Float>()
    var c1a = SIMD16<Float>(), c1b = SIMD16<Float>()
    var c2a = SIMD16<Float>(), c2b = SIMD16<Float>()
    var c3a = SIMD16<Float>(), c3b = SIMD16<Float>()
    var c4a = SIMD16<Float>(), c4b = SIMD16<Float>()
    var c5a = SIMD16<Float>(), c5b = SIMD16<Float>()
    var c6a = SIMD16<Float>(), c6b = SIMD16<Float>()
    var c7a = SIMD16<Float>(), c7b = SIMD16<Float>()
    var c8a = SIMD16<Float>(), c8b = SIMD16<Float>()
    var c9a = SIMD16<Float>(), c9b = SIMD16<Float>()
    var c10a = SIMD16<Float>(), c10b = SIMD16<Float>()
    var c11a = SIMD16<Float>(), c11b = SIMD16<Float>()
    var c12a = SIMD16<Float>(), c12b = SIMD16<Float>()
    var c13a = SIMD16<Float>(), c13b = SIMD16<Float>()
    var a = a, b = b
    for _ in 0..<kc {
        let b0 = UnsafeRawPointer(b).load(fromByteOffset: 0, as: SIMD16<Float>.self)
        let b1 = UnsafeRawPointer(b).load(fromByteOffset: 64, as: SIMD16<Float>.self)
        var ai = SIMD16<Float>(repeating: a[0])
        c0a = c0a.addingProduct(ai, b0); c0b = c0b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[1])
        c1a = c1a.addingProduct(ai, b0); c1b = c1b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[2])
        c2a = c2a.addingProduct(ai, b0); c2b = c2b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[3])
        c3a = c3a.addingProduct(ai, b0); c3b = c3b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[4])
        c4a = c4a.addingProduct(ai, b0); c4b = c4b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[5])
        c5a = c5a.addingProduct(ai, b0); c5b = c5b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[6])
        c6a = c6a.addingProduct(ai, b0); c6b = c6b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[7])
        c7a = c7a.addingProduct(ai, b0); c7b = c7b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[8])
        c8a = c8a.addingProduct(ai, b0); c8b = c8b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[9])
        c9a = c9a.addingProduct(ai, b0); c9b = c9b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[10])
        c10a = c10a.addingProduct(ai, b0); c10b = c10b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[11])
        c11a = c11a.addingProduct(ai, b0); c11b = c11b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[12])
        c12a = c12a.addingProduct(ai, b0); c12b = c12b.addingProduct(ai, b1)
        ai = SIMD16<Float>(repeating: a[13])
        c13a = c13a.addingProduct(ai, b0); c13b = c13b.addingProduct(ai, b1)
        a += 14
        b += 32
    }
    var r = UnsafeMutableRawPointer(c)
    let rowBytes = ldc * MemoryLayout<Float>.stride
    store(r, 0, c0a, accumulate); store(r, 64, c0b, accumulate)
    r += rowBytes
    store(r, 0, c1a, accumulate); store(r, 64, c1b, accumulate)
    r += rowBytes
    store(r, 0, c2a, accumulate); store(r, 64, c2b, accumulate)
    r += rowBytes
    store(r, 0, c3a, accumulate); store(r, 64, c3b, accumulate)
    r += rowBytes
    store(r, 0, c4a, accumulate); store(r, 64, c4b, accumulate)
    r += rowBytes
    store(r, 0, c5a, accumulate); store(r, 64, c5b, accumulate)
    r += rowBytes
    store(r, 0, c6a, accumulate); store(r, 64, c6b, accumulate)
    r += rowBytes
    store(r, 0, c7a, accumulate); store(r, 64, c7b, accumulate)
    r += rowBytes
    store(r, 0, c8a, accumulate); store(r, 64, c8b, accumulate)
    r += rowBytes
    store(r, 0, c9a, accumulate); store(r, 64, c9b, accumulate)
    r += rowBytes
    store(r, 0, c10a, accumulate); store(r, 64, c10b, accumulate)
    r += rowBytes
    store(r, 0, c11a, accumulate); store(r, 64, c11b, accumulate)
    r += rowBytes
    store(r, 0, c12a, accumulate); store(r, 64, c12b, accumulate)
    r += rowBytes
    store(r, 0, c13a, accumulate); store(r, 64, c13b, accumulate)
}

/// AVX2 micro-kernel: C[6×16] (+)= Apanel[kc×6] · Bpanel[kc×16] with 12 ymm accumulators,
/// 2 ymm for the B row and 1 for the broadcast A element — 15 of the 16 ymm registers.
@inline(never)
func kernel6x16(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    var c0a = SIMD8<Float>(), c0b = SIMD8<Float>()
    var c1a = SIMD8<Float>(), c1b = SIMD8<Float>()
    var c2a = SIMD8<Float>(), c2b = SIMD8<Float>()
    var c3a = SIMD8<Float>(), c3b = SIMD8<Float>()
    var c4a = SIMD8<Float>(), c4b = SIMD8<Float>()
    var c5a = SIMD8<Float>(), c5b = SIMD8<Float>()
    var a = a, b = b
    for _ in 0..<kc {
        let b0 = UnsafeRawPointer(b).load(fromByteOffset: 0, as: SIMD8<Float>.self)
        let b1 = UnsafeRawPointer(b).load(fromByteOffset: 32, as: SIMD8<Float>.self)
        var ai = SIMD8<Float>(repeating: a[0])
        c0a = c0a.addingProduct(ai, b0); c0b = c0b.addingProduct(ai, b1)
        ai = SIMD8<Float>(repeating: a[1])
        c1a = c1a.addingProduct(ai, b0); c1b = c1b.addingProduct(ai, b1)
        ai = SIMD8<Float>(repeating: a[2])
        c2a = c2a.addingProduct(ai, b0); c2b = c2b.addingProduct(ai, b1)
        ai = SIMD8<Float>(repeating: a[3])
        c3a = c3a.addingProduct(ai, b0); c3b = c3b.addingProduct(ai, b1)
        ai = SIMD8<Float>(repeating: a[4])
        c4a = c4a.addingProduct(ai, b0); c4b = c4b.addingProduct(ai, b1)
        ai = SIMD8<Float>(repeating: a[5])
        c5a = c5a.addingProduct(ai, b0); c5b = c5b.addingProduct(ai, b1)
        a += 6
        b += 16
    }
    var r = UnsafeMutableRawPointer(c)
    let rowBytes = ldc * MemoryLayout<Float>.stride
    store(r, 0, c0a, accumulate); store(r, 32, c0b, accumulate)
    r += rowBytes
    store(r, 0, c1a, accumulate); store(r, 32, c1b, accumulate)
    r += rowBytes
    store(r, 0, c2a, accumulate); store(r, 32, c2b, accumulate)
    r += rowBytes
    store(r, 0, c3a, accumulate); store(r, 32, c3b, accumulate)
    r += rowBytes
    store(r, 0, c4a, accumulate); store(r, 32, c4b, accumulate)
    r += rowBytes
    store(r, 0, c5a, accumulate); store(r, 32, c5b, accumulate)
}

/// SSE micro-kernel (no FMA): C[4×8] (+)= Apanel[kc×4] · Bpanel[kc×8] with 8 xmm accumulators.
/// Uses a separate multiply and add: without hardware FMA, `addingProduct` would be a libm call per lane.
@inline(never)
func kernel4x8(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
               _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    var c0a = SIMD4<Float>(), c0b = SIMD4<Float>()
    var c1a = SIMD4<Float>(), c1b = SIMD4<Float>()
    var c2a = SIMD4<Float>(), c2b = SIMD4<Float>()
    var c3a = SIMD4<Float>(), c3b = SIMD4<Float>()
    var a = a, b = b
    for _ in 0..<kc {
        let b0 = UnsafeRawPointer(b).load(fromByteOffset: 0, as: SIMD4<Float>.self)
        let b1 = UnsafeRawPointer(b).load(fromByteOffset: 16, as: SIMD4<Float>.self)
        var ai = SIMD4<Float>(repeating: a[0])
        c0a += ai * b0; c0b += ai * b1
        ai = SIMD4<Float>(repeating: a[1])
        c1a += ai * b0; c1b += ai * b1
        ai = SIMD4<Float>(repeating: a[2])
        c2a += ai * b0; c2b += ai * b1
        ai = SIMD4<Float>(repeating: a[3])
        c3a += ai * b0; c3b += ai * b1
        a += 4
        b += 8
    }
    var r = UnsafeMutableRawPointer(c)
    let rowBytes = ldc * MemoryLayout<Float>.stride
    store(r, 0, c0a, accumulate); store(r, 16, c0b, accumulate)
    r += rowBytes
    store(r, 0, c1a, accumulate); store(r, 16, c1b, accumulate)
    r += rowBytes
    store(r, 0, c2a, accumulate); store(r, 16, c2b, accumulate)
    r += rowBytes
    store(r, 0, c3a, accumulate); store(r, 16, c3b, accumulate)
}
