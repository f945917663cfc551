// Elementwise binary ops with numpy broadcasting: `add_broadcast` (y = a + b) and
// `mul_broadcast` (y = a · b) over a rows×cols row-major `a`.
//
// Shape keys: `rows`, `cols`, and `bcast` (suite shape values are integers) selecting b's shape:
//
//   bcast = 0  "none"    b is [rows, cols]   (same shape)
//   bcast = 1  "row"     b is [1, cols]      (one row, broadcast down the rows — a bias vector)
//   bcast = 2  "col"     b is [rows, 1]      (one column, broadcast across each row — a per-row scale)
//   bcast = 3  "scalar"  b is [1, 1]
//
// exactly as numpy broadcasts `a + b` for those shapes. `bcast` defaults to 0.
//
// `reference` indexes b through numpy-style broadcast strides (stride 0 along a broadcast axis);
// `optimized` has one SIMD loop per case. Both perform the same single IEEE operation per element,
// so their outputs are bit-identical.
import BenchModel

/// How b is broadcast against a in `add_broadcast` / `mul_broadcast` (the `bcast` shape key).
public enum BroadcastMode: Int, CaseIterable, Sendable {
    /// b has a's shape [rows, cols].
    case none = 0
    /// b is [1, cols].
    case row = 1
    /// b is [rows, 1].
    case col = 2
    /// b is [1, 1].
    case scalar = 3

    /// b's (rows, cols) for a rows×cols `a`.
    public func bShape(rows: Int, cols: Int) -> (rows: Int, cols: Int) {
        switch self {
        case .none: (rows, cols)
        case .row: (1, cols)
        case .col: (rows, 1)
        case .scalar: (1, 1)
        }
    }
}

/// The operation of a `BroadcastFactory`.
public enum BinaryOp: String, CaseIterable, Sendable {
    /// y = a + b.
    case add
    /// y = a · b.
    case mul

    /// The op on two scalars.
    @inline(__always)
    func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: a + b
        case .mul: a * b
        }
    }

    /// The op on two vectors.
    @inline(__always)
    func apply<V: FloatVector>(_ a: V, _ b: V) -> V {
        switch self {
        case .add: a + b
        case .mul: a * b
        }
    }
}

/// `add_broadcast` / `mul_broadcast`: y = a ∘ b with numpy broadcasting of b. Shape keys `rows`, `cols`, `bcast`.
public struct BroadcastFactory: KernelFactory {
    /// The binary operation.
    public let op: BinaryOp
    /// Creates the factory for `op`.
    public init(_ op: BinaryOp) { self.op = op }
    /// `add_broadcast` or `mul_broadcast`.
    public var kind: String { "\(op.rawValue)_broadcast" }
    /// One-line description.
    public var summary: String {
        "y = a \(op == .add ? "+" : "·") b, a rows×cols, b broadcast (bcast 0 none, 1 row [1,cols], 2 col [rows,1], 3 scalar)"
    }
    /// `rows`, `cols`, `bcast`.
    public var shapeKeys: [String] { ["rows", "cols", "bcast"] }
    /// `reference` (broadcast strides) and `optimized` (one SIMD loop per broadcast case).
    public var variants: [String] { ["reference", "optimized"] }
    /// `f32`.
    public var dtypes: [String] { ["f32"] }

    /// Checks dtype, that `rows` and `cols` are positive, that `bcast` (optional) is 0…3, and that no other key is present.
    public func validate(shape: Shape, dtype: String) throws {
        try validate(shape, dtype, parse)
    }

    /// rows·cols (one operation per output element).
    public func flops(shape: Shape) -> Double { Double(shape["rows"] ?? 0) * Double(shape["cols"] ?? 0) }

    /// 4·(2·rows·cols + |b|): a read and y written once, b read once.
    public func bytes(shape: Shape, dtype: String) -> Double {
        let r = shape["rows"] ?? 0, c = shape["cols"] ?? 0
        let mode = BroadcastMode(rawValue: shape["bcast"] ?? 0) ?? .none
        let b = mode.bShape(rows: r, cols: c)
        return 4 * (2 * Double(r) * Double(c) + Double(b.rows) * Double(b.cols))
    }

