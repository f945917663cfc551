// Guarded, seeded buffers for user kernels. Each tensor gets its own mapping: a PROT_NONE guard
// page, the data pages, a PROT_NONE guard page. The tensor starts 64-byte aligned and ends at most
// 63 bytes before the trailing guard page; the slack bytes around it hold a canary. A write past
// the end therefore either faults on the guard page (reported by CPerfEvent's handler, naming the
// buffer) or damages the canary (reported as a failed verification). Inputs are filled from the
// op's seed and then mapped read-only.
import CPerfEvent
import Foundation
import Kernels

/// One tensor in its own guarded mapping. Not thread-safe; freed (unmapped) in `deinit`.
final class GuardedBuffer {
    /// The tensor's bytes (64-byte aligned start).
    let base: UnsafeMutableRawPointer
    /// Bytes of the tensor.
    let byteCount: Int
    private let mapping: UnsafeMutableRawPointer
    private let mapLength: Int
    private let page: Int
    /// Start of the data pages (after the leading guard page).
    private let dataPages: UnsafeMutableRawPointer
    private let dataPagesLength: Int
    private let label: String
    private var slot: Int32 = -1

    /// Maps a guarded buffer of `byteCount` bytes (≥ 1), zero-filled with canaries in the slack.
    /// `label` names it in guard-page reports (`output 'C' of gemm/blocked`). Throws
    /// `KernelSpecError` when the memory cannot be mapped.
    init(byteCount: Int, label: String) throws {
        let page = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
        let padded = (byteCount + 63) / 64 * 64
        let pages = (padded + page - 1) / page * page
        let length = pages + 2 * page
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else {
            throw KernelSpecError(key: "shape", "cannot map \(length) bytes for \(label): \(String(cString: strerror(errno)))")
        }
        mapping = p
        mapLength = length
        self.page = page
        self.byteCount = byteCount
        self.label = label
        dataPages = p + page
        dataPagesLength = pages
        base = p + page + pages - padded
        guard mprotect(p, page, PROT_NONE) == 0, mprotect(p + page + pages, page, PROT_NONE) == 0 else {
            let message = String(cString: strerror(errno))
            munmap(p, length)
            throw KernelSpecError(key: "shape", "cannot protect the guard pages of \(label): \(message)")
        }
        writeCanaries()
        _ = fb_guard_install()
        slot = Int32(fb_guard_register(UInt(bitPattern: p), UInt(bitPattern: p + length), UInt(page),
                                       UInt(bitPattern: base), UInt(byteCount), 0, label))
    }

    deinit {
        fb_guard_unregister(slot)
        munmap(mapping, mapLength)
    }

    /// The tensor as a mutable raw buffer.
    var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: byteCount) }

    /// Maps the data pages read-only (inputs, after filling): a write anywhere in them faults and
    /// is reported as a write to a read-only input.
    func makeReadOnly() throws {
        guard mprotect(dataPages, dataPagesLength, PROT_READ) == 0 else {
            throw KernelSpecError(key: "shape", "cannot map \(label) read-only: \(String(cString: strerror(errno)))")
        }
        fb_guard_unregister(slot)
        slot = Int32(fb_guard_register(UInt(bitPattern: mapping), UInt(bitPattern: mapping + mapLength), UInt(page),
                                       UInt(bitPattern: base), UInt(byteCount), 1, label))
    }

    /// Canary byte `i` bytes away from the tensor (position-dependent, so a kernel copying a
    /// constant or a shifted block past the end still changes it).
    private static func canary(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: (i &* 151) ^ 0xA5) }

    private var slackBefore: Int { base - dataPages }
    private var slackAfter: Int { dataPages + dataPagesLength - (base + byteCount) }

    /// Writes the canaries into the slack before and after the tensor (writable buffers only).
    func writeCanaries() {
        let before = slackBefore, after = slackAfter
        for i in 0..<before { (base - 1 - i).storeBytes(of: Self.canary(i), as: UInt8.self) }
        let end = base + byteCount
        for i in 0..<after { (end + i).storeBytes(of: Self.canary(i), as: UInt8.self) }
    }

    /// How far out-of-bounds writes reached: bytes past the end up to the farthest damaged canary
    /// byte, and likewise before the start (0 when intact).
    func canaryDamage() -> (before: Int, after: Int) {
        var before = 0, after = 0
        for i in 0..<slackBefore where (base - 1 - i).load(as: UInt8.self) != Self.canary(i) { before = i + 1 }
        let end = base + byteCount
        for i in 0..<slackAfter where (end + i).load(as: UInt8.self) != Self.canary(i) { after = i + 1 }
        return (before, after)
    }
}

/// Fills inputs from a seed, in layout order from one `SeededGenerator` sequence (see `Fill`).
enum SeededFill {
    /// Fills `buffer` (holding `spec.count` elements of `spec.type`) per `spec.fill`.
    static func fill(_ buffer: UnsafeMutableRawBufferPointer, _ spec: TensorSpec, _ g: inout SeededGenerator) {
        guard let base = buffer.baseAddress else { return }
        let n = spec.count
        switch spec.fill {
        case .zeros:
            base.initializeMemory(as: UInt8.self, repeating: 0, count: buffer.count)
        case .uniform(let lo, let hi):
            let f = base.assumingMemoryBound(to: Float.self)
            let mid = (lo + hi) / 2, half = (hi - lo) / 2
            for i in 0..<n { f[i] = mid + half * g.nextUnitFloat() }
        case .rows(let cols, let spread, let offset):
            let f = base.assumingMemoryBound(to: Float.self)
            for r in 0..<(n / max(cols, 1)) {
                let rowOffset = offset * g.nextUnitFloat()
                for c in 0..<cols { f[r * cols + c] = spread * g.nextUnitFloat() + rowOffset }
            }
        case .integers(let lo, let hi):
            let span = UInt64(hi - lo) &+ 1  // validated: hi ≥ lo, both within the type
            func draw() -> Int { lo + Int(span == 0 ? g.next() : g.next() % span) }
            switch spec.type {
            case .f32:
                let p = base.assumingMemoryBound(to: Float.self)
                for i in 0..<n { p[i] = Float(draw()) }
            case .i32:
                let p = base.assumingMemoryBound(to: Int32.self)
                for i in 0..<n { p[i] = Int32(truncatingIfNeeded: draw()) }
            case .i8:
                let p = base.assumingMemoryBound(to: Int8.self)
                for i in 0..<n { p[i] = Int8(truncatingIfNeeded: draw()) }
            case .u8:
                let p = base.assumingMemoryBound(to: UInt8.self)
                for i in 0..<n { p[i] = UInt8(truncatingIfNeeded: draw()) }
            }
        }
    }
}
