// Internal helpers shared by the kernels: aligned buffers and common shape checks.

/// Cache-line (and zmm) alignment for every buffer a kernel owns.
let bufferAlignment = 64

/// Allocates `count` Floats (at least one) aligned to 64 bytes, zero-filled. Free with `freeFloats`.
/// The one aligned allocator of the kernels and the op families built on them.
public func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    let n = max(1, count)
    let raw = UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<Float>.stride, alignment: bufferAlignment)
    let p = raw.bindMemory(to: Float.self, capacity: n)
    p.initialize(repeating: 0, count: n)
    return p
}

/// Frees a buffer from `allocateFloats`.
public func freeFloats(_ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).deallocate()
}

/// Largest element count of any single buffer a built-in kernel accepts (1 Gi floats = 4 GiB).
let maxElements = 1 << 30

extension KernelFactory {
    /// Throws unless `dtype` is one of `dtypes`.
    func requireDType(_ dtype: String) throws {
        guard dtypes.contains(dtype) else {
            throw KernelSpecError(key: "dtype", "\(kind): dtype '\(dtype)' is not supported (supported: \(dtypes.joined(separator: ", ")))")
        }
    }

    /// Throws for a shape key this kind does not know (a typo would otherwise be ignored).
    func rejectUnknownKeys(_ shape: Shape) throws {
        for key in shape.keys.sorted() where !shapeKeys.contains(key) {
            throw KernelSpecError(key: "shape.\(key)", "\(kind): unknown shape key '\(key)' (expected \(shapeKeys.joined(separator: ", ")))")
        }
    }

    /// Throws when `rows × cols` overflows or exceeds `maxElements`; `what` names the buffer.
    func requireElements(_ rows: Int, _ cols: Int, _ what: String) throws {
        let (p, overflow) = rows.multipliedReportingOverflow(by: cols)
        guard !overflow, p <= maxElements else {
            throw KernelSpecError(key: "shape", "\(kind): \(what) would have \(rows)×\(cols) elements, more than the limit of \(maxElements)")
        }
    }

    /// Throws unless `variant` is one of `variants`.
    func requireVariant(_ variant: String) throws {
        guard variants.contains(variant) else {
            throw KernelSpecError(key: "variants", "\(kind): unknown variant '\(variant)' (available: \(variants.joined(separator: ", ")))")
        }
    }
}

extension SeededGenerator {
    /// Allocates `count` Floats (see `allocateFloats`) and fills them with the generator's next
    /// `count` values. Free with `freeFloats`.
    mutating func filledFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = allocateFloats(count)
        fill(UnsafeMutableBufferPointer(start: p, count: count))
        return p
    }
}

extension KernelFactory {
    /// The body of a factory's `validate`: `dimensions` (shape keys and element limits), then the dtype.
    func validate<D>(_ shape: Shape, _ dtype: String, _ dimensions: (Shape) throws -> D) throws {
        _ = try dimensions(shape)
        try requireDType(dtype)
    }

    /// The checks at the top of a factory's `make`: `validate`, then the variant; returns `dimensions(shape)`.
    func checkedDimensions<D>(variant: String, shape: Shape, dtype: String,
                              _ dimensions: (Shape) throws -> D) throws -> D {
        try validate(shape: shape, dtype: dtype)
        try requireVariant(variant)
        return try dimensions(shape)
    }

    /// Positive `rows` and `cols`, no other key, and rows×cols within the element limit.
    func rowsColsDimensions(_ shape: Shape) throws -> (Int, Int) {
        let rows = try dimension(shape, "rows"), cols = try dimension(shape, "cols")
        try rejectUnknownKeys(shape)
        try requireElements(rows, cols, "x (rows×cols)")
        return (rows, cols)
    }
}
