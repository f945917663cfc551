// Tests for event-name encoding through the real libpfm4 (encoding needs no PMU, only the library).
import Counters
import Testing

@Suite struct EncodingTests {
    let encoder = LibpfmEncoder()

    /// `perf list` spellings and what libpfm4 4.13 (generic `perf` PMU) encodes them to.
    static let expected: [(String, PerfEventAttr)] = [
        ("cycles", .hardware(0)), ("instructions", .hardware(1)), ("cache-references", .hardware(2)),
        ("cache-misses", .hardware(3)), ("branches", .hardware(4)), ("branch-misses", .hardware(5)),
        ("L1-dcache-loads", PerfEventAttr(type: 3, config: 0x0)),
        ("L1-dcache-load-misses", PerfEventAttr(type: 3, config: 0x10000)),
        ("LLC-loads", PerfEventAttr(type: 3, config: 0x2)),
        ("LLC-load-misses", PerfEventAttr(type: 3, config: 0x10002)),
        ("dTLB-load-misses", PerfEventAttr(type: 3, config: 0x10003)),
        ("cpu-clock", .software(0)), ("task-clock", .software(1)), ("page-faults", .software(2)),
        ("context-switches", .software(3)),
        // libpfm's own spellings pass straight through.
        ("PERF_COUNT_HW_CPU_CYCLES", .hardware(0)), ("CYCLES", .hardware(0)),
        ("PERF_COUNT_HW_CACHE_L1D:READ:MISS", PerfEventAttr(type: 3, config: 0x10000)),
        ("perf::task-clock", .software(1)), ("perf::PERF_COUNT_HW_INSTRUCTIONS", .hardware(1)),
    ]

    @Test(arguments: expected.map(\.0))
    func genericNamesEncodeThroughLibpfm(name: String) throws {
        let want = Self.expected.first { $0.0 == name }!.1
        #expect(try encoder.encode(name) == want)
    }

    @Test func everyAliasAgreesWithTheKernelGenericEncoding() throws {
        for alias in EventAliases.all {
            #expect(try encoder.encode(alias.perfName) == alias.attr, "\(alias.perfName)")
            #expect(try TableEncoder.generic.encode(alias.perfName) == alias.attr)
        }
    }

    @Test func aliasWithoutLibpfmEntryUsesTheKernelId() throws {
        // libpfm4 4.13 has no alignment-faults; the alias table supplies PERF_COUNT_SW_ALIGNMENT_FAULTS.
        #expect(try encoder.encode("alignment-faults") == .software(7))
    }

    @Test func unknownNameThrowsNamingIt() {
        #expect {
            try encoder.encode("no-such-event-xyz")
        } throws: { error in
            guard case let CounterError.unknownEvent(name, reason) = error else { return false }
            return name == "no-such-event-xyz" && reason.contains("libpfm4")
                && "\(error)".contains("no-such-event-xyz")
        }
        #expect(throws: CounterError.self) { try encoder.encode("") }
        #expect(throws: CounterError.self) { try TableEncoder([:]).encode("cycles") }
    }

    @Test func rawPMUNamesGoStraightToLibpfm() {
        // Zen 3 table exists in libpfm4 4.13 but is only usable where that PMU is detected.
        do {
            let attr = try encoder.encode("amd64_fam19h_zen3::RETIRED_INSTRUCTIONS")
            #expect(attr.type == PerfEventAttr.typeRaw)
        } catch let CounterError.unknownEvent(name, _) {
            #expect(name == "amd64_fam19h_zen3::RETIRED_INSTRUCTIONS")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func catalogListsTheGenericPerfPMU() {
        let pmus = EventCatalog.list()
        let perf = pmus.first { $0.pmu == "perf" }
        #expect(perf != nil)
        #expect(perf?.events.contains("PERF_COUNT_HW_CPU_CYCLES") == true)
        #expect(EventCatalog.aliases().contains { $0.name == "L1-dcache-load-misses" && $0.libpfm == "PERF_COUNT_HW_CACHE_L1D:READ:MISS" })
    }

    @Test func slotAccountingByType() {
        #expect(PerfEventAttr.hardware(0).consumesCounter)
        #expect(PerfEventAttr.cache(2, op: 0, miss: true).consumesCounter)
        #expect(PerfEventAttr(type: PerfEventAttr.typeRaw, config: 0xC0).consumesCounter)
        #expect(!PerfEventAttr.software(1).consumesCounter)
    }
}
