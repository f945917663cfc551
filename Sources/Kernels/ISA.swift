// ISA detection for the kernels: which instruction-set extensions this build of fusebench was
// compiled for (`fb_isa_built`, the same `-march` / `-target-cpu` as the Kernels module) and which
// the running CPU has (`fb_isa_host`, cpuid). A binary built for AVX-512 dies with SIGILL on an
// AVX2-only CPU, so the check must run — and refuse — before any kernel executes.
//
// This module is compiled for the kernels' CPU, so the check that guards the CLI does not run from
// here: the comparison and the refusal message are C functions in the baseline-built shim
// CPerfEvent (`fb_isa_missing`, `fb_isa_refusal`, `fb_isa_refuse`), and the CLI entry calls
// `fb_isa_refuse` before any command touches Kernels (`tools/check-shim-baseline` verifies they
// contain no AVX instruction). The Swift API below (`ISA.check()`, `ISAMismatchError`) delegates
// to the same C functions, for `exec`, workers and library users. `fb_isa_built()` lives in
// CKernels, compiled with the kernels' target CPU so that it reports what they were built for.
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

    /// The features named in `names` (as ``names`` spells them, e.g. a run's recorded `isaBuilt`);
    /// unknown names are ignored.
    public init(names: [String]) {
        var raw: UInt32 = 0
        for entry in ISAFeatures.named where names.contains(entry.name) { raw |= entry.feature.rawValue }
        self.init(rawValue: raw)
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
    /// (`fb_isa_suggested_cpu` in the baseline shim.)
    public var suggestedTargetCPU: String {
        String(cString: fb_isa_suggested_cpu(host.rawValue))
    }

    /// One-line message for the CLI: the shim's `fb_isa_refusal`, the text the CLI gate prints.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBufferPointer { fb_isa_refusal(missing.rawValue, host.rawValue, $0.baseAddress, $0.count) }
        return count == 0 ? "no missing instruction-set features"
            : String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Instruction-set features of this build and of the running CPU, and the kernel code path they select.
public enum ISA {
    /// Features the Kernels module (and the C kernels, compiled with the same target CPU) may use.
    public static var built: ISAFeatures { ISAFeatures(rawValue: fb_isa_built()) }

    /// Features the running CPU supports (cpuid).
    public static var host: ISAFeatures { ISAFeatures(rawValue: fb_isa_host()) }

    /// Features used by the build that the host lacks — the pure core of `check()`.
    /// (`fb_isa_missing` in the baseline shim.)
    public static func missing(built: ISAFeatures, host: ISAFeatures) -> ISAFeatures {
        ISAFeatures(rawValue: fb_isa_missing(built.rawValue, host.rawValue))
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
