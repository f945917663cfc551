// Tests for start-up probing with the FakePMU (no real perf events are opened here).
import Counters
import Testing

@Suite struct ProbeTests {
    let encoder = TableEncoder.generic

    func probe(_ pmu: FakePMU, environment: [String: String] = [:], paranoid: Int? = 2) -> CounterAvailability {
        CounterSession.probe(syscalls: pmu, encoder: encoder, environment: environment, paranoid: paranoid)
    }

    @Test(arguments: [4, 5, 6])
    func findsTheSlotCountWhereEveryMemberCounts(slots: Int) {
        // Members beyond `slots` open but read 0 (the Zen 3 guest's 6th event).
        let pmu = FakePMU(slots: slots)
        #expect(probe(pmu) == .available(slots: slots))
        #expect(pmu.openFDCount == 0)
    }

    @Test func openFailureBeyondTheSlotsStopsTheProbe() {
        #expect(probe(FakePMU(slots: 5, overflow: .openFails(.EINVAL))) == .available(slots: 5))
    }

    @Test func unscheduledGroupIsNotTrusted() {
        // Opens succeed but time_running stays 0 for the oversized group.
        #expect(probe(FakePMU(slots: 3, overflow: .notScheduled)) == .available(slots: 3))
    }

    @Test func multiplexedCountersAreNotUsable() {
        let a = probe(FakePMU(slots: 5, runningFraction: 0.5))
        #expect(a.reason?.contains("multiplexed") == true)
    }

    @Test func probeIsCappedAtEight() {
        #expect(probe(FakePMU(slots: 12)) == .available(slots: CounterSession.maxProbedSlots))
    }

    @Test func noPMUIsUnavailableWithTheErrno() {
        let a = probe(FakePMU(hasPMU: false))
        #expect(a == .unavailable(reason: "no hardware PMU: instructions: \(PerfErrno.ENOENT)"))
        #expect(a.reason?.hasPrefix("no hardware PMU: instructions: ENOENT") == true)
        let b = probe(FakePMU(hasPMU: false, noPMUErrno: .EOPNOTSUPP))
        #expect(b.reason?.contains("EOPNOTSUPP") == true)
    }

    @Test func permissionErrorIsReportedAsSuch() {
        let a = probe(FakePMU(hasPMU: false, noPMUErrno: .EACCES))
        #expect(a.reason?.contains("not permitted") == true)
    }

    @Test func environmentSwitchTurnsCountersOff() {
        let a = probe(FakePMU(), environment: ["FUSEBENCH_NO_COUNTERS": "1"])
        #expect(a == .unavailable(reason: "FUSEBENCH_NO_COUNTERS=1"))
        #expect(probe(FakePMU(), environment: ["FUSEBENCH_NO_COUNTERS": "0"]).isAvailable)
    }

    @Test func paranoidThreeIsUnavailable() {
        let pmu = FakePMU()
        let a = probe(pmu, paranoid: 3)
        #expect(!a.isAvailable)
        #expect(a.reason?.contains("perf_event_paranoid=3") == true)
        #expect(pmu.openCalls.isEmpty)
        #expect(probe(FakePMU(), paranoid: 2).slots == 5)
        #expect(probe(FakePMU(), paranoid: nil).slots == 5)
    }

    @Test func countersThatNeverCountAreUnavailable() {
        let a = probe(FakePMU(slots: 0))
        #expect(a.reason?.hasPrefix("hardware counters open but do not count") == true)
    }

    @Test func encoderWithoutGenericEventsIsUnavailable() {
        let a = CounterSession.probe(syscalls: FakePMU(), encoder: TableEncoder([:]), environment: [:], paranoid: 2)
        #expect(a.reason?.contains("cannot encode") == true)
    }
}
