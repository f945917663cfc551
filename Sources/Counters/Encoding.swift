// Counters — event encoding: event names (perf-list spellings, libpfm generic names, raw PMU
// events such as `amd64_fam19h_zen3::RETIRED_INSTRUCTIONS`) → the perf_event_attr fields that
// identify an event. libpfm4 does the work; a small alias table maps `perf list` spellings onto
// libpfm's generic `perf::` names.
import CLibpfm
import CPerfEvent
import Foundation

/// The fields of `perf_event_attr` that identify an event (what a name encodes to).
/// Privilege filtering (user space only) and read format are added when the event is opened.
public struct PerfEventAttr: Sendable, Hashable, CustomStringConvertible {
    /// `PERF_TYPE_*` or a dynamic PMU type from `/sys/bus/event_source/devices/*/type`.
    public var type: UInt32
    /// Event selector.
    public var config: UInt64
    /// Extra selector bits (e.g. offcore response masks).
    public var config1: UInt64
    /// More extra selector bits.
    public var config2: UInt64

    /// Creates an attribute from its identifying fields.
    public init(type: UInt32, config: UInt64, config1: UInt64 = 0, config2: UInt64 = 0) {
        self.type = type
        self.config = config
        self.config1 = config1
        self.config2 = config2
    }

    /// `PERF_TYPE_HARDWARE`.
    public static let typeHardware: UInt32 = fb_type_hardware()
    /// `PERF_TYPE_SOFTWARE`.
    public static let typeSoftware: UInt32 = fb_type_software()
    /// `PERF_TYPE_HW_CACHE`.
    public static let typeHWCache: UInt32 = fb_type_hw_cache()
    /// `PERF_TYPE_RAW`.
    public static let typeRaw: UInt32 = fb_type_raw()
    /// `PERF_TYPE_TRACEPOINT` (kernel ABI value).
    public static let typeTracepoint: UInt32 = 2
    /// `PERF_TYPE_BREAKPOINT` (kernel ABI value).
    public static let typeBreakpoint: UInt32 = 5

    /// True when the event occupies a hardware counter (everything except software, tracepoint
    /// and breakpoint events). Only these count against a group's slots.
    public var consumesCounter: Bool {
        type != Self.typeSoftware && type != Self.typeTracepoint && type != Self.typeBreakpoint
    }

    /// `PERF_TYPE_HARDWARE` event with the given `PERF_COUNT_HW_*` id.
    public static func hardware(_ id: UInt64) -> PerfEventAttr { PerfEventAttr(type: typeHardware, config: id) }
    /// `PERF_TYPE_SOFTWARE` event with the given `PERF_COUNT_SW_*` id.
    public static func software(_ id: UInt64) -> PerfEventAttr { PerfEventAttr(type: typeSoftware, config: id) }
    /// `PERF_TYPE_HW_CACHE` event: `cache | op << 8 | result << 16` (cache: 0 L1D, 1 L1I, 2 LL, 3 DTLB,
    /// 4 ITLB, 5 BPU, 6 NODE; op: 0 read, 1 write, 2 prefetch; result: 0 access, 1 miss).
    public static func cache(_ cache: UInt64, op: UInt64, miss: Bool) -> PerfEventAttr {
        PerfEventAttr(type: typeHWCache, config: cache | op << 8 | (miss ? 1 : 0) << 16)
    }

    /// Compact text such as `type=0 config=0x1`.
    public var description: String {
        var s = "type=\(type) config=0x\(String(config, radix: 16))"
        if config1 != 0 { s += " config1=0x\(String(config1, radix: 16))" }
        if config2 != 0 { s += " config2=0x\(String(config2, radix: 16))" }
        return s
    }
}

/// Turns an event name into the attribute that identifies it.
public protocol EventEncoder: Sendable {
    /// Encodes `name`; throws `CounterError.unknownEvent` naming it when it is not known.
    func encode(_ name: String) throws -> PerfEventAttr
}

/// One `perf list` spelling and what it means.
public struct EventAlias: Sendable, Hashable {
    /// The spelling `perf list` uses (`L1-dcache-load-misses`).
    public var perfName: String
    /// The libpfm4 generic name (`PERF_COUNT_HW_CACHE_L1D:READ:MISS`), or nil when libpfm has none.
    public var libpfmName: String?
    /// The kernel's generic encoding, used when libpfm cannot encode `libpfmName`.
    public var attr: PerfEventAttr
}

