// MyKernels: this package's own kernels, in plain Swift, and their fusebench definitions.
//
// - `my_sgemm`: C = A·B (row-major, A m×k, B k×n), two variants ("ikj" and "blocked"), verified
//   against fusebench's built-in `gemm` reference — same tensor layout, same reference code.
// - `scale_shift_relu`: out[r][c] = max(0, x[r][c]·scale[c] + shift[c]), a fused elementwise
//   kernel fusebench has no kind for, so it brings its own reference.
import FuseBench

/// The kernel kinds of this package, as handed to `FuseBenchCLI.main(kernels:)`.
public enum MyKernels {
    /// Every kind this package defines.
    public static func all() throws -> [KernelDefinition] {
        [try sgemm(), scaleShiftReLU()]
    }

    /// `my_sgemm`, checked against fusebench's `gemm` reference (inputs A[m·k], B[k·n], output C[m·n]).
    public static func sgemm() throws -> KernelDefinition {
        try KernelDefinition(
            kind: "my_sgemm", summary: "this package's SGEMM (ikj loop, cache-blocked SIMD) vs fusebench's reference GEMM",
            verifiedAgainst: "gemm",
            variants: [
                KernelVariant("ikj") { b in
                    sgemmIKJ(m: b.shape["m"] ?? 0, n: b.shape["n"] ?? 0, k: b.shape["k"] ?? 0,
                             a: b.input(0, as: Float.self), b: b.input(1, as: Float.self), c: b.output(as: Float.self))
                },
                KernelVariant("blocked") { b in
                    sgemmBlocked(m: b.shape["m"] ?? 0, n: b.shape["n"] ?? 0, k: b.shape["k"] ?? 0,
                                 a: b.input(0, as: Float.self), b: b.input(1, as: Float.self), c: b.output(as: Float.self))
                },
            ])
    }

    /// `scale_shift_relu` with its own scalar reference and a SIMD variant.
    public static func scaleShiftReLU() -> KernelDefinition {
        KernelDefinition(
            kind: "scale_shift_relu", summary: "fused max(0, x·scale[col] + shift[col]) over rows × cols",
            shapeKeys: ["rows", "cols"],
            layout: { shape in
                let (rows, cols) = try rowsCols(shape)
                return TensorLayout(inputs: [TensorSpec("x", count: rows * cols),
                                             TensorSpec("scale", count: cols, fill: .uniform(0.5, 1.5)),
                                             TensorSpec("shift", count: cols)],
                                    output: TensorSpec("out", count: rows * cols, fill: .zeros))
            },
            flops: { shape in 3 * Double(shape["rows"] ?? 0) * Double(shape["cols"] ?? 0) },
            bytes: nil,
            reference: .variant(KernelVariant("reference") { b in
                scaleShiftReLUScalar(rows: b.shape["rows"] ?? 0, cols: b.shape["cols"] ?? 0, x: b.input(0, as: Float.self), scale: b.input(1, as: Float.self),
                                     shift: b.input(2, as: Float.self), out: b.output(as: Float.self))
            }),
            variants: [
                KernelVariant("simd") { b in
                    scaleShiftReLUSIMD(rows: b.shape["rows"] ?? 0, cols: b.shape["cols"] ?? 0, x: b.input(0, as: Float.self), scale: b.input(1, as: Float.self),
                                       shift: b.input(2, as: Float.self), out: b.output(as: Float.self))
                },
            ],
            // Same operations in the same order per element (no reassociation): only the last
            // bit may differ if the compiler fuses the multiply-add.
            tolerance: { _ in Tolerance(abs: 1e-6, rel: 1e-5) })
    }

    /// The positive `rows` and `cols` of a shape; a missing or non-positive one is refused with the
    /// key at fault, which fusebench reports at the suite file's line.
    static func rowsCols(_ shape: Shape) throws -> (Int, Int) {
        var dims: [Int] = []
        for key in ["rows", "cols"] {
            guard let v = shape[key], v > 0 else {
                throw KernelSpecError(key: "shape.\(key)", "scale_shift_relu: shape.\(key) must be a positive integer")
            }
            dims.append(v)
        }
        guard dims[0] <= (1 << 28) / dims[1] else {
            throw KernelSpecError(key: "shape.rows", "scale_shift_relu: rows × cols must be at most 2^28 elements")
        }
        return (dims[0], dims[1])
    }
}

// MARK: - SGEMM

