// Tests for planning, grouping, rotation, reading and scaling with the FakePMU.
import BenchModel
import Counters
import Testing

@Suite struct SessionTests {
    let encoder = TableEncoder.generic
    static let twelve = [
        "cycles", "instructions", "cache-references", "cache-misses", "branches", "branch-misses",
        "bus-cycles", "stalled-cycles-frontend", "stalled-cycles-backend", "ref-cycles",
        "L1-dcache-loads", "L1-dcache-load-misses",
    ]

    @Test func twelveEventsWithFiveSlotsMakeThreeGroups() throws {
        let pmu = FakePMU(slots: 5)
        let s = try CounterSession(events: Self.twelve, slots: 5, syscalls: pmu, encoder: encoder, strict: true)
        #expect(s.groupCount == 3)
        #expect(s.plan.groups.map(\.count) == [5, 5, 2])
        #expect(s.plan.countedEvents == Self.twelve)
        #expect(s.plan.slotsPerGroup == 5)
        #expect(s.plan.unsupported.isEmpty)
        #expect((0..<7).map { s.group(forRepetition: $0) } == [0, 1, 2, 0, 1, 2, 0])
        #expect(pmu.openFDCount == 12)
        s.close()
        #expect(pmu.openFDCount == 0)
    }

    @Test func softwareEventsDoNotUseSlotsAndDuplicatesCountOnce() throws {
        let events = ["cycles", "task-clock", "instructions", "cycles", "context-switches", "branches"]
        let s = try CounterSession(events: events, slots: 2, syscalls: FakePMU(slots: 2), encoder: encoder, strict: true)
        #expect(s.plan.groups == [["cycles", "task-clock", "instructions", "context-switches"], ["branches"]])
    }

    @Test func everyGroupCountsAndDeltasCarryTheEventNames() throws {
        let pmu = FakePMU(slots: 5, rates: [.hardware(1): 4000])
        let s = try CounterSession(events: Self.twelve, slots: 5, syscalls: pmu, encoder: encoder, strict: true)
        for g in 0..<s.groupCount {
            try s.enable(group: g)
            #expect(s.isEnabled(group: g))
            let a = try s.read(group: g)
            let b = try s.read(group: g)
            try s.disable(group: g)
            let d = s.deltas(group: g, from: a, to: b)
            #expect(d.map(\.event) == s.plan.groups[g])
            for v in d {
                #expect(v.backend == .hw)
                #expect(!v.multiplexed)
                #expect(v.timeEnabled == pmu.tickNs && v.timeRunning == pmu.tickNs)
                #expect(v.raw == (v.event == "instructions" ? 4000 : 1000))
                #expect(v.value == Double(v.raw))
            }
        }
        // Disabled groups do not advance.
        let a = try s.read(group: 0)
        #expect(try s.read(group: 0) == a)
    }

    @Test func multiplexedGroupIsScaledAndFlagged() throws {
        let pmu = FakePMU(slots: 5, runningFraction: 0.5)
        let s = try CounterSession(events: ["cycles", "instructions"], slots: 5, syscalls: pmu, encoder: encoder, strict: true)
        try s.enable(group: 0)
        let a = try s.read(group: 0)
        let b = try s.read(group: 0)
        for v in s.deltas(group: 0, from: a, to: b) {
            #expect(v.raw == 500)
            #expect(v.timeRunning * 2 == v.timeEnabled)
            #expect(v.value == 1000)
            #expect(v.multiplexed)
        }
    }

    @Test func groupThatNeverRanReadsZeroFlagged() throws {
        let pmu = FakePMU(slots: 1, overflow: .notScheduled)
        let s = try CounterSession(events: ["cycles", "instructions"], slots: 2, syscalls: pmu, encoder: encoder, strict: true)
        try s.enable(group: 0)
        let a = try s.read(group: 0)
        let b = try s.read(group: 0)
        let d = s.deltas(group: 0, from: a, to: b)
        #expect(d.count == 2)
        for v in d {
            #expect(v.timeRunning == 0 && v.timeEnabled > 0)
            #expect(v.value == 0)
            #expect(v.multiplexed)
        }
    }