    /// `abs 0, rel 1e-7, cosine 0.999999`: both variants do the same single IEEE operation per
    /// element, so outputs are bit-identical; the band leaves one ulp for a variant that rounds
    /// differently. Broadcasting along the wrong axis or an off-by-one b index is an O(1) error.
    public func defaultTolerance(shape: Shape, dtype: String) -> Tolerance {
        Tolerance(abs: 0, rel: 1e-7, minCosine: 0.999999)
    }

    /// A `BroadcastInstance` for `variant` with a then b drawn from one `SeededGenerator(seed:)` sequence.
    public func make(variant: String, shape: Shape, dtype: String, seed: UInt64) throws -> KernelInstance {
        let (rows, cols, mode) = try checkedDimensions(variant: variant, shape: shape, dtype: dtype, parse)
        return BroadcastInstance(op: op, rows: rows, cols: cols, mode: mode, seed: seed,
                                 path: variant == "optimized" ? .current : nil)
    }

    private func parse(_ shape: Shape) throws -> (Int, Int, BroadcastMode) {
        let rows = try dimension(shape, "rows"), cols = try dimension(shape, "cols")
        let raw = shape["bcast"] ?? 0
        guard let mode = BroadcastMode(rawValue: raw) else {
            throw KernelSpecError(key: "shape.bcast",
                                  "\(kind): shape.bcast must be 0 (none), 1 (row: b is [1, cols]), 2 (col: b is [rows, 1]) or 3 (scalar), got \(raw)")
        }
        try rejectUnknownKeys(shape)
        try requireElements(rows, cols, "a (rows×cols)")
        return (rows, cols, mode)
    }
}

/// One broadcast binary-op problem: owns a, b (in its broadcast shape) and y.
public final class BroadcastInstance: KernelInstance {
    /// The operation.
    public let op: BinaryOp
    /// Rows of a and y.
    public let rows: Int
    /// Columns of a and y.
    public let cols: Int
    /// How b is broadcast.
    public let mode: BroadcastMode
    /// SIMD path of the optimized variant; nil for the stride-indexed reference.
    public let path: GEMMKernelPath?
    private let a: UnsafeMutablePointer<Float>
    private let b: UnsafeMutablePointer<Float>
    private let y: UnsafeMutablePointer<Float>
    private let bCount: Int

    /// Creates the problem with a (rows×cols) then b (its broadcast shape) from `SeededGenerator(seed:)`.
    public init(op: BinaryOp, rows: Int, cols: Int, mode: BroadcastMode, seed: UInt64, path: GEMMKernelPath?) {
        precondition(rows > 0 && cols > 0, "broadcast dimensions must be positive")
        self.op = op
        self.rows = rows
        self.cols = cols
        self.mode = mode
        self.path = path
        let bs = mode.bShape(rows: rows, cols: cols)
        bCount = bs.rows * bs.cols
        var g = SeededGenerator(seed: seed)
        a = g.filledFloats(rows * cols)
        b = g.filledFloats(bCount)
        y = allocateFloats(rows * cols)
    }

    deinit {
        freeFloats(a)
        freeFloats(b)
        freeFloats(y)
    }

    /// a (rows×cols, row-major).
    public var inputA: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: a, count: rows * cols) }
    /// b in its broadcast shape (row-major).
    public var inputB: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: b, count: bCount) }

    /// Computes y once.
    public func run() {
        guard let path else {
            broadcastReference(op, rows, cols, mode, a, b, y)
            return
        }
        switch path {
        case .avx512: broadcastSIMD(SIMD16<Float>.self, op, rows, cols, mode, a, b, y)
        case .avx2: broadcastSIMD(SIMD8<Float>.self, op, rows, cols, mode, a, b, y)
        case .sse: broadcastSIMD(SIMD4<Float>.self, op, rows, cols, mode, a, b, y)
        }
    }

    /// y (rows×cols, row-major) from the last `run()`.
    public func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: y, count: rows * cols) }
}

