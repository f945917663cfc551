// The suite loader reads entry tables of op families it does not know, through registered entry
// types: a new family needs no edit in Suite.
import BenchModel
import Kernels
import Suite
import Testing

/// A family the suite loader has never heard of: `[[toy]]` entries with a `size`, run as GEMMs.
struct ToyEntryType: SuiteEntryType {
    struct Spec: Hashable, Sendable { var size: Int }
    var key: String { "toy" }

    func read(_ e: SuiteEntryReader) throws -> OpSpec {
        try e.checkKeys(allowed: ["name", "size"])
        let name = try e.name(entryLabel: "toy")
        guard let size = try e.int("size", min: 1) else { throw e.fail(at: e.prefix, "toy '\(name)' needs a 'size'") }
        let spec = Spec(size: size)
        return OpSpec(name: name, kind: "gemm", shape: ["m": size, "n": size, "k": size], dtype: "f32",
                      variants: ["reference", "optimized"], tolerance: nil, settings: try e.settings(), line: e.line,
                      family: OpFamilyEntry(spec: spec) {
                          guard let f = KernelRegistry.shared.factory(kind: "gemm") else { throw KernelSpecError(key: "kind", "no gemm") }
                          return f
                      })
    }
}

@Suite struct SuiteEntryTests {
    init() { SuiteEntryTypes.register(ToyEntryType()) }

    @Test func registeredEntryTypeIsRead() throws {
        let text = """
        [suite]
        name = "t"
        [[toy]]
        name = "small"
        size = 8
        samples = 3
        """
        let s = try SuiteLoader.parse(text: text, path: "t.toml")
        #expect(s.ops.map(\.name) == ["small"])
        #expect(s.ops[0].settings.samples == 3)
        #expect(s.ops[0].family?.spec as? ToyEntryType.Spec == ToyEntryType.Spec(size: 8))
        #expect(s.ops[0].factory()?.kind == "gemm")
        let plan = try BenchPlan(suites: [s])
        #expect(plan.ops.map(\.qualifiedName) == ["t/small"])
    }

    @Test func entryErrorsPointAtTheEntry() {
        let text = """
        [suite]
        name = "t"
        [[toy]]
        name = "small"
        size = 0
        """
        #expect {
            try SuiteLoader.parse(text: text, path: "t.toml")
        } throws: { error in
            let e = error as? SuiteError
            return e?.line == 5 && e?.message.contains("'size' must be at least 1") == true
        }
        #expect {
            try SuiteLoader.parse(text: "[suite]\nname = \"t\"\n[[nosuch]]\nx = 1\n", path: "t.toml")
        } throws: { error in
            (error as? SuiteError)?.message.contains("toy") == true
        }
    }
}