/// The `perf list` spellings of the kernel's generic events and their libpfm4 names.
public enum EventAliases {
    private static func hw(_ perf: String, _ pfm: String, _ id: UInt64) -> EventAlias {
        EventAlias(perfName: perf, libpfmName: "PERF_COUNT_HW_\(pfm)", attr: .hardware(id))
    }
    private static func sw(_ perf: String, _ pfm: String?, _ id: UInt64) -> EventAlias {
        EventAlias(perfName: perf, libpfmName: pfm.map { "PERF_COUNT_SW_\($0)" }, attr: .software(id))
    }
    private static func cache(_ perf: String, _ pfmCache: String, _ cacheID: UInt64, _ op: UInt64, miss: Bool) -> EventAlias {
        let pfmOp = ["READ", "WRITE", "PREFETCH"][Int(op)]
        return EventAlias(perfName: perf, libpfmName: "PERF_COUNT_HW_CACHE_\(pfmCache):\(pfmOp):\(miss ? "MISS" : "ACCESS")",
                          attr: .cache(cacheID, op: op, miss: miss))
    }

    /// Every alias, in `perf list` order.
    public static let all: [EventAlias] = {
        var a: [EventAlias] = [
            hw("cycles", "CPU_CYCLES", 0), hw("cpu-cycles", "CPU_CYCLES", 0),
            hw("instructions", "INSTRUCTIONS", 1),
            hw("cache-references", "CACHE_REFERENCES", 2), hw("cache-misses", "CACHE_MISSES", 3),
            hw("branches", "BRANCH_INSTRUCTIONS", 4), hw("branch-instructions", "BRANCH_INSTRUCTIONS", 4),
            hw("branch-misses", "BRANCH_MISSES", 5), hw("bus-cycles", "BUS_CYCLES", 6),
            hw("stalled-cycles-frontend", "STALLED_CYCLES_FRONTEND", 7), hw("idle-cycles-frontend", "STALLED_CYCLES_FRONTEND", 7),
            hw("stalled-cycles-backend", "STALLED_CYCLES_BACKEND", 8), hw("idle-cycles-backend", "STALLED_CYCLES_BACKEND", 8),
            hw("ref-cycles", "REF_CPU_CYCLES", 9),
            sw("cpu-clock", "CPU_CLOCK", 0), sw("task-clock", "TASK_CLOCK", 1),
            sw("page-faults", "PAGE_FAULTS", 2), sw("faults", "PAGE_FAULTS", 2),
            sw("context-switches", "CONTEXT_SWITCHES", 3), sw("cs", "CONTEXT_SWITCHES", 3),
            sw("cpu-migrations", "CPU_MIGRATIONS", 4), sw("migrations", "CPU_MIGRATIONS", 4),
            sw("minor-faults", "PAGE_FAULTS_MIN", 5), sw("major-faults", "PAGE_FAULTS_MAJ", 6),
            // libpfm4 4.13 has no entry for these two; the kernel ids are used directly.
            sw("alignment-faults", nil, 7), sw("emulation-faults", nil, 8),
        ]
        // (perf prefix, libpfm cache name, cache id, ops perf lists for it)
        let caches: [(String, String, UInt64, [UInt64])] = [
            ("L1-dcache", "L1D", 0, [0, 1, 2]), ("L1-icache", "L1I", 1, [0, 2]), ("LLC", "LL", 2, [0, 1, 2]),
            ("dTLB", "DTLB", 3, [0, 1, 2]), ("iTLB", "ITLB", 4, [0]), ("branch", "BPU", 5, [0]),
            ("node", "NODE", 6, [0, 1, 2]),
        ]
        let opNames = ["load", "store", "prefetch"]
        for (prefix, pfm, id, ops) in caches {
            for op in ops {
                let verb = opNames[Int(op)]
                a.append(cache("\(prefix)-\(verb)s", pfm, id, op, miss: false))
                a.append(cache("\(prefix)-\(verb)-misses", pfm, id, op, miss: true))
            }
        }
        return a
    }()

    /// Aliases keyed by their `perf list` spelling.
    public static let byName: [String: EventAlias] = Dictionary(all.map { ($0.perfName, $0) }, uniquingKeysWith: { a, _ in a })

    /// The alias for a `perf list` spelling, if there is one.
    public static func alias(for name: String) -> EventAlias? { byName[name] }
}

