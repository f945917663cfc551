// Counters — CounterSession: start-up probing (PMU present? how many events count together?),
// planning requested events into groups, keeping the groups open, enabling/reading them, and
// turning two reads into scaled `CounterValue`s.
import BenchModel
import CPerfEvent
import Foundation

/// Open counter groups for one run, used from the measuring thread only.
///
/// Requested events are encoded, checked one by one, and split into groups of at most `slots`
/// counter-consuming events (software events ride along without using a slot). All groups stay
/// open for the session; the runner enables one group per repetition (`group(forRepetition:)`)
/// instead of relying on kernel multiplexing, and reads it before and after each batch.
public final class CounterSession {
    /// How the events were grouped and which were unsupported.
    public let plan: CounterPlan

    private let syscalls: PerfSyscalls
    /// Per group: fds in member order (leader first).
    private var fds: [[Int32]]
    private var enabled: [Bool]
    private var closed = false

    /// Number of counter groups (0 when no requested event could be opened).
    public var groupCount: Int { plan.groups.count }

    /// Variable name that turns counters off for a run.
    public static let disableVariable = "FUSEBENCH_NO_COUNTERS"
    /// Largest group size the probe tries.
    public static let maxProbedSlots = 8

    /// Reads `/proc/sys/kernel/perf_event_paranoid`; nil when it cannot be read (e.g. not Linux).
    public static func systemParanoidLevel() -> Int? {
        guard case let .success((bytes, _)) = BoundedFile.read("/proc/sys/kernel/perf_event_paranoid") else { return nil }
        return Int(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The machine's own capability, as the machine fingerprint records it: ``probe`` with
    /// `FUSEBENCH_NO_COUNTERS` ignored (the variable selects a run's counters, not the machine).
    public static func probeMachine(syscalls: PerfSyscalls, encoder: EventEncoder, environment: [String: String]) -> CounterAvailability {
        var machineEnvironment = environment
        machineEnvironment[disableVariable] = nil
        return probe(syscalls: syscalls, encoder: encoder, environment: machineEnvironment)
    }

    /// Decides whether hardware counters can be used and how many count together in one group.
    ///
    /// In order: `FUSEBENCH_NO_COUNTERS` set (not `0`) → unavailable; perf_event_paranoid ≥ 3 →
    /// unavailable; `instructions` cannot be encoded or opened → unavailable ("no hardware PMU: …").
    /// Then groups of k = 1…`maxProbedSlots` events (alternating `cycles`/`instructions`) are opened,
    /// enabled around a short busy loop and read; the answer is the largest k for which every member
    /// read > 0 and time_running == time_enabled. A successful open is not trusted on its own.
    /// - Parameters:
    ///   - paranoid: perf_event_paranoid level; defaults to the system's (tests inject a value).
    public static func probe(syscalls: PerfSyscalls, encoder: EventEncoder, environment: [String: String],
                             paranoid: Int? = systemParanoidLevel()) -> CounterAvailability {
        if let value = environment[disableVariable], !value.isEmpty, value != "0" {
            return .unavailable(reason: "\(disableVariable)=\(value)")
        }
        if let level = paranoid, level >= 3 {
            return .unavailable(reason: "perf_event_paranoid=\(level): perf events are disabled for unprivileged users (needs ≤ 2)")
        }
        let cycles: PerfEventAttr
        let instructions: PerfEventAttr
        do {
            cycles = try encoder.encode("cycles")
            instructions = try encoder.encode("instructions")
        } catch {
            return .unavailable(reason: "cannot encode generic hardware events: \(error)")
        }
        switch syscalls.open(attr: instructions, groupFD: -1) {
        case let .success(fd):
            syscalls.close(fd)
        case let .failure(errno):
            if errno.isPermissionError {
                return .unavailable(reason: "perf_event_open not permitted for instructions: \(errno)")
            }
            return .unavailable(reason: "no hardware PMU: instructions: \(errno)")
        }
        var best = 0
        var firstFailure = ""
        for k in 1...maxProbedSlots {
            let attrs = (0..<k).map { $0 % 2 == 0 ? cycles : instructions }
            switch probeGroup(attrs, syscalls: syscalls) {
            case .counted:
                best = k
                continue
            case let .failed(why):
                firstFailure = why
            }
            break
        }
        if best == 0 {
            return .unavailable(reason: "hardware counters open but do not count: \(firstFailure)")
        }
        return .available(slots: best)
    }

    private enum ProbeOutcome { case counted, failed(String) }

    /// Opens `attrs` as one group, counts a busy loop, and checks every member counted all the time.
    private static func probeGroup(_ attrs: [PerfEventAttr], syscalls: PerfSyscalls) -> ProbeOutcome {
        var opened: [Int32] = []
        defer { for fd in opened.reversed() { syscalls.close(fd) } }
        for attr in attrs {
            switch syscalls.open(attr: attr, groupFD: opened.first ?? -1) {
            case let .success(fd): opened.append(fd)
            case let .failure(errno): return .failed("opening event \(opened.count + 1) of \(attrs.count) failed: \(errno)")
            }
        }
        let leader = opened[0]
        guard case .success = syscalls.resetGroup(leader), case .success = syscalls.enableGroup(leader) else {
            return .failed("enabling a group of \(attrs.count) failed")
        }
        busyLoop(iterations: 200_000)
        let read = syscalls.readGroup(leader, count: opened.count)
        _ = syscalls.disableGroup(leader)
        guard let r = read else { return .failed("reading a group of \(attrs.count) failed") }
        if let zero = r.values.firstIndex(of: 0) {
            return .failed("in a group of \(attrs.count), event \(zero + 1) read 0")
        }
        if r.timeEnabled == 0 || r.timeRunning != r.timeEnabled {
            return .failed("a group of \(attrs.count) was multiplexed (running \(r.timeRunning) of \(r.timeEnabled) ns)")
        }
        return .counted
    }

    /// A short, side-effect-free busy loop the optimizer cannot remove.
    static func busyLoop(iterations: Int) {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in 0..<iterations {
            x = (x ^ UInt64(truncatingIfNeeded: i)) &* 0x2545_F491_4F6C_DD1D
            x ^= x >> 29
        }
        withUnsafePointer(to: &x) { fb_black_hole($0) }
    }

    /// Encodes, checks and groups `events`, and opens every group (leaders disabled).
    ///
    /// - Unknown names throw `CounterError.unknownEvent` (always: a typo must not pass silently).
    /// - Each event is opened once on its own; one that fails is unsupported: with `strict` the
    ///   error is thrown, otherwise it is recorded in `plan.unsupported` with the reason.
    /// - Supported events are split in request order into groups of at most `slots`
    ///   counter-consuming events; duplicates are counted once.
    /// - Throws: `CounterError`; on any error every fd opened so far is closed.
    public init(events: [String], slots: Int, syscalls: PerfSyscalls, encoder: EventEncoder, strict: Bool) throws {
        guard slots >= 1 else { throw CounterError.invalidSlots(slots) }
        self.syscalls = syscalls
        var seen = Set<String>()
        let unique = events.filter { seen.insert($0).inserted }

        var encoded: [(name: String, attr: PerfEventAttr)] = []
        for name in unique {
            encoded.append((name, try encoder.encode(name)))
        }

        var supported: [(name: String, attr: PerfEventAttr)] = []
        var unsupported: [String: String] = [:]
        for event in encoded {
            switch syscalls.open(attr: event.attr, groupFD: -1) {
            case let .success(fd):
                syscalls.close(fd)
                supported.append(event)
            case let .failure(errno):
                if strict { throw CounterError.unsupportedEvent(name: event.name, errno: errno) }
                unsupported[event.name] = Self.unsupportedReason(errno)
            }
        }

        var groups: [[(name: String, attr: PerfEventAttr)]] = []
        var current: [(name: String, attr: PerfEventAttr)] = []
        var used = 0
        for event in supported {
            let cost = event.attr.consumesCounter ? 1 : 0
            if used + cost > slots {
                groups.append(current)
                current = []
                used = 0
            }
            current.append(event)
            used += cost
        }
        if !current.isEmpty { groups.append(current) }

        var allFDs: [[Int32]] = []
        for group in groups {
            var groupFDs: [Int32] = []
            for event in group {
                switch syscalls.open(attr: event.attr, groupFD: groupFDs.first ?? -1) {
                case let .success(fd):
                    groupFDs.append(fd)
                case let .failure(errno):
                    for fd in (allFDs.flatMap { $0 } + groupFDs).reversed() { syscalls.close(fd) }
                    throw CounterError.groupOpenFailed(events: group.map(\.name), failing: event.name, errno: errno)
                }
            }
            allFDs.append(groupFDs)
        }
        self.fds = allFDs
        self.enabled = Array(repeating: false, count: allFDs.count)
        self.plan = CounterPlan(groups: groups.map { $0.map(\.name) }, slotsPerGroup: slots, unsupported: unsupported)
    }

    deinit { close() }

    /// The text stored for an unsupported event.
    static func unsupportedReason(_ errno: PerfErrno) -> String {
        let hint: String
        switch errno {
        case .ENOENT, .EOPNOTSUPP, .ENODEV: hint = "not supported by this PMU/kernel"
        case .EACCES, .EPERM: hint = "not permitted (perf_event_paranoid or capabilities)"
        case .EINVAL: hint = "invalid for this PMU"
        default: hint = "cannot be opened"
        }
        return "\(hint): perf_event_open failed with \(errno)"
    }

    private func check(_ group: Int) throws {
        if closed { throw CounterError.sessionClosed }
        guard group >= 0, group < fds.count else { throw CounterError.invalidGroup(index: group, groupCount: fds.count) }
    }

    private func ioctl(_ op: String, _ group: Int, _ call: (Int32) -> Result<Void, PerfErrno>) throws {
        try check(group)
        if case let .failure(errno) = call(fds[group][0]) {
            throw CounterError.ioctlFailed(operation: op, events: plan.groups[group], errno: errno)
        }
    }

    /// Starts group `group` counting (the whole group, with `PERF_IOC_FLAG_GROUP`).
    public func enable(group: Int) throws {
        try ioctl("enable", group, syscalls.enableGroup)
        enabled[group] = true
    }

    /// Stops group `group` counting.
    public func disable(group: Int) throws {
        try ioctl("disable", group, syscalls.disableGroup)
        enabled[group] = false
    }

    /// Zeroes the counts of group `group` (deltas make this unnecessary; offered for tools).
    public func reset(group: Int) throws {
        try ioctl("reset", group, syscalls.resetGroup)
    }

    /// True while group `group` is enabled by this session.
    public func isEnabled(group: Int) -> Bool { group >= 0 && group < enabled.count && enabled[group] }

    /// One `read(2)` of group `group`: values in `plan.groups[group]` order plus the group's times.
    public func read(group: Int) throws -> GroupRead {
        try check(group)
        guard let r = syscalls.readGroup(fds[group][0], count: fds[group].count) else {
            throw CounterError.readFailed(events: plan.groups[group])
        }
        return r
    }

    /// Counter values of group `group` between two reads, backend `hw`.
    ///
    /// Per event: `raw` = value delta; `timeEnabled`/`timeRunning` = the group's time deltas; `value` =
    /// `raw` when the group ran all the time, `raw × enabled / running` when it was multiplexed, and 0 when
    /// it never ran (then `CounterValue.multiplexed` is true, so the value is flagged, never trusted).
    /// Events beyond the reads' length (a malformed read) are left out.
    public func deltas(group: Int, from: GroupRead, to: GroupRead) -> [CounterValue] {
        guard group >= 0, group < plan.groups.count else { return [] }
        return Self.deltas(events: plan.groups[group], from: from, to: to, backend: .hw)
    }

    /// The scaling rule of `deltas(group:from:to:)` for any event list (pure function).
    public static func deltas(events: [String], from: GroupRead, to: GroupRead, backend: CounterBackend) -> [CounterValue] {
        let enabledDelta = to.timeEnabled >= from.timeEnabled ? to.timeEnabled - from.timeEnabled : 0
        let runningDelta = to.timeRunning >= from.timeRunning ? to.timeRunning - from.timeRunning : 0
        let n = min(events.count, from.values.count, to.values.count)
        return (0..<n).map { i in
            let raw = to.values[i] >= from.values[i] ? to.values[i] - from.values[i] : 0
            return CounterValue(event: events[i],
                                value: scaled(raw: raw, enabled: enabledDelta, running: runningDelta),
                                raw: raw, timeEnabled: enabledDelta, timeRunning: runningDelta, backend: backend)
        }
    }

    /// `raw` scaled to the enabled time: unchanged when running ≥ enabled, `raw × enabled / running`
    /// when 0 < running < enabled, and 0 when the event never ran.
    public static func scaled(raw: UInt64, enabled: UInt64, running: UInt64) -> Double {
        if running >= enabled { return Double(raw) }
        if running == 0 { return 0 }
        return Double(raw) * (Double(enabled) / Double(running))
    }

    /// Closes every fd (idempotent; also done on deinit).
    public func close() {
        guard !closed else { return }
        closed = true
        for group in fds {
            for fd in group.reversed() { syscalls.close(fd) }
        }
        fds = []
        enabled = []
    }

    /// Group to count in repetition `r`: `r % groupCount` (0 when there are no groups — check
    /// `groupCount` first; enabling a group of an empty session throws `invalidGroup`).
    public func group(forRepetition r: Int) -> Int {
        guard groupCount > 0 else { return 0 }
        let g = r % groupCount
        return g < 0 ? g + groupCount : g
    }
}
