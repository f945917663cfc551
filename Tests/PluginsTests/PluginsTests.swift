// Tests of the plug-in loader and the bridge to KernelDefinition, with small C plug-ins compiled
// at test time (TestSupport/TestPlugins.swift).
import BenchModel
import Foundation
import FuseBench
import Kernels
@testable import Plugins
import Testing
import TestSupport
import UserKernels

/// Builds `TestPluginSources.good` once per flag set for the tests below (cc takes a moment).
private func buildGood(_ flags: [String] = [], name: String = "good") throws -> (TestPluginDirectory, URL) {
    let dir = try TestPluginDirectory()
    do {
        return (dir, try dir.build(TestPluginSources.good, name: name, flags: flags))
    } catch {
        dir.remove()
        throw error
    }
}

/// Runs `variant` and the reference of `factory` on `shape` and compares them with the factory's band.
private func verify(_ factory: DefinedKernelFactory, variant: String, shape: Shape) throws -> AccuracyCheck {
    let reference = try factory.make(variant: factory.referenceVariant, shape: shape, dtype: "f32", seed: 7)
    let candidate = try factory.make(variant: variant, shape: shape, dtype: "f32", seed: 7)
    reference.run()
    candidate.run()
    return Accuracy.compare(reference: reference.output(), candidate: candidate.output(),
                            tolerance: factory.defaultTolerance(shape: shape, dtype: "f32"),
                            op: "t", variant: variant, referenceVariant: factory.referenceVariant)
}

@Suite struct PluginLoaderTests {
    @Test func loadsGoodPluginWithProvenance() throws {
        let (dir, lib) = try buildGood()
        defer { dir.remove() }
        let plugin = try PluginLoader.load(libraryPath: lib.path)
        #expect(plugin.name == "test_kernels")
        #expect(plugin.abiVersion == 1)
        #expect(plugin.kernels.map(\.name) == ["my_gemm", "my_softmax", "scale2"])
        #expect(plugin.contentHash == ContentHash.fnv1a64Hex(try Data(contentsOf: lib)))
        // Cached per path: the second load is the same plug-in.
        #expect(try PluginLoader.load(libraryPath: lib.path).contentHash == plugin.contentHash)
        let definitions = try plugin.definitions()
        #expect(definitions.map(\.kind) == ["my_gemm", "my_softmax", "scale2"])
        #expect(definitions.allSatisfy { $0.isolated })
        #expect(definitions[0].provenance == ["plugin.library": plugin.path, "plugin.hash": plugin.contentHash])
        #expect(definitions[0].shapeKeys == ["m", "n", "k"])
        #expect(definitions[2].shapeKeys == ["n"])
        #expect(DefinedKernelFactory(definitions[2]).variants == ["reference_scale", "unrolled", "with_setup"])
        #expect(DefinedKernelFactory(definitions[0]).variants == ["reference", "naive"])
    }

    @Test func verifiesAgainstBuiltinGEMMAndSoftmaxAndOwnReference() throws {
        let (dir, lib) = try buildGood()
        defer { dir.remove() }
        let plugin = try PluginLoader.load(libraryPath: lib.path)
        let gemm = DefinedKernelFactory(try plugin.definition(try plugin.kernel(named: "my_gemm")))
        let g = try verify(gemm, variant: "naive", shape: ["m": 12, "n": 20, "k": 33])
        #expect(g.passed, "\(g)")
        let softmax = DefinedKernelFactory(try plugin.definition(try plugin.kernel(named: "my_softmax")))
        let s = try verify(softmax, variant: "rows", shape: ["rows": 3, "cols": 50])
        #expect(s.passed, "\(s)")
        let scale = DefinedKernelFactory(try plugin.definition(try plugin.kernel(named: "scale2")))
        #expect(scale.flops(shape: ["n": 64]) == 64)
        for v in ["unrolled", "with_setup"] {
            let c = try verify(scale, variant: v, shape: ["n": 64])
            #expect(c.passed, "\(v): \(c)")
        }
    }

