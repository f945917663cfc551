import Foundation
import Kernels
import Testing
@testable import Runner

/// `--inject-slowdown`'s sizing (SpinWork.units): the spin count that costs a fraction of a kernel's
/// iteration, from the kernel and the chain timed alternately. The kernel here is itself a spin
/// chain of known length, so the answer is known up to timing noise; the band is a factor of 2 (a
/// sizing check, not a performance claim).
@Suite(.serialized) struct SlowdownSizingTests {
    final class SpinKernel: KernelInstance {
        let units: Int
        var sink: Float = 1
        let out: UnsafeMutableBufferPointer<Float>
        init(units: Int) {
            self.units = units
            out = .allocate(capacity: 1)
            out.initialize(repeating: 0)
        }
        deinit { out.deallocate() }
        func run() { sink = SpinWork.spin(units, seed: sink) }
        func output() -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(out) }
    }

    @Test func halfAKernelOfTwentyThousandUnitsIsAboutTenThousand() {
        let kernel = SpinKernel(units: 20_000)
        let spinNs = SpinWork.nanosecondsPerSpin()
        let units = SpinWork.units(costing: 0.5, of: kernel, iterationNs: 20_000 * spinNs, spinNs: spinNs)
        #expect((5_000...20_000).contains(units), "\(units) spin units for half of 20 000")
    }

    @Test func aSlowdownIsAtLeastOneUnit() {
        let kernel = SpinKernel(units: 10)
        let spinNs = SpinWork.nanosecondsPerSpin()
        #expect(SpinWork.units(costing: 1e-9, of: kernel, iterationNs: 10 * spinNs, spinNs: spinNs) == 1)
    }
}
