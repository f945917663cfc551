import Testing
@testable import Kernels

@Suite struct RandomTests {
    @Test func splitMix64KnownSequence() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        var g = SeededGenerator(seed: 0)
        #expect(g.next() == 0xE220_A839_7B1D_CDAF)
        #expect(g.next() == 0x6E78_9E6A_A1B9_65F4)
    }

    @Test func sameSeedSameData() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let xa = (0..<1000).map { _ in a.nextUnitFloat() }
        let xb = (0..<1000).map { _ in b.nextUnitFloat() }
        let xc = (0..<1000).map { _ in c.nextUnitFloat() }
        #expect(xa == xb)
        #expect(xa != xc)
    }

    @Test func uniformInMinusOneToOne() {
        var g = SeededGenerator(seed: 7)
        var buffer = [Float](repeating: 9, count: 100_000)
        buffer.withUnsafeMutableBufferPointer { g.fill($0) }
        #expect(buffer.allSatisfy { $0 >= -1 && $0 < 1 })
        let mean = buffer.reduce(0.0) { $0 + Double($1) } / Double(buffer.count)
        #expect(abs(mean) < 0.01)
        #expect(buffer.filter { $0 < 0 }.count > 49_000)
        #expect(buffer.filter { $0 < 0 }.count < 51_000)
    }

    @Test func firstFloatIsStable() {
        // 0xE220A8397B1DCDAF >> 40 = 0xE220A8 = 14819496; 14819496 / 2^23 - 1.
        var g = SeededGenerator(seed: 0)
        #expect(g.nextUnitFloat() == Float(14_819_496) / 8_388_608 - 1)
    }
}
