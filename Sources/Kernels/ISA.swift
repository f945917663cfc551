// ISA detection for the kernels: which instruction-set extensions this build of fusebench was
// compiled for (`fb_isa_built`, the same `-march` / `-target-cpu` as the Kernels module) and which
// the running CPU has (`fb_isa_host`, cpuid). A binary built for AVX-512 dies with SIGILL on an
// AVX2-only CPU, so `ISA.check()` must run — and refuse — before any kernel executes.
//
// Keep this file plain integer code: the Kernels module is compiled for the build machine's CPU,
// and the check itself must not execute the instructions it is about to refuse. Integer bit
// operations on `UInt32` compile to general-purpose register code on every x86-64 target; the
// error message is only built once a mismatch was found and the process is about to stop.
// Checked with `objdump -d` of an AVX-512 release build: `check`, `missing` and `kernelPath`
// contain no vector instructions. (The `OptionSet` conformance's `init(arrayLiteral:)` and
// `symmetricDifference` witnesses are vectorized; nothing on the check path calls them, so
// combinations below are spelled as raw-value ORs.) `fb_isa_host()` (cpuid) lives in the C shim
// CPerfEvent, which is compiled for baseline x86-64; `fb_isa_built()` lives in CKernels, compiled
// with the kernels' target CPU so that it reports what the kernels were built for.
import BenchModel
import CKernels
import CPerfEvent

/// A set of x86 instruction-set extensions, bit-compatible with the C shim's `FB_ISA_*` values.
public struct ISAFeatures: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The `FB_ISA_*` bit set.
    public let rawValue: UInt32
    /// Wraps a `FB_ISA_*` bit set.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// SSE4.2 (`FB_ISA_SSE42`).
    public static let sse42 = ISAFeatures(rawValue: 1 << 0)
    /// AVX (`FB_ISA_AVX`).
    public static let avx = ISAFeatures(rawValue: 1 << 1)
    /// AVX2 (`FB_ISA_AVX2`).
    public static let avx2 = ISAFeatures(rawValue: 1 << 2)
    /// FMA3 (`FB_ISA_FMA`).
    public static let fma = ISAFeatures(rawValue: 1 << 3)
    /// F16C half-precision conversions (`FB_ISA_F16C`).
    public static let f16c = ISAFeatures(rawValue: 1 << 4)
    /// AVX-512 Foundation (`FB_ISA_AVX512F`).
    public static let avx512f = ISAFeatures(rawValue: 1 << 5)
    /// AVX-512 byte/word (`FB_ISA_AVX512BW`).
    public static let avx512bw = ISAFeatures(rawValue: 1 << 6)
    /// AVX-512 vector length extensions (`FB_ISA_AVX512VL`).
    public static let avx512vl = ISAFeatures(rawValue: 1 << 7)
    /// AVX-512 VNNI int8 dot products (`FB_ISA_AVX512VNNI`).
    public static let avx512vnni = ISAFeatures(rawValue: 1 << 8)
    /// AVX-512 BF16 (`FB_ISA_AVX512BF16`).
    public static let avx512bf16 = ISAFeatures(rawValue: 1 << 9)
    /// VEX-encoded AVX-VNNI (`FB_ISA_AVXVNNI`).
    public static let avxvnni = ISAFeatures(rawValue: 1 << 10)
    /// AVX-512 doubleword/quadword (`FB_ISA_AVX512DQ`).
    public static let avx512dq = ISAFeatures(rawValue: 1 << 11)

    // Combinations are raw-value ORs, not array literals (see the file header).

    /// AVX2 together with FMA: what the `avx2` kernel path needs.
    public static let avx2FMA = ISAFeatures(rawValue: avx2.rawValue | fma.rawValue)
    /// The features of the x86-64-v3 level that fusebench tracks (AVX, AVX2, FMA, F16C).
    public static let x86_64_v3 = ISAFeatures(rawValue: avx.rawValue | avx2.rawValue | fma.rawValue | f16c.rawValue)
    /// The features of the x86-64-v4 level that fusebench tracks (v3 plus AVX-512 F/BW/VL/DQ).
    public static let x86_64_v4 = ISAFeatures(rawValue: x86_64_v3.rawValue | avx512f.rawValue | avx512bw.rawValue
        | avx512vl.rawValue | avx512dq.rawValue)

    /// Every known feature with its lower-case name, in bit order.
    public static let named: [(feature: ISAFeatures, name: String)] = [
        (.sse42, "sse4.2"), (.avx, "avx"), (.avx2, "avx2"), (.fma, "fma"), (.f16c, "f16c"),
        (.avx512f, "avx512f"), (.avx512bw, "avx512bw"), (.avx512vl, "avx512vl"),
        (.avx512vnni, "avx512vnni"), (.avx512bf16, "avx512bf16"), (.avxvnni, "avxvnni"),
        (.avx512dq, "avx512dq"),
    ]

    /// Names of the features in the set, in bit order (unknown bits are ignored).
    public var names: [String] {
        var result: [String] = []
        for entry in ISAFeatures.named where rawValue & entry.feature.rawValue != 0 {
            result.append(entry.name)
        }
        return result
    }

    /// Comma-separated feature names (`avx2, fma, avx512f`), or `none`.
    public var description: String {
        let n = names
        return n.isEmpty ? "none" : n.joined(separator: ", ")
    }
}