    @Test func scalingMath() {
        #expect(CounterSession.scaled(raw: 100, enabled: 10, running: 10) == 100)
        #expect(CounterSession.scaled(raw: 100, enabled: 10, running: 5) == 200)
        #expect(CounterSession.scaled(raw: 100, enabled: 10, running: 0) == 0)
        #expect(CounterSession.scaled(raw: 0, enabled: 0, running: 0) == 0)
        let from = GroupRead(values: [10, 20], timeEnabled: 1_000, timeRunning: 1_000)
        let to = GroupRead(values: [110, 70], timeEnabled: 3_000, timeRunning: 2_000)
        let d = CounterSession.deltas(events: ["a", "b"], from: from, to: to, backend: .hw)
        #expect(d == [
            CounterValue(event: "a", value: 200, raw: 100, timeEnabled: 2_000, timeRunning: 1_000, backend: .hw),
            CounterValue(event: "b", value: 100, raw: 50, timeEnabled: 2_000, timeRunning: 1_000, backend: .hw),
        ])
        #expect(d.allSatisfy { $0.multiplexed })
    }

    @Test func unsupportedEventIsRecordedByNameWhenNotStrict() throws {
        let llc = try encoder.encode("LLC-load-misses")
        let pmu = FakePMU(slots: 5, unsupported: [llc])
        let s = try CounterSession(events: ["cycles", "LLC-load-misses", "instructions"], slots: 5,
                                   syscalls: pmu, encoder: encoder, strict: false)
        #expect(s.plan.groups == [["cycles", "instructions"]])
        #expect(s.plan.unsupported.keys.sorted() == ["LLC-load-misses"])
        #expect(s.plan.unsupported["LLC-load-misses"]?.contains("ENOENT") == true)
    }

    @Test func unsupportedEventThrowsNamingItWhenStrict() throws {
        let llc = try encoder.encode("LLC-load-misses")
        let pmu = FakePMU(slots: 5, unsupported: [llc])
        #expect {
            try CounterSession(events: ["cycles", "LLC-load-misses"], slots: 5, syscalls: pmu, encoder: encoder, strict: true)
        } throws: { error in
            guard case let CounterError.unsupportedEvent(name, errno) = error else { return false }
            return name == "LLC-load-misses" && errno == .ENOENT && "\(error)".contains("LLC-load-misses")
        }
        #expect(pmu.openFDCount == 0)
    }

    @Test func unknownEventThrowsNamingIt() {
        #expect {
            try CounterSession(events: ["cycles", "cyclez"], slots: 5, syscalls: FakePMU(), encoder: encoder, strict: false)
        } throws: { error in
            guard case let CounterError.unknownEvent(name, _) = error else { return false }
            return name == "cyclez"
        }
    }

    @Test func noPMUNonStrictLeavesOnlySoftwareEvents() throws {
        let pmu = FakePMU(hasPMU: false)
        let s = try CounterSession(events: ["instructions", "task-clock"], slots: 5, syscalls: pmu, encoder: encoder, strict: false)
        #expect(s.plan.groups == [["task-clock"]])
        #expect(s.plan.unsupported["instructions"] != nil)
    }

    @Test func allUnsupportedGivesAnEmptySession() throws {
        let s = try CounterSession(events: ["instructions"], slots: 5, syscalls: FakePMU(hasPMU: false),
                                   encoder: encoder, strict: false)
        #expect(s.groupCount == 0)
        #expect(s.group(forRepetition: 3) == 0)
        #expect(throws: CounterError.invalidGroup(index: 0, groupCount: 0)) { try s.enable(group: 0) }
    }

    @Test func groupOpenFailureClosesEverything() {
        // The caller claims 5 slots but the PMU rejects a 4th member.
        let pmu = FakePMU(slots: 3, overflow: .openFails(.EINVAL))
        #expect {
            try CounterSession(events: Array(Self.twelve.prefix(5)), slots: 5, syscalls: pmu, encoder: encoder, strict: true)
        } throws: { error in
            guard case let CounterError.groupOpenFailed(events, failing, errno) = error else { return false }
            return events.count == 5 && failing == "cache-misses" && errno == .EINVAL
        }
        #expect(pmu.openFDCount == 0)
    }

    @Test func invalidUseThrows() throws {
        #expect(throws: CounterError.invalidSlots(0)) {
            try CounterSession(events: ["cycles"], slots: 0, syscalls: FakePMU(), encoder: encoder, strict: true)
        }
        let pmu = FakePMU()
        let s = try CounterSession(events: ["cycles"], slots: 5, syscalls: pmu, encoder: encoder, strict: true)
        #expect(throws: CounterError.invalidGroup(index: 1, groupCount: 1)) { try s.read(group: 1) }
        pmu.failReads = true
        #expect(throws: CounterError.readFailed(events: ["cycles"])) { try s.read(group: 0) }
        s.close()
        s.close()
        #expect(throws: CounterError.sessionClosed) { try s.read(group: 0) }
        #expect(pmu.openFDCount == 0)
    }

    @Test func deinitClosesTheGroups() throws {
        let pmu = FakePMU()
        do {
            let s = try CounterSession(events: ["cycles", "instructions"], slots: 5, syscalls: pmu, encoder: encoder, strict: true)
            #expect(s.groupCount == 1)
        }
        #expect(pmu.openFDCount == 0)
    }

    @Test func readCostWithTheFakeRestoresTheEnabledState() throws {
        let pmu = FakePMU()
        let s = try CounterSession(events: ["cycles"], slots: 5, syscalls: pmu, encoder: encoder, strict: true)
        let ns = ReadCost.measure(session: s, group: 0, trials: 9)
        #expect(ns.isFinite && ns >= 0)
        #expect(!s.isEnabled(group: 0))
        #expect(pmu.readCalls == 12)
        #expect(ReadCost.measure(session: s, group: 5, trials: 9).isNaN)
    }
}
