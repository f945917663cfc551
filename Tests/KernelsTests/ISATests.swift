import BenchModel
import CPerfEvent
import Foundation
import Testing
@testable import Kernels

@Suite struct ISATests {
    let zen5: ISAFeatures = [.sse42, .avx, .avx2, .fma, .f16c, .avx512f, .avx512bw, .avx512vl, .avx512dq,
                             .avx512vnni, .avx512bf16, .avxvnni]
    let zen3: ISAFeatures = [.sse42, .avx, .avx2, .fma, .f16c]

    @Test func rawValuesMatchTheCShim() {
        #expect(ISAFeatures.sse42.rawValue == 1 << 0)
        #expect(ISAFeatures.avx512f.rawValue == 1 << 5)
        #expect(ISAFeatures.avx512vnni.rawValue == 1 << 8)
        #expect(ISAFeatures.avx512bf16.rawValue == 1 << 9)
        #expect(ISAFeatures.avx512dq.rawValue == 1 << 11)
        #expect(ISAFeatures.named.count == 12)
    }

    @Test func namesInBitOrder() {
        #expect(ISAFeatures([.avx512vnni, .avx2, .fma]).description == "avx2, fma, avx512vnni")
        #expect(ISAFeatures().description == "none")
        #expect(ISAFeatures(rawValue: 1 << 30).names.isEmpty)
    }

    @Test func missingIsBuiltMinusHost() {
        #expect(ISA.missing(built: zen3, host: zen5).isEmpty)
        #expect(ISA.missing(built: zen5, host: zen5).isEmpty)
        #expect(ISA.missing(built: zen5, host: zen3) == [.avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512vnni,
                                                          .avx512bf16, .avxvnni])
        #expect(ISA.missing(built: [.avx512f, .avx512vnni, .avx2], host: [.avx2]) == [.avx512f, .avx512vnni])
    }

    @Test func checkThrowsAndNamesTheMissingFeatures() throws {
        try ISA.check(built: zen3, host: zen5)
        let error = #expect(throws: ISAMismatchError.self) {
            try ISA.check(built: [.avx2, .fma, .avx512f, .avx512vnni], host: zen3)
        }
        #expect(error?.missing == [.avx512f, .avx512vnni])
        #expect(error?.description == "this fusebench was built for avx512f, avx512vnni but this CPU lacks them; "
            + "rebuild on this machine (swift build -c release) or set FUSEBENCH_TARGET_CPU=haswell (see README)")
        let single = #expect(throws: ISAMismatchError.self) { try ISA.check(built: [.fma], host: [.sse42]) }
        #expect(single?.description.contains("built for fma but this CPU lacks it;") == true)
        #expect(single?.suggestedTargetCPU == "nehalem")
    }

    /// The CLI's gate is the baseline C shim's comparison (it used to be Swift in the Kernels module,
    /// compiled for the kernels' CPU): fake feature sets in, the missing set and the refusal out.
    @Test func baselineGateComparesFakeFeatureSets() throws {
        #expect(fb_isa_missing(zen3.rawValue, zen5.rawValue) == 0)
        #expect(fb_isa_missing(zen5.rawValue, zen3.rawValue) == ISA.missing(built: zen5, host: zen3).rawValue)
        #expect(fb_isa_missing(ISAFeatures.avx512f.rawValue | ISAFeatures.avx2.rawValue, ISAFeatures.avx2.rawValue)
            == ISAFeatures.avx512f.rawValue)
        // The shim's names are the Swift ones, bit for bit.
        for entry in ISAFeatures.named {
            let name = try #require(fb_isa_name(entry.feature.rawValue))
            #expect(String(cString: name) == entry.name)
        }
        #expect(fb_isa_name(1 << 30) == nil)

        // fb_isa_refuse writes `error: …` to the descriptor only on a mismatch.
        func refuse(built: ISAFeatures, host: ISAFeatures) throws -> (Int32, String) {
            var fds: [Int32] = [0, 0]
            try #require(pipe(&fds) == 0)
            defer { close(fds[0]) }
            let count = fb_isa_refuse(built.rawValue, host.rawValue, fds[1])
            close(fds[1])
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1024)
            while true {
                let n = read(fds[0], &chunk, chunk.count)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                bytes += chunk[0..<n]
            }
            return (count, String(decoding: bytes, as: UTF8.self))
        }
        let (none, silent) = try refuse(built: zen3, host: zen5)
        #expect(none == 0 && silent.isEmpty)
        let (two, message) = try refuse(built: [.avx2, .fma, .avx512f, .avx512vnni], host: zen3)
        #expect(two == 2)
        #expect(message == "error: this fusebench was built for avx512f, avx512vnni but this CPU lacks them; "
            + "rebuild on this machine (swift build -c release) or set FUSEBENCH_TARGET_CPU=haswell (see README)\n")
        #expect(String(cString: fb_isa_suggested_cpu(zen5.rawValue)) == "skylake-avx512")
        #expect(String(cString: fb_isa_suggested_cpu(0)) == "x86-64")
    }

    @Test func kernelPathNeedsBuildAndHost() {
        #expect(ISA.kernelPath(built: zen5, host: zen5) == .avx512)
        #expect(ISA.kernelPath(built: zen3, host: zen5) == .avx2)
        #expect(ISA.kernelPath(built: zen5, host: zen3) == .avx2)
        #expect(ISA.kernelPath(built: [.sse42, .avx2], host: zen5) == .sse)
        #expect(ISA.kernelPath(built: [.sse42], host: [.sse42]) == .sse)
    }

    @Test func thisMachinePassesItsOwnBuild() throws {
        try ISA.check()
        #expect(KernelPath.allCases.contains(ISA.kernelPath))
        #expect(GEMMKernelPath.current == ISA.kernelPath)
    }
}