/// C = A·B, the textbook i-k-j loop (streams rows of B and C; the compiler vectorises the inner loop).
func sgemmIKJ(m: Int, n: Int, k: Int, a: UnsafeBufferPointer<Float>, b: UnsafeBufferPointer<Float>, c: UnsafeMutableBufferPointer<Float>) {
    guard let pa = a.baseAddress, let pb = b.baseAddress, let pc = c.baseAddress else { return }
    for i in 0..<m {
        let crow = pc + i * n
        crow.update(repeating: 0, count: n)
        for p in 0..<k {
            let aip = pa[i * k + p]
            let brow = pb + p * n
            for j in 0..<n { crow[j] += aip * brow[j] }
        }
    }
}

/// C = A·B in tiles: k in blocks of `kc` and columns in blocks of `nc` so the block of B in use
/// stays in L2, four rows of C at a time with 8-wide SIMD accumulation (tails handled scalar).
func sgemmBlocked(m: Int, n: Int, k: Int, a: UnsafeBufferPointer<Float>, b: UnsafeBufferPointer<Float>, c: UnsafeMutableBufferPointer<Float>) {
    guard let pa = a.baseAddress, let pb = b.baseAddress, let pc = c.baseAddress else { return }
    let kc = 128, nc = 256
    pc.update(repeating: 0, count: m * n)
    for k0 in stride(from: 0, to: k, by: kc) {
        let k1 = min(k0 + kc, k)
        for j0 in stride(from: 0, to: n, by: nc) {
            let j1 = min(j0 + nc, n)
            var i = 0
            while i + 4 <= m {
                for p in k0..<k1 {
                    let brow = pb + p * n
                    let a0 = SIMD8<Float>(repeating: pa[i * k + p]), a1 = SIMD8<Float>(repeating: pa[(i + 1) * k + p])
                    let a2 = SIMD8<Float>(repeating: pa[(i + 2) * k + p]), a3 = SIMD8<Float>(repeating: pa[(i + 3) * k + p])
                    var j = j0
                    while j + 8 <= j1 {
                        let bv = load8(brow + j)
                        add8(pc + i * n + j, a0 * bv)
                        add8(pc + (i + 1) * n + j, a1 * bv)
                        add8(pc + (i + 2) * n + j, a2 * bv)
                        add8(pc + (i + 3) * n + j, a3 * bv)
                        j += 8
                    }
                    while j < j1 {
                        for r in 0..<4 { pc[(i + r) * n + j] += pa[(i + r) * k + p] * brow[j] }
                        j += 1
                    }
                }
                i += 4
            }
            while i < m {
                for p in k0..<k1 {
                    let aip = pa[i * k + p]
                    let brow = pb + p * n
                    for j in j0..<j1 { pc[i * n + j] += aip * brow[j] }
                }
                i += 1
            }
        }
    }
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) func add8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: load8(p) + v, as: SIMD8<Float>.self)
}

// MARK: - scale_shift_relu

/// The reference: one element at a time.
func scaleShiftReLUScalar(rows: Int, cols: Int, x: UnsafeBufferPointer<Float>, scale: UnsafeBufferPointer<Float>,
                          shift: UnsafeBufferPointer<Float>, out: UnsafeMutableBufferPointer<Float>) {
    for r in 0..<rows {
        for c in 0..<cols { out[r * cols + c] = max(0, x[r * cols + c] * scale[c] + shift[c]) }
    }
}

/// 8 columns at a time per row, scalar tail.
func scaleShiftReLUSIMD(rows: Int, cols: Int, x: UnsafeBufferPointer<Float>, scale: UnsafeBufferPointer<Float>,
                        shift: UnsafeBufferPointer<Float>, out: UnsafeMutableBufferPointer<Float>) {
    guard let px = x.baseAddress, let ps = scale.baseAddress, let pb = shift.baseAddress,
          let po = out.baseAddress else { return }
    let zero = SIMD8<Float>(repeating: 0)
    for r in 0..<rows {
        let xr = px + r * cols, or = po + r * cols
        var c = 0
        while c + 8 <= cols {
            let v = load8(xr + c) * load8(ps + c) + load8(pb + c)
            UnsafeMutableRawPointer(or + c).storeBytes(of: v.replacing(with: zero, where: v .< zero), as: SIMD8<Float>.self)
            c += 8
        }
        while c < cols {
            or[c] = max(0, xr[c] * ps[c] + pb[c])
            c += 1
        }
    }
}
