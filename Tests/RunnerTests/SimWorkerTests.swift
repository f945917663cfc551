// The AVX2 sim worker lookup for callgrind works for any executable built on FuseBenchCLI, not
// only for one named `fusebench`.
import Testing
@testable import Runner

@Suite struct SimWorkerTests {
    /// Before: the candidates were always `.build-sim/release/fusebench`, so a user's executable
    /// (`mykernels-bench`) on an AVX-512 machine would have run fusebench's sim build — without
    /// the user's kinds.
    @Test func candidatesUseTheExecutableName() {
        let candidates = SimWorker.defaultCandidates(executable: "/repo/.build/x86_64-unknown-linux-gnu/release/mykernels-bench")
        #expect(candidates.contains("/repo/.build-sim/release/mykernels-bench"))
        #expect(!candidates.contains { $0.hasSuffix("/fusebench") })
        #expect(SimWorker.defaultCandidates(executable: "/r/.build/t/release/fusebench").contains("/r/.build-sim/release/fusebench"))
    }

    @Test func buildHintNamesTheProduct() {
        #expect(SimWorker.buildHint(executable: "/x/mykernels-bench").contains("--product mykernels-bench"))
        #expect(SimWorker.buildHint(executable: "/x/fusebench").contains("tools/setup --sim"))
    }
}
