// Counters — FakePMU, a deterministic in-memory `PerfSyscalls` test double that reproduces the
// behaviours seen on real machines of this kind: a limited number of counters per group (the
// Zen 3 guest's 6th event opened but read 0), events the PMU rejects with ENOENT, no PMU at all,
// and kernel multiplexing (time_running < time_enabled). Public so other modules' tests can use it.

/// A fake PMU for tests. Not thread-safe: use one instance from one thread.
///
/// Counting is deterministic: every `readGroup` of an *enabled* group first advances the group by
/// one tick — `timeEnabled += tickNs`, `timeRunning += tickNs × runningFraction`, and each counting
/// member's value by `rate × runningFraction` (rate from `rates`, else `defaultRate`). Reads of a
/// disabled group return the current values unchanged. Software events (`consumesCounter == false`)
/// always open and count, even in no-PMU mode, and never use a slot.
public final class FakePMU: PerfSyscalls {
    /// What happens to a hardware event beyond `slots` in one group.
    public enum OverflowBehavior: Sendable, Hashable {
        /// Opens fine but always reads 0 (the Zen 3 guest's 6th event).
        case readsZero
        /// The open fails with this errno (what a bare-metal x86 PMU does: EINVAL).
        case openFails(PerfErrno)
        /// Opens fine but the whole group is never scheduled: time_running stays 0.
        case notScheduled
    }

    /// Hardware counters available to one group.
    public var slots: Int
    /// Events whose open fails with ENOENT (matched on the whole attribute).
    public var unsupported: Set<PerfEventAttr>
    /// When false, every counter-consuming event fails to open with `noPMUErrno`.
    public var hasPMU: Bool
    /// Errno for hardware events in no-PMU mode (a KVM guest without PMU gives ENOENT).
    public var noPMUErrno: PerfErrno
    /// Behaviour for events beyond `slots`.
    public var overflow: OverflowBehavior
    /// Fraction of enabled time the group actually counts (1 = no multiplexing).
    public var runningFraction: Double
    /// Nanoseconds of enabled time per read of an enabled group.
    public var tickNs: UInt64
    /// Count added per tick for specific events.
    public var rates: [PerfEventAttr: UInt64]
    /// Count added per tick for events not in `rates`.
    public var defaultRate: UInt64
    /// When true, every `readGroup` fails (returns nil).
    public var failReads: Bool

    /// Every attribute passed to `open`, in call order (including failed opens).
    public private(set) var openCalls: [PerfEventAttr] = []
    /// Number of `readGroup` calls.
    public private(set) var readCalls = 0

    private struct Event {
        var attr: PerfEventAttr
        var leader: Int32
        var value: UInt64 = 0
        var countsAtAll: Bool
    }
    private struct Group {
        var members: [Int32]
        var enabled = false
        var scheduled = true
        var timeEnabled: UInt64 = 0
        var timeRunning: UInt64 = 0
    }
    private var events: [Int32: Event] = [:]
    private var groups: [Int32: Group] = [:]
    private var nextFD: Int32 = 1000

    /// Creates a fake PMU.
    /// - Parameters:
    ///   - slots: hardware counters per group (the Zen 3 guest: 5).
    ///   - unsupported: attributes whose open fails with ENOENT.
    ///   - hasPMU: false for a machine without a hardware PMU.
    ///   - noPMUErrno: errno hardware events get when `hasPMU` is false.
    ///   - overflow: what an event beyond `slots` does.
    ///   - runningFraction: time_running / time_enabled (below 1 simulates multiplexing).
    ///   - tickNs: enabled nanoseconds per read.
    ///   - rates: per-event count per tick.
    ///   - defaultRate: count per tick for other events.
    public init(slots: Int = 5, unsupported: Set<PerfEventAttr> = [], hasPMU: Bool = true,
                noPMUErrno: PerfErrno = .ENOENT, overflow: OverflowBehavior = .readsZero,
                runningFraction: Double = 1.0, tickNs: UInt64 = 1_000_000,
                rates: [PerfEventAttr: UInt64] = [:], defaultRate: UInt64 = 1000) {
        self.slots = slots
        self.unsupported = unsupported
        self.hasPMU = hasPMU
        self.noPMUErrno = noPMUErrno
        self.overflow = overflow
        self.runningFraction = runningFraction
        self.tickNs = tickNs
        self.rates = rates
        self.defaultRate = defaultRate
        self.failReads = false
    }