    @Test func wrongKernelFailsVerification() throws {
        let (dir, lib) = try buildGood(["-DFB_TEST_WRONG"], name: "wrong")
        defer { dir.remove() }
        let plugin = try PluginLoader.load(libraryPath: lib.path)
        let gemm = DefinedKernelFactory(try plugin.definition(try plugin.kernel(named: "my_gemm")))
        let check = try verify(gemm, variant: "naive", shape: ["m": 8, "n": 8, "k": 8])
        #expect(!check.passed)
    }

    @Test func refusedShapeCarriesThePluginsMessage() throws {
        let (dir, lib) = try buildGood()
        defer { dir.remove() }
        let plugin = try PluginLoader.load(libraryPath: lib.path)
        let scale = DefinedKernelFactory(try plugin.definition(try plugin.kernel(named: "scale2")))
        let error = try #require(throws: KernelSpecError.self) { try scale.validate(shape: ["n": 6], dtype: "f32") }
        #expect(error.message.contains("n must be a multiple of 4, got 6"))
        #expect(error.message.contains(plugin.path))
        // Missing and non-positive keys are refused before the plug-in sees the shape.
        #expect(throws: KernelSpecError.self) { try scale.validate(shape: [:], dtype: "f32") }
        #expect(throws: KernelSpecError.self) { try scale.validate(shape: ["n": -4], dtype: "f32") }
    }

    @Test func badLibrariesAreRefusedNamingTheLibrary() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        let missing = dir.url.appendingPathComponent("libnothere.so").path
        #expect(throws: PluginError.missingLibrary(path: missing, reason: "no such file (build the plug-in first?)")) {
            try PluginLoader.load(libraryPath: missing)
        }
        let notELF = try dir.write("not a library", to: "libtext.so")
        let cannot = try #require(throws: PluginError.self) { try PluginLoader.load(libraryPath: notELF.path) }
        guard case .cannotLoad = cannot else { Issue.record("expected cannotLoad, got \(cannot)"); return }
        #expect(cannot.description.contains(notELF.path))

        let noEntry = try dir.build(TestPluginSources.noEntry, name: "noentry")
        let symbol = try #require(throws: PluginError.self) { try PluginLoader.load(libraryPath: noEntry.path) }
        guard case .missingSymbol(_, "fusebench_plugin", _) = symbol else { Issue.record("got \(symbol)"); return }
        #expect(symbol.description.contains(noEntry.path))

        let abi = try dir.build(TestPluginSources.good, name: "abi99", flags: ["-DFB_TEST_ABI=99"])
        let mismatch = try #require(throws: PluginError.self) { try PluginLoader.load(libraryPath: abi.path) }
        #expect(mismatch == .abiMismatch(path: abi.path, plugin: 99, host: 1))
        #expect(mismatch.description.contains("version 99") && mismatch.description.contains("version 1"))

        let badVerify = try dir.build(TestPluginSources.badVerify, name: "badverify")
        let invalid = try #require(throws: PluginError.self) { try PluginLoader.load(libraryPath: badVerify.path) }
        guard case .invalidDescription = invalid else { Issue.record("got \(invalid)"); return }
        #expect(invalid.description.contains("'nope'"))
    }

    @Test func failedSetupThrowsItsMessageAndStillTearsDown() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        let lib = try dir.build(TestPluginSources.setupFails, name: "setupfails")
        let plugin = try PluginLoader.load(libraryPath: lib.path)
        let factory = DefinedKernelFactory(try plugin.definition(try plugin.kernel(named: "k")))
        let error = try #require(throws: KernelSpecError.self) { try factory.make(variant: "v", shape: ["n": 8], dtype: "f32", seed: 1) }
        let expected = PluginError.setupFailed(path: plugin.path, kernel: "k", variant: "v", message: "no scratch for n=8")
        #expect(error.message.contains(expected.description), "\(error)")
        // The state setup allocated before failing was handed to teardown (once).
        let handle = try #require(dlopen(plugin.path, RTLD_NOW | RTLD_LOCAL))
        let symbol = try #require(dlsym(handle, "teardowns"))
        let teardowns = unsafeBitCast(symbol, to: (@convention(c) () -> Int32).self)
        #expect(teardowns() == 1)
    }

    @Test func unknownKernelListsThePluginsKernels() throws {
        let (dir, lib) = try buildGood()
        defer { dir.remove() }
        let plugin = try PluginLoader.load(libraryPath: lib.path)
        #expect(throws: PluginError.unknownKernel(path: plugin.path, kernel: "sgemm", known: ["my_gemm", "my_softmax", "scale2"])) {
            try plugin.kernel(named: "sgemm")
        }
    }
}

