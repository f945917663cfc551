// The built-in side of the plug-in overhead figure (tools/plugin-overhead, docs/results.md "Own
// kernels"): kind `c_axpy`, out = 2·x + y over `n` floats, whose variant `c` calls CKernels'
// `fb_axpy` directly. The tool compiles the same axpy.c into a plug-in and measures both in one run;
// the difference per iteration is what the plug-in call path costs.
import BenchModel
import CKernels
import Kernels
import UserKernels

/// The built-in baseline kernel of the plug-in overhead measurement.
public enum PluginOverheadBaseline {
    /// `c_axpy`: inputs x, y (n floats each), output out; reference in Swift, variant `c` in C.
    /// Not isolated: it is the same kernel built into fusebench.
    public static var definition: KernelDefinition {
        KernelDefinition(
            kind: "c_axpy", summary: "out = 2·x + y in C, built in (baseline of tools/plugin-overhead)", shapeKeys: ["n"],
            layout: { shape in
                guard let n = shape["n"], n > 0 else { throw KernelSpecError(key: "shape.n", "c_axpy: shape.n must be a positive integer") }
                return TensorLayout(inputs: [TensorSpec("x", count: n), TensorSpec("y", count: n)], output: TensorSpec("out", count: n))
            },
            flops: { 2 * Double($0["n"] ?? 0) },
            reference: .variant(KernelVariant("reference", run: { b in
                let x = b.input(0, as: Float.self), y = b.input(1, as: Float.self), out = b.output(as: Float.self)
                for i in 0..<out.count { out[i] = 2 * x[i] + y[i] }
            })),
            variants: [KernelVariant("c", prepare: { b in
                let x = b.input(0, as: Float.self).baseAddress, y = b.input(1, as: Float.self).baseAddress
                let out = b.output(as: Float.self).baseAddress, n = Int64(b.layout.output.count)
                let pointers = Pointers(x: x, y: y, out: out)
                return { fb_axpy(2, pointers.x, pointers.y, pointers.out, n) }
            })],
            tolerance: { _ in Tolerance(abs: 1e-6, rel: 1e-6, minCosine: 0.999999) })
    }

    /// The instance's buffer pointers, valid while the instance lives (`KernelBuffers`).
    private struct Pointers: @unchecked Sendable {
        let x: UnsafePointer<Float>?, y: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>?
    }
}
