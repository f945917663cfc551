// Tests of the plug-in loader and the bridge to KernelDefinition, with small C plug-ins compiled
// at test time (TestSupport/TestPlugins.swift).
import BenchModel
import Foundation
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
        let definitions = plugin.definitions()
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