@Suite struct PluginBadInputTests {
    /// One `TestPluginSources.badInput` build per broken rule: refused at load with a message
    /// naming the library and the rule, or (layout, check_shape) when a shape is validated.
    @Test func everyBrokenRuleIsRefusedNamingTheLibrary() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        let atLoad: [(flag: String, contains: String)] = [
            ("-DFB_BAD_NULL_ENTRY", "fusebench_plugin() returned NULL"),
            ("-DFB_BAD_SIZE", "sizeof(fb_kernel) is"),
            ("-DFB_BAD_PLUGIN_NAME", "the plug-in has no name"),
            ("-DFB_BAD_KERNEL_NAME", "kernel 0 needs a name"),
            ("-DFB_BAD_VARIANT_NAME", "every variant needs a name"),
            ("-DFB_KERNEL_COUNT=0", "kernel_count must be 1 ... 4096"),
            ("-DFB_KERNEL_COUNT=4097", "kernel_count must be 1 ... 4096"),
            ("-DFB_VARIANT_COUNT=0", "variant_count must be 1 ... 256"),
            ("-DFB_VARIANT_COUNT=257", "variant_count must be 1 ... 256"),
        ]
        for (i, c) in atLoad.enumerated() {
            let lib = try dir.build(TestPluginSources.badInput, name: "load\(i)", flags: [c.flag])
            let error = try #require(throws: PluginError.self, "\(c.flag)") { try PluginLoader.load(libraryPath: lib.path) }
            guard case .invalidDescription = error else { Issue.record("\(c.flag): got \(error)"); continue }
            #expect(error.description.contains(c.contains) && error.description.contains(lib.path), "\(c.flag): \(error)")
        }
        let atShape: [(flag: String, contains: String)] = [
            ("-DFB_BAD_LAYOUT_TYPE", "unknown element type 9"),
            ("-DFB_BAD_LAYOUT_FILL", "unknown fill 7"),
            ("-DFB_BAD_LAYOUT_COUNT", "input_count 0"),
            ("-DFB_BAD_MESSAGE", String(repeating: "x", count: ShapeCheck.messageSize)),
        ]
        for (i, c) in atShape.enumerated() {
            let lib = try dir.build(TestPluginSources.badInput, name: "shape\(i)", flags: [c.flag])
            let plugin = try PluginLoader.load(libraryPath: lib.path)
            let factory = DefinedKernelFactory(try plugin.definition(try plugin.kernel(named: "k")))
            let error = try #require(throws: KernelSpecError.self, "\(c.flag)") { try factory.validate(shape: ["n": 8], dtype: "f32") }
            #expect(error.message.contains(c.contains) && error.message.contains(plugin.path), "\(c.flag): \(error)")
            if c.flag == "-DFB_BAD_MESSAGE" {  // cut at the buffer's size: nothing past it was read
                #expect(!error.message.contains(String(repeating: "x", count: ShapeCheck.messageSize + 1)))
            }
        }
        // The unbroken source loads and verifies (the table's failures are the flags' doing).
        let fine = try PluginLoader.load(libraryPath: try dir.build(TestPluginSources.badInput, name: "fine").path)
        #expect(try fine.definitions().map(\.kind) == ["k"])
    }

    @Test func directoryAndFIFOAreRefusedWithoutBlocking() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        let sub = dir.url.appendingPathComponent("libdir.so")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let d = try #require(throws: PluginError.self) { try PluginLoader.load(libraryPath: sub.path) }
        guard case .missingLibrary = d else { Issue.record("got \(d)"); return }
        #expect(d.description.contains(sub.path) && d.description.contains("not a regular file"), "\(d)")
        let fifo = dir.url.appendingPathComponent("libfifo.so")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let f = try #require(throws: PluginError.self) { try PluginLoader.load(libraryPath: fifo.path) }
        guard case .missingLibrary = f else { Issue.record("got \(f)"); return }
        #expect(f.description.contains(fifo.path) && f.description.contains("FIFO"), "\(f)")
    }

    @Test func builtinShapeChecksComeBeforeCheckShape() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        let lib = try dir.build(TestPluginSources.checkCounter, name: "counted")
        let plugin = try PluginLoader.load(libraryPath: lib.path)
        let factory = DefinedKernelFactory(try plugin.definition(try plugin.kernel(named: "g")))
        let handle = try #require(dlopen(plugin.path, RTLD_NOW | RTLD_LOCAL))
        let symbol = try #require(dlsym(handle, "check_calls"))
        let calls = unsafeBitCast(symbol, to: (@convention(c) () -> Int32).self)
        // gemm refuses m·n beyond its element limit: the plug-in never sees those values.
        #expect(throws: KernelSpecError.self) { try factory.validate(shape: ["m": 1 << 40, "n": 1 << 40, "k": 1], dtype: "f32") }
        #expect(calls() == 0)
        try factory.validate(shape: ["m": 4, "n": 4, "k": 4], dtype: "f32")
        #expect(calls() == 1)
    }

    @Test func definitionsReportAKernelTheyCannotDefine() throws {
        let (dir, lib) = try buildGood()
        defer { dir.remove() }
        let good = try PluginLoader.load(libraryPath: lib.path)
        // A kernel whose verify_against kind has no reference (the loader refuses it; built by hand here).
        let k = good.kernels[0]
        let broken = PluginKernel(name: "broken", summary: "", verifyAgainst: "nope", shapeKeys: [], variantNames: k.variantNames,
                                  referenceName: nil, raw: k.raw)
        let plugin = LoadedPlugin(path: good.path, contentHash: good.contentHash, abiVersion: good.abiVersion, name: good.name,
                                  kernels: good.kernels + [broken])
        let error = try #require(throws: PluginError.self) { try plugin.definitions() }
        #expect(error.description.contains("broken"))
    }

    @Test func aLibraryRebuiltAfterTheSuiteWasReadIsRefused() throws {
        OpFamilies.registerBuiltIn()
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        let lib = try dir.build(TestPluginSources.good, name: "rebuilt")
        let path = dir.url.appendingPathComponent("s.toml").path
        let suite = try SuiteLoader.parse(text: """
        [suite]
        name = "p"
        [[plugin]]
        name = "op"
        library = "librebuilt.so"
        kernel = "scale2"
        shape = { n = 8 }
        """, path: path)
        let op = try #require(suite.ops.first)
        _ = try op.factory()  // unchanged: fine
        // Rebuilt with other code (a new file: the loaded one stays mapped as it was).
        try FileManager.default.removeItem(at: lib)
        _ = try dir.build(TestPluginSources.good, name: "rebuilt", flags: ["-DFB_TEST_WRONG"])
        let error = try #require(throws: PluginError.self) { _ = try op.factory() }
        guard case .libraryChanged = error else { Issue.record("got \(error)"); return }
        #expect(error.description.contains("library changed since the suite was read"))
        #expect(error.description.contains(lib.resolvingSymlinksInPath().path))
    }
}
