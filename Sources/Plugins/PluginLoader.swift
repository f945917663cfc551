// Plugins: loading C ABI kernel plug-ins (include/fusebench_plugin.h). `PluginLoader.load` opens a
// shared library with dlopen, calls its entry symbol, checks the ABI version and the struct sizes,
// validates every kernel description, and keeps the library loaded for the life of the process
// (one load per path). `LoadedPlugin.definitions()` turns the kernels into `KernelDefinition`s
// (PluginDefinitions.swift); the `[[plugin]]` suite entry (PluginEntryType.swift) names them.
import BenchModel
import CFuseBenchPlugin
import Foundation
import Kernels

/// Why a plug-in cannot be used. Every message names the library.
public enum PluginError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The library file cannot be read (missing, not a regular file, unreadable).
    case missingLibrary(path: String, reason: String)
    /// dlopen refused the file; `reason` is dlerror's text.
    case cannotLoad(path: String, reason: String)
    /// The library does not export the entry symbol.
    case missingSymbol(path: String, symbol: String, reason: String)
    /// The plug-in was built against another ABI version.
    case abiMismatch(path: String, plugin: Int, host: Int)
    /// The description breaks the header's rules (a NULL name, a size mismatch, ...).
    case invalidDescription(path: String, reason: String)
    /// No kernel of that name; `known` lists the plug-in's kernels.
    case unknownKernel(path: String, kernel: String, known: [String])
    /// The plug-in refused the shape; `message` is its explanation.
    case refusedShape(path: String, kernel: String, shape: String, message: String)
    /// A variant's `setup` failed; `message` is its explanation.
    case setupFailed(path: String, kernel: String, variant: String, message: String)

    /// The library the error is about.
    public var path: String {
        switch self {
        case let .missingLibrary(p, _), let .cannotLoad(p, _), let .missingSymbol(p, _, _), let .abiMismatch(p, _, _),
             let .invalidDescription(p, _), let .unknownKernel(p, _, _), let .refusedShape(p, _, _, _),
             let .setupFailed(p, _, _, _):
            return p
        }
    }

    /// One line naming the library, e.g. `plug-in library build/libk.so: ABI version 2, this fusebench supports 1`.
    public var description: String {
        switch self {
        case let .missingLibrary(p, reason):
            return "plug-in library \(p): \(reason)"
        case let .cannotLoad(p, reason):
            return "plug-in library \(p) cannot be loaded: \(reason)"
        case let .missingSymbol(p, symbol, reason):
            return "plug-in library \(p) does not export '\(symbol)' (is it a fusebench plug-in? see include/fusebench_plugin.h): \(reason)"
        case let .abiMismatch(p, plugin, host):
            return "plug-in library \(p) was built for plug-in ABI version \(plugin); this fusebench supports version \(host) (rebuild it against this fusebench's include/fusebench_plugin.h)"
        case let .invalidDescription(p, reason):
            return "plug-in library \(p): invalid description: \(reason)"
        case let .unknownKernel(p, kernel, known):
            return "plug-in library \(p) has no kernel '\(kernel)' (has \(known.joined(separator: ", ")))"
        case let .refusedShape(p, kernel, shape, message):
            return "plug-in library \(p): kernel '\(kernel)' refuses shape \(shape): \(message)"
        case let .setupFailed(p, kernel, variant, message):
            return "plug-in library \(p): kernel '\(kernel)' variant '\(variant)': setup failed: \(message)"
        }
    }
}

/// One kernel of a loaded plug-in, as described by its `fb_kernel` (validated).
public struct PluginKernel: @unchecked Sendable {
    // @unchecked: `raw` points into the plug-in's constant description, which the library keeps
    // unchanged until the process exits (the header's rule; libraries are never unloaded).
    /// The kernel's name (its op kind).
    public let name: String
    /// Its one-line summary ("" when none).
    public let summary: String
    /// The built-in kind it is verified against, nil for its own reference.
    public let verifyAgainst: String?
    /// Its own shape keys (empty with `verifyAgainst`: the built-in kind's keys apply).
    public let shapeKeys: [String]
    /// Names of the measured variants, in the plug-in's order.
    public let variantNames: [String]
    /// Name of its own reference variant (nil with `verifyAgainst`).
    public let referenceName: String?
    /// The description in the plug-in's memory.
    let raw: UnsafePointer<fb_kernel>
}

/// A loaded, validated plug-in library.
public struct LoadedPlugin: Sendable {
    /// Absolute path of the library (symbolic links resolved).
    public let path: String
    /// Content hash of the library file (FNV-1a 64, hex: `ContentHash`, as for suite files),
    /// recorded with the runs that measure it.
    public let contentHash: String
    /// The plug-in ABI version it was built for (equal to `PluginLoader.abiVersion`).
    public let abiVersion: Int
    /// The plug-in's name.
    public let name: String
    /// Its kernels, in the plug-in's order.
    public let kernels: [PluginKernel]