    /// Number of fds currently open (0 after everything was closed: tests use it to find leaks).
    public var openFDCount: Int { events.count }

    /// Opens an event following the configured behaviour.
    public func open(attr: PerfEventAttr, groupFD: Int32) -> Result<Int32, PerfErrno> {
        openCalls.append(attr)
        if attr.consumesCounter && !hasPMU { return .failure(noPMUErrno) }
        if unsupported.contains(attr) { return .failure(.ENOENT) }
        var countsAtAll = true
        var unschedulable = false
        if groupFD != -1 {
            guard let group = groups[groupFD] else { return .failure(.EBADF) }
            if attr.consumesCounter {
                let used = group.members.filter { events[$0]?.attr.consumesCounter == true }.count
                if used + 1 > slots {
                    switch overflow {
                    case .readsZero: countsAtAll = false
                    case let .openFails(errno): return .failure(errno)
                    case .notScheduled: unschedulable = true
                    }
                }
            }
        } else if attr.consumesCounter && slots < 1 {
            switch overflow {
            case .readsZero: countsAtAll = false
            case let .openFails(errno): return .failure(errno)
            case .notScheduled: unschedulable = true
            }
        }
        let fd = nextFD
        nextFD += 1
        let leader = groupFD == -1 ? fd : groupFD
        events[fd] = Event(attr: attr, leader: leader, countsAtAll: countsAtAll)
        if groupFD == -1 {
            groups[fd] = Group(members: [fd], scheduled: !unschedulable)
        } else {
            groups[leader]?.members.append(fd)
            if unschedulable { groups[leader]?.scheduled = false }
        }
        return .success(fd)
    }

    /// The leader of the group `fd` belongs to (the ioctls act on the whole group either way).
    private func leader(of fd: Int32) -> Int32? {
        guard let e = events[fd], groups[e.leader] != nil else { return nil }
        return e.leader
    }

    /// Starts the group counting.
    public func enableGroup(_ fd: Int32) -> Result<Void, PerfErrno> {
        guard let l = leader(of: fd) else { return .failure(.EBADF) }
        groups[l]?.enabled = true
        return .success(())
    }

    /// Stops the group counting.
    public func disableGroup(_ fd: Int32) -> Result<Void, PerfErrno> {
        guard let l = leader(of: fd) else { return .failure(.EBADF) }
        groups[l]?.enabled = false
        return .success(())
    }

    /// Zeroes the group's counts (times keep their values, as in the kernel).
    public func resetGroup(_ fd: Int32) -> Result<Void, PerfErrno> {
        guard let l = leader(of: fd), let group = groups[l] else { return .failure(.EBADF) }
        for m in group.members { events[m]?.value = 0 }
        return .success(())
    }

    /// Advances an enabled group by one tick, then returns its values in open order.
    public func readGroup(_ fd: Int32, count: Int) -> GroupRead? {
        readCalls += 1
        guard !failReads, let group = groups[fd], events[fd]?.leader == fd else { return nil }
        let members = group.members.filter { events[$0] != nil }
        guard members.count == count else { return nil }
        if group.enabled {
            let fraction = group.scheduled ? min(max(runningFraction, 0), 1) : 0
            groups[fd]?.timeEnabled += tickNs
            groups[fd]?.timeRunning += UInt64((Double(tickNs) * fraction).rounded())
            for m in members {
                guard let e = events[m], e.countsAtAll else { continue }
                let rate = rates[e.attr] ?? defaultRate
                events[m]?.value += UInt64((Double(rate) * fraction).rounded())
            }
        }
        let g = groups[fd]!
        return GroupRead(values: members.map { events[$0]!.value }, timeEnabled: g.timeEnabled,
                         timeRunning: g.timeRunning, ids: members.map { UInt64($0) })
    }

    /// Closes one fd; closing a leader ends its group.
    public func close(_ fd: Int32) {
        guard let e = events.removeValue(forKey: fd) else { return }
        if e.leader == fd {
            groups[fd] = nil
        } else {
            groups[e.leader]?.members.removeAll { $0 == fd }
        }
    }
}