/// The binary needs instructions the CPU does not have; running a kernel would die with SIGILL.
public struct ISAMismatchError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Features the build uses that the CPU lacks (never empty).
    public var missing: ISAFeatures
    /// Features the build was compiled for.
    public var built: ISAFeatures
    /// Features the CPU supports.
    public var host: ISAFeatures

    /// Creates the error; `missing` is normally `ISA.missing(built:host:)`.
    public init(missing: ISAFeatures, built: ISAFeatures, host: ISAFeatures) {
        self.missing = missing
        self.built = built
        self.host = host
    }

    /// A `FUSEBENCH_TARGET_CPU` value this CPU can run: an LLVM CPU name that Swift 6.3's
    /// `-target-cpu` accepts (it rejects the `x86-64-vN` level names), chosen as the oldest CPU
    /// with the same feature level: skylake-avx512 (v4), haswell (v3), nehalem (v2), x86-64.
    public var suggestedTargetCPU: String {
        if host.isSuperset(of: .x86_64_v4) { return "skylake-avx512" }
        if host.isSuperset(of: .x86_64_v3) { return "haswell" }
        if host.contains(.sse42) { return "nehalem" }
        return "x86-64"
    }

    /// One-line message for the CLI.
    public var description: String {
        let pronoun = missing.names.count == 1 ? "it" : "them"
        return "this fusebench was built for \(missing) but this CPU lacks \(pronoun); rebuild on this machine "
            + "(swift build -c release) or set FUSEBENCH_TARGET_CPU=\(suggestedTargetCPU) (see README)"
    }
}

/// Instruction-set features of this build and of the running CPU, and the kernel code path they select.
public enum ISA {
    /// Features the Kernels module (and the C kernels, compiled with the same target CPU) may use.
    public static var built: ISAFeatures { ISAFeatures(rawValue: fb_isa_built()) }

    /// Features the running CPU supports (cpuid).
    public static var host: ISAFeatures { ISAFeatures(rawValue: fb_isa_host()) }

    /// Features used by the build that the host lacks — the pure core of `check()`.
    public static func missing(built: ISAFeatures, host: ISAFeatures) -> ISAFeatures {
        built.subtracting(host)
    }

    /// Throws `ISAMismatchError` when the running CPU lacks features this build uses.
    ///
    /// Call before running any kernel: afterwards, executing kernel code is safe.
    public static func check() throws {
        try check(built: built, host: host)
    }

    /// `check()` with injected feature sets (for tests and for recorded fingerprints).
    public static func check(built: ISAFeatures, host: ISAFeatures) throws {
        let m = missing(built: built, host: host)
        if !m.isEmpty { throw ISAMismatchError(missing: m, built: built, host: host) }
    }

    /// The optimized code path for the given feature sets: `avx512`, `avx2` or `sse`.
    ///
    /// A path is chosen only when the build *and* the CPU have its features: code for AVX-512
    /// registers is not even generated when the build lacks AVX-512, and must not run when the
    /// CPU lacks it.
    public static func kernelPath(built: ISAFeatures, host: ISAFeatures) -> KernelPath {
        let usable = built.intersection(host)
        if usable.contains(.avx512f) { return .avx512 }
        if usable.isSuperset(of: .avx2FMA) { return .avx2 }
        return .sse
    }

    /// The optimized code path that runs on this machine with this build: `avx512`, `avx2` or `sse`.
    public static var kernelPath: KernelPath { kernelPath(built: built, host: host) }
}
