import BenchModel
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