/// numpy semantics by strides: b[r·rowStride + c·colStride], stride 0 along a broadcast (size-1) axis.
func broadcastReference(_ op: BinaryOp, _ rows: Int, _ cols: Int, _ mode: BroadcastMode, _ a: UnsafePointer<Float>,
                        _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    let bs = mode.bShape(rows: rows, cols: cols)
    let rowStride = bs.rows == 1 ? 0 : bs.cols
    let colStride = bs.cols == 1 ? 0 : 1
    for r in 0..<rows {
        for c in 0..<cols {
            y[r * cols + c] = op.apply(a[r * cols + c], b[r * rowStride + c * colStride])
        }
    }
}

/// One SIMD loop per broadcast case.
@inline(__always)
func broadcastSIMD<V: FloatVector>(_: V.Type, _ op: BinaryOp, _ rows: Int, _ cols: Int, _ mode: BroadcastMode,
                                   _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    switch (op, mode) {
    case (.add, .none): sameShape(V.self, .add, rows * cols, a, b, y)
    case (.mul, .none): sameShape(V.self, .mul, rows * cols, a, b, y)
    case (.add, .row): rowBroadcast(V.self, .add, rows, cols, a, b, y)
    case (.mul, .row): rowBroadcast(V.self, .mul, rows, cols, a, b, y)
    case (.add, .col): colBroadcast(V.self, .add, rows, cols, a, b, y)
    case (.mul, .col): colBroadcast(V.self, .mul, rows, cols, a, b, y)
    case (.add, .scalar): colBroadcast(V.self, .add, 1, rows * cols, a, b, y)
    case (.mul, .scalar): colBroadcast(V.self, .mul, 1, rows * cols, a, b, y)
    }
}

/// y[i] = a[i] ∘ b[i] over `n` elements.
@inline(__always)
func sameShape<V: FloatVector>(_: V.Type, _ op: BinaryOp, _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                               _ y: UnsafeMutablePointer<Float>) {
    let w = V.scalarCount
    var i = 0
    while i + 2 * w <= n {
        vstore(op.apply(vload(a, i) as V, vload(b, i) as V), y, i)
        vstore(op.apply(vload(a, i + w) as V, vload(b, i + w) as V), y, i + w)
        i += 2 * w
    }
    while i + w <= n {
        vstore(op.apply(vload(a, i) as V, vload(b, i) as V), y, i)
        i += w
    }
    while i < n {
        y[i] = op.apply(a[i], b[i])
        i += 1
    }
}

/// y[r, c] = a[r, c] ∘ b[c].
@inline(__always)
func rowBroadcast<V: FloatVector>(_: V.Type, _ op: BinaryOp, _ rows: Int, _ cols: Int, _ a: UnsafePointer<Float>,
                                  _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    let w = V.scalarCount
    for r in 0..<rows {
        let ar = a + r * cols, yr = y + r * cols
        var c = 0
        while c + w <= cols {
            vstore(op.apply(vload(ar, c) as V, vload(b, c) as V), yr, c)
            c += w
        }
        while c < cols {
            yr[c] = op.apply(ar[c], b[c])
            c += 1
        }
    }
}

/// y[r, c] = a[r, c] ∘ b[r] (with rows = 1 and b of one element: the scalar case).
@inline(__always)
func colBroadcast<V: FloatVector>(_: V.Type, _ op: BinaryOp, _ rows: Int, _ cols: Int, _ a: UnsafePointer<Float>,
                                  _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    let w = V.scalarCount
    for r in 0..<rows {
        let ar = a + r * cols, yr = y + r * cols
        let s = b[r], sv = V(repeating: s)
        var c = 0
        while c + 2 * w <= cols {
            vstore(op.apply(vload(ar, c) as V, sv), yr, c)
            vstore(op.apply(vload(ar, c + w) as V, sv), yr, c + w)
            c += 2 * w
        }
        while c + w <= cols {
            vstore(op.apply(vload(ar, c) as V, sv), yr, c)
            c += w
        }
        while c < cols {
            yr[c] = op.apply(ar[c], s)
            c += 1
        }
    }
}
