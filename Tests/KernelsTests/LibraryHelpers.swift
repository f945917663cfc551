import BenchModel
import Testing
@testable import Kernels

/// Runs both instances and expects the candidate within `tolerance` of the reference (and repeatable).
@discardableResult
func expectMatch(_ reference: KernelInstance, _ candidate: KernelInstance, _ tolerance: Tolerance, _ label: String,
                 sourceLocation: SourceLocation = #_sourceLocation) -> AccuracyCheck {
    let ref = runAndCopy(reference)
    let opt = runAndCopy(candidate)
    let result = check(ref, opt, tolerance)
    #expect(result.passed, "\(label): \(result.reason ?? "")", sourceLocation: sourceLocation)
    #expect(runAndCopy(candidate) == opt, "\(label): second run differs", sourceLocation: sourceLocation)
    return result
}

/// A fixed output, for deliberately broken kernels computed in a test.
final class FixedOutput: KernelInstance {
    var values: [Float]
    init(_ values: [Float]) { self.values = values }
    func run() {}
    func output() -> UnsafeBufferPointer<Float> {
        values.withUnsafeBufferPointer { UnsafeBufferPointer(start: $0.baseAddress, count: $0.count) }
    }
}

/// Every optimized path, so tests exercise the non-native widths too (all are correct on any CPU
/// that passes `ISA.check()`; the native one is merely the fast one).
let allPaths = GEMMKernelPath.allCases

/// Expects `body` to throw a `KernelSpecError` whose key is `key`; returns the message.
@discardableResult
func expectSpecError(_ key: String, sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () throws -> Void) -> String? {
    let error = #expect(throws: KernelSpecError.self, sourceLocation: sourceLocation) { try body() }
    #expect(error?.key == key, "key \(error?.key ?? "nil") (\(error?.message ?? ""))", sourceLocation: sourceLocation)
    return error?.message
}