/// libpfm4 is initialised once per process; the result is kept for every later call.
private let libpfmInitResult: Int32 = pfm_initialize()
/// libpfm4's encoder keeps internal state; calls are serialised.
private let libpfmLock = NSLock()

/// Runs `body` with libpfm4 initialised and locked; fails with libpfm's message when
/// initialisation failed.
func withLibpfm<T>(_ body: () -> T) -> Result<T, LibpfmInitError> {
    libpfmLock.lock()
    defer { libpfmLock.unlock() }
    guard libpfmInitResult == PFM_SUCCESS else {
        return .failure(LibpfmInitError(message: String(cString: pfm_strerror(libpfmInitResult))))
    }
    return .success(body())
}

/// libpfm4 could not be initialised.
struct LibpfmInitError: Error { var message: String }

/// The real encoder: libpfm4's `pfm_get_os_event_encoding(..., PFM_PLM3, PFM_OS_PERF_EVENT_EXT, ...)`.
///
/// Lookup order: a name containing `::` is a raw PMU event and goes straight to libpfm; a `perf list`
/// spelling goes through `EventAliases` to libpfm's generic name (falling back to the kernel's generic
/// encoding when libpfm has no entry); anything else is passed to libpfm as written
/// (`PERF_COUNT_HW_CPU_CYCLES`, `CYCLES`, `RETIRED_INSTRUCTIONS` on a PMU libpfm detected).
public struct LibpfmEncoder: EventEncoder {
    /// Creates the encoder (libpfm4 is initialised on first use).
    public init() {}

    /// Encodes `name` for user space only; throws `CounterError.unknownEvent` naming it.
    public func encode(_ name: String) throws -> PerfEventAttr {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw CounterError.unknownEvent(name: name, reason: "empty event name") }
        if !trimmed.contains("::"), let alias = EventAliases.alias(for: trimmed) {
            if let pfmName = alias.libpfmName, case let .success(attr) = Self.libpfmEncode(pfmName) {
                return attr
            }
            return alias.attr
        }
        switch Self.libpfmEncode(trimmed) {
        case let .success(attr): return attr
        case let .failure(reason): throw CounterError.unknownEvent(name: name, reason: reason.message)
        }
    }

    /// Why libpfm4 rejected a name.
    struct Rejection: Error { var message: String }

    /// Asks libpfm4 for the encoding of `name` at privilege level 3 (user space).
    static func libpfmEncode(_ name: String) -> Result<PerfEventAttr, Rejection> {
        let outcome = withLibpfm { () -> Result<PerfEventAttr, Rejection> in
            var attr = perf_event_attr()
            var arg = pfm_perf_encode_arg_t()
            arg.size = MemoryLayout<pfm_perf_encode_arg_t>.size
            let rc = withUnsafeMutablePointer(to: &attr) { attrPtr -> Int32 in
                arg.attr = attrPtr
                arg.fstr = nil
                return pfm_get_os_event_encoding(name, Int32(PFM_PLM3), PFM_OS_PERF_EVENT_EXT, &arg)
            }
            guard rc == PFM_SUCCESS else {
                return .failure(Rejection(message: "libpfm4: \(String(cString: pfm_strerror(rc)))"))
            }
            return .success(PerfEventAttr(type: attr.type, config: attr.config, config1: attr.config1, config2: attr.config2))
        }
        switch outcome {
        case let .success(result): return result
        case let .failure(initError): return .failure(Rejection(message: "libpfm4 initialisation failed: \(initError.message)"))
        }
    }
}

/// An encoder backed by a fixed table: a test double, and a way to run without libpfm4.
/// `TableEncoder.generic` knows every `perf list` alias with the kernel's generic encoding.
public struct TableEncoder: EventEncoder {
    /// Name → attribute.
    public var table: [String: PerfEventAttr]

    /// Creates an encoder from a table.
    public init(_ table: [String: PerfEventAttr]) { self.table = table }

    /// The kernel's generic events under their `perf list` spellings.
    public static var generic: TableEncoder {
        TableEncoder(Dictionary(EventAliases.all.map { ($0.perfName, $0.attr) }, uniquingKeysWith: { a, _ in a }))
    }

    /// Looks `name` up; throws `CounterError.unknownEvent` naming it when absent.
    public func encode(_ name: String) throws -> PerfEventAttr {
        guard let attr = table[name] else { throw CounterError.unknownEvent(name: name, reason: "not in the event table") }
        return attr
    }
}