    /// The kernel named `name`; throws `PluginError.unknownKernel` listing the plug-in's kernels.
    public func kernel(named name: String) throws -> PluginKernel {
        guard let k = kernels.first(where: { $0.name == name }) else {
            throw PluginError.unknownKernel(path: path, kernel: name, known: kernels.map(\.name))
        }
        return k
    }
}

/// Loads plug-in libraries, once per path and process.
public enum PluginLoader {
    /// The plug-in ABI version this fusebench implements (`FUSEBENCH_PLUGIN_ABI_VERSION`).
    public static let abiVersion = Int(FUSEBENCH_PLUGIN_ABI_VERSION)
    /// The entry symbol every plug-in exports (`FUSEBENCH_PLUGIN_ENTRY_NAME`).
    public static let entrySymbol = FUSEBENCH_PLUGIN_ENTRY_NAME
    /// Largest library file accepted (for the digest, which reads it whole): 1 GiB.
    static let maxLibraryBytes = 1 << 30

    /// Loaded plug-ins by resolved path, behind a lock.
    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var plugins: [String: LoadedPlugin] = [:]
    }
    private static let cache = Cache()

    /// Loads the plug-in at `libraryPath` (absolute, or relative to the working directory), or
    /// returns the one already loaded from that file. Throws `PluginError`.
    ///
    /// The library is opened with `RTLD_NOW | RTLD_LOCAL` (every symbol resolved now, none leaking
    /// into other plug-ins) and never closed: its functions are called until the process exits.
    public static func load(libraryPath: String) throws -> LoadedPlugin {
        let absolute = libraryPath.hasPrefix("/") ? libraryPath
            : URL(fileURLWithPath: libraryPath, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
        let resolved = URL(fileURLWithPath: absolute).resolvingSymlinksInPath().path
        cache.lock.lock()
        defer { cache.lock.unlock() }
        if let p = cache.plugins[resolved] { return p }
        let p = try open(resolved, shownAs: libraryPath)
        cache.plugins[resolved] = p
        return p
    }

    /// Reads, hashes, opens and validates the library at `path` (messages name `shown`).
    private static func open(_ path: String, shownAs shown: String) throws -> LoadedPlugin {
        // Read it first: a missing file, a directory or a FIFO (which dlopen would block on) is
        // reported plainly, and the digest is of the bytes that are then loaded.
        let bytes: [UInt8]
        switch BoundedFile.read(path, limit: maxLibraryBytes, truncate: false) {
        case let .success((b, _)): bytes = b
        case .failure(.open(errno: ENOENT)): throw PluginError.missingLibrary(path: shown, reason: "no such file (build the plug-in first?)")
        case let .failure(e): throw PluginError.missingLibrary(path: shown, reason: e.description)
        }
        let digest = ContentHash.fnv1a64Hex(Data(bytes))
        _ = dlerror()
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw PluginError.cannotLoad(path: shown, reason: lastDLError())
        }
        // The handle is deliberately never closed (see `load`).
        _ = dlerror()
        guard let symbol = dlsym(handle, entrySymbol) else {
            throw PluginError.missingSymbol(path: shown, symbol: entrySymbol, reason: lastDLError())
        }
        let entry = unsafeBitCast(symbol, to: fb_plugin_entry_fn.self)
        guard let description = entry() else {
            throw PluginError.invalidDescription(path: shown, reason: "\(entrySymbol)() returned NULL")
        }
        return try validate(description, path: path, shown: shown, contentHash: digest)
    }

    /// dlerror's text, or a placeholder when it has none.
    private static func lastDLError() -> String {
        guard let e = dlerror() else { return "no reason given" }
        return String(cString: e)
    }

    /// Checks the plug-in's description against the header's rules and reads it into Swift values.
    static func validate(_ d: UnsafePointer<fb_plugin>, path: String, shown: String, contentHash: String) throws -> LoadedPlugin {
        func invalid(_ reason: String) -> PluginError { .invalidDescription(path: shown, reason: reason) }
        let p = d.pointee
        // The version first: a plug-in of another version may lay out everything after it differently.
        guard Int(p.abi_version) == abiVersion else {
            throw PluginError.abiMismatch(path: shown, plugin: Int(p.abi_version), host: abiVersion)
        }
        let sizes = [("fb_plugin", p.struct_size, MemoryLayout<fb_plugin>.size), ("fb_kernel", p.kernel_size, MemoryLayout<fb_kernel>.size),
                     ("fb_variant", p.variant_size, MemoryLayout<fb_variant>.size)]
        for (type, theirs, ours) in sizes where Int(theirs) != ours {
            throw invalid("sizeof(\(type)) is \(theirs) in the plug-in but \(ours) here (same ABI version, different compilation: use FUSEBENCH_PLUGIN_HEADER and the unmodified header)")
        }
        guard let name = p.name.map({ String(cString: $0) }), !name.isEmpty else { throw invalid("the plug-in has no name") }
        guard p.kernel_count >= 1, p.kernel_count <= 4096, let kernels = p.kernels else {
            throw invalid("kernel_count must be 1 ... 4096 with a kernels array, got \(p.kernel_count)")
        }
        var out: [PluginKernel] = []
        for i in 0..<Int(p.kernel_count) {
            let k = try kernel(kernels + i, index: i, invalid: invalid)
            guard !out.contains(where: { $0.name == k.name }) else { throw invalid("two kernels are named '\(k.name)'") }
            out.append(k)
        }
        return LoadedPlugin(path: path, contentHash: contentHash, abiVersion: abiVersion, name: name, kernels: out)
    }

    /// A name as the header allows it: non-empty, letters, digits, `_`, `-` and `.`.
    static func validName(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }
    }

    /// Reads and checks one `fb_kernel`.
    private static func kernel(_ raw: UnsafePointer<fb_kernel>, index: Int, invalid: (String) -> PluginError) throws -> PluginKernel {
        let k = raw.pointee
        guard let name = k.name.map({ String(cString: $0) }), validName(name) else {
            throw invalid("kernel \(index) needs a name of letters, digits, '_', '-' and '.'")
        }
        let what = "kernel '\(name)'"
        let summary = k.summary.map { String(cString: $0) } ?? ""
        let verify = k.verify_against.map { String(cString: $0) }
        var shapeKeys: [String] = []
        var referenceName: String?
        if let verify {
            guard BufferReferences.named(verify) != nil else {
                let known = BufferReferences.all.map(\.kind).sorted().joined(separator: ", ")
                throw invalid("\(what): verify_against '\(verify)' is not a built-in kind with a reference for plug-ins (known: \(known))")
            }
            guard k.shape_key_count == 0, k.layout == nil, k.reference == nil else {
                throw invalid("\(what): with verify_against, shape_keys, layout and reference must be NULL (the built-in kind '\(verify)' defines them)")
            }
        } else {
            guard k.layout != nil else { throw invalid("\(what): needs a layout callback (or verify_against)") }
            guard let ref = k.reference else { throw invalid("\(what): needs a reference variant (or verify_against)") }
            referenceName = try variantName(ref, what: what, invalid: invalid)
            guard k.shape_key_count <= UInt32(FB_MAX_SHAPE_KEYS), k.shape_key_count == 0 || k.shape_keys != nil else {
                throw invalid("\(what): shape_key_count must be 0 ... \(FB_MAX_SHAPE_KEYS) with a shape_keys array, got \(k.shape_key_count)")
            }
            for j in 0..<Int(k.shape_key_count) {
                guard let key = k.shape_keys?[j].map({ String(cString: $0) }), validName(key), !shapeKeys.contains(key) else {
                    throw invalid("\(what): shape key \(j) must be a unique name of letters, digits, '_', '-' and '.'")
                }
                shapeKeys.append(key)
            }
        }
        guard k.variant_count >= 1, k.variant_count <= 256, let variants = k.variants else {
            throw invalid("\(what): variant_count must be 1 ... 256 with a variants array, got \(k.variant_count)")
        }
        var names: [String] = []
        for j in 0..<Int(k.variant_count) {
            let v = try variantName(variants + j, what: what, invalid: invalid)
            guard !names.contains(v), v != referenceName else { throw invalid("\(what): variant name '\(v)' is used twice") }
            names.append(v)
        }
        if verify != nil, names.contains("reference") {
            throw invalid("\(what): 'reference' names fusebench's reference of the built-in kind; give the variant another name")
        }
        if let t = k.tolerance?.pointee {
            guard t.abs >= 0, t.rel >= 0, t.abs.isFinite, t.rel.isFinite, t.min_cosine >= -1, t.min_cosine <= 1 else {
                throw invalid("\(what): tolerance must have finite abs, rel ≥ 0 and min_cosine in [-1, 1]")
            }
        }
        return PluginKernel(name: name, summary: summary, verifyAgainst: verify, shapeKeys: shapeKeys, variantNames: names,
                            referenceName: referenceName, raw: raw)
    }

    /// The name of a variant with a `run` function.
    private static func variantName(_ v: UnsafePointer<fb_variant>, what: String, invalid: (String) -> PluginError) throws -> String {
        guard let name = v.pointee.name.map({ String(cString: $0) }), validName(name) else {
            throw invalid("\(what): every variant needs a name of letters, digits, '_', '-' and '.'")
        }
        guard v.pointee.run != nil else { throw invalid("\(what): variant '\(name)' has no run function") }
        return name
    }
}
