// Counters: hardware performance counters for fusebench. This module owns
//   - event names → perf_event_attr encoding through libpfm4 (perf-list aliases, raw PMU events),
//   - the perf_event syscalls behind a protocol (`LinuxPerf` real, `FakePMU` test double),
//   - start-up probing (is there a PMU at all, how many events really count together in a group),
//   - splitting requested events into groups of at most that size and rotating them,
//   - reading groups and turning two reads into scaled `CounterValue`s (backend `hw`),
//   - measuring the cost of one group read, and listing what events this machine knows.
// Everything here is used from one thread (the runner's measuring thread); events count the
// calling thread only, user space only (exclude_kernel, exclude_hv).
import BenchModel
import Foundation

/// Errors raised while encoding, opening, controlling or reading counters. Every message names the
/// event(s) involved so a user can fix the suite file.
public enum CounterError: Error, CustomStringConvertible, Sendable, Equatable {
    /// libpfm4 (and the alias table) do not know this event name.
    case unknownEvent(name: String, reason: String)
    /// The event encodes but the kernel refuses to open it (e.g. `LLC-load-misses` → ENOENT).
    case unsupportedEvent(name: String, errno: PerfErrno)
    /// A group size below 1 was requested.
    case invalidSlots(Int)
    /// Opening a member of a group failed although the event opened on its own.
    case groupOpenFailed(events: [String], failing: String, errno: PerfErrno)
    /// An enable/disable/reset ioctl on a group failed.
    case ioctlFailed(operation: String, events: [String], errno: PerfErrno)
    /// Reading a group failed or returned a malformed buffer.
    case readFailed(events: [String])
    /// A group index outside `0..<groupCount`.
    case invalidGroup(index: Int, groupCount: Int)
    /// The session was closed; its file descriptors are gone.
    case sessionClosed

    /// Human-readable message naming the events involved.
    public var description: String {
        switch self {
        case let .unknownEvent(name, reason):
            return "unknown counter event '\(name)': \(reason) (run `fusebench list events` to see what this machine knows)"
        case let .unsupportedEvent(name, errno):
            return "counter event '\(name)' is not supported here: perf_event_open failed with \(errno)"
        case let .invalidSlots(n):
            return "invalid counter group size \(n): must be at least 1"
        case let .groupOpenFailed(events, failing, errno):
            return "opening counter group [\(events.joined(separator: ", "))] failed at '\(failing)': \(errno)"
        case let .ioctlFailed(operation, events, errno):
            return "\(operation) of counter group [\(events.joined(separator: ", "))] failed: \(errno)"
        case let .readFailed(events):
            return "reading counter group [\(events.joined(separator: ", "))] failed"
        case let .invalidGroup(index, count):
            return "counter group \(index) does not exist (session has \(count) group\(count == 1 ? "" : "s"))"
        case .sessionClosed:
            return "counter session is closed"
        }
    }
}

/// How the requested events were laid out into groups, and which could not be counted.
public struct CounterPlan: Sendable, Hashable {
    /// Event names per group, in the order they are read back. Each group is opened together
    /// and counts together; groups are rotated across repetitions.
    public var groups: [[String]]
    /// Maximum number of counter-consuming (hardware) events per group.
    public var slotsPerGroup: Int
    /// Events that encoded but could not be opened here, with the reason (never silently dropped).
    public var unsupported: [String: String]

    /// Creates a plan.
    public init(groups: [[String]], slotsPerGroup: Int, unsupported: [String: String]) {
        self.groups = groups
        self.slotsPerGroup = slotsPerGroup
        self.unsupported = unsupported
    }

    /// All events that will be counted, in group order.
    public var countedEvents: [String] { groups.flatMap { $0 } }
}

/// Result of probing the machine for usable hardware counters.
public enum CounterAvailability: Sendable, Hashable {
    /// Hardware counters work; `slots` events count together reliably in one group.
    case available(slots: Int)
    /// No hardware counters; the run is timing-only (or uses the sim backend) and says why.
    case unavailable(reason: String)

    /// True for `.available`.
    public var isAvailable: Bool {
        if case .available = self { return true }
        return false
    }

    /// Usable group size, or nil when unavailable.
    public var slots: Int? {
        if case let .available(slots) = self { return slots }
        return nil
    }

    /// The reason counters are unavailable, or nil when available.
    public var reason: String? {
        if case let .unavailable(reason) = self { return reason }
        return nil
    }
}
