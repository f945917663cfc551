// The registry maps a suite's op `kind` to the factory that describes and creates its kernels.
import Foundation

/// Thread-safe map from kernel kind (`gemm`, `bias_relu`, ...) to its `KernelFactory`.
///
/// `KernelRegistry.shared` starts with the built-in kernels; a user registers their own with
/// `register(_:)` before loading suites. Separate instances (e.g. in tests) are independent.
public final class KernelRegistry: @unchecked Sendable {
    // @unchecked: `factories` is only touched while holding `lock`. (`Synchronization.Mutex`
    // would make this checked, but needs macOS 15 and the package supports macOS 13.)
    private let lock = NSLock()
    private var factories: [String: any KernelFactory] = [:]

    /// The kernels that ship with fusebench.
    public static var builtInFactories: [any KernelFactory] {
        [
            GEMMFactory(), Int8GEMMFactory(), BiasReLUFactory(), LinearFactory(), BatchedGEMMFactory(), GEMVFactory(),
            Conv2DFactory(), DepthwiseConvFactory(),
            RowNormFactory(.layernorm), RowNormFactory(.rmsnorm), RowNormFactory(.softmax),
            ActivationFactory(.relu), ActivationFactory(.silu), ActivationFactory(.geluTanh), ActivationFactory(.geluErf),
            AttentionFactory(), PoolFactory(.max), PoolFactory(.avg), BroadcastFactory(.add), BroadcastFactory(.mul),
        ]
    }

    /// Process-wide registry, pre-filled with `builtInFactories`.
    public static let shared = KernelRegistry()

    /// Creates a registry holding `factories` (the built-ins by default).
    ///
    /// Later entries with an already present kind replace earlier ones.
    public init(_ factories: [any KernelFactory] = KernelRegistry.builtInFactories) {
        for f in factories { self.factories[f.kind] = f }
    }

    /// Adds a factory. Throws `KernelSpecError` (key `kind`) when the kind is already taken,
    /// unless `replacing` is true.
    public func register(_ factory: any KernelFactory, replacing: Bool = false) throws {
        try lock.withLock {
            if !replacing, factories[factory.kind] != nil {
                throw KernelSpecError(key: "kind", "kernel kind '\(factory.kind)' is already registered")
            }
            factories[factory.kind] = factory
        }
    }

    /// The factory for `kind`, or nil.
    public func factory(kind: String) -> (any KernelFactory)? {
        lock.withLock { factories[kind] }
    }

    /// The factory for `kind`; throws `KernelSpecError` (key `kind`) listing the known kinds otherwise.
    public func require(kind: String) throws -> any KernelFactory {
        if let f = factory(kind: kind) { return f }
        let known = all.map(\.kind).joined(separator: ", ")
        throw KernelSpecError(key: "kind", "unknown op kind '\(kind)' (known: \(known))")
    }

    /// Every registered factory, sorted by kind.
    public var all: [any KernelFactory] {
        lock.withLock { factories.values.sorted { $0.kind < $1.kind } }
    }
}
