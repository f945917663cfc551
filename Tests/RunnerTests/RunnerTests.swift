import BenchModel
import Counters
import Foundation
import Kernels
import Testing
@testable import Runner

@Suite struct CounterSetupTests {
    let env = ["PATH": "/nonexistent"]  // no valgrind: `auto` cannot fall back to sim

    @Test func autoWithAPMUOpensGroups() throws {
        let fake = FakePMU(slots: 5)
        let choice = try CounterSetup.choose(mode: .auto, events: ["cycles", "instructions", "cache-misses"], explicit: false,
                                             environment: env, syscalls: fake, encoder: TableEncoder.generic)
        #expect(choice.mode == "hw")
        #expect(choice.session?.groupCount == 1)
        #expect(choice.note.contains("hardware counters"))
        choice.session?.close()
    }

    @Test func noPMUIsTimingOnlyAndSaysWhy() throws {
        let fake = FakePMU(hasPMU: false)
        let choice = try CounterSetup.choose(mode: .auto, events: ["cycles"], explicit: false, environment: env,
                                             syscalls: fake, encoder: TableEncoder.generic)
        #expect(choice.mode == "none" && choice.session == nil)
        #expect(choice.note.contains("timing-only"))
        #expect(choice.note.contains("valgrind is not installed"))
        #expect(throws: RunError.self) {
            try CounterSetup.choose(mode: .hw, events: ["cycles"], explicit: false, environment: env,
                                    syscalls: FakePMU(hasPMU: false), encoder: TableEncoder.generic)
        }
    }

    @Test func disabledByEnvironment() throws {
        let choice = try CounterSetup.choose(mode: .auto, events: ["cycles"], explicit: false,
                                             environment: ["FUSEBENCH_NO_COUNTERS": "1"], syscalls: FakePMU(), encoder: TableEncoder.generic)
        #expect(choice.mode == "none")
        #expect(choice.note.contains("FUSEBENCH_NO_COUNTERS"))
    }

    @Test func explicitUnknownEventIsAnError() {
        #expect(throws: RunError.self) {
            try CounterSetup.choose(mode: .auto, events: ["no-such-event"], explicit: true, environment: env,
                                    syscalls: FakePMU(), encoder: TableEncoder.generic)
        }
    }
}

@Suite struct BatchTimerTests {
    @Test func countsAreDeltasOverTheBatch() throws {
        let fake = FakePMU(slots: 5)
        let session = try CounterSession(events: ["cycles", "instructions"], slots: 5, syscalls: fake,
                                         encoder: TableEncoder.generic, strict: true)
        defer { session.close() }
        let timer = BatchTimer(counters: session)
        try timer.select(group: 0)
        let m = try timer.measure(EmptyInstance(), iterations: 10)
        #expect(m.counters.map(\.event) == ["cycles", "instructions"])
        #expect(m.counters.allSatisfy { $0.value > 0 && $0.backend == .hw && !$0.multiplexed })
        timer.stop()
        #expect(!session.isEnabled(group: 0))
    }

    @Test func calibrationIsPositiveAndSubtracted() throws {
        let timer = BatchTimer(counters: nil)
        let c = try Calibrator.calibrate(timer: timer, targetBatchNs: 1_000_000)
        #expect(c.clockPairNs > 0 && c.emptyBatchNs > 0 && c.perIterationNs >= 0)
        #expect(c.overhead(iterations: 100) == c.emptyBatchNs + 100 * c.perIterationNs)
        let s = Sample(op: "x", variant: "v", sequence: 0, iterations: 100, wallNs: 10_000 + c.overhead(iterations: 100),
                       cpuNs: 10_000, overheadNs: c.overhead(iterations: 100))
        #expect(abs(s.netWallNsPerIteration - 100) < 1e-9)
    }
}

@Suite struct WorkerProtocolTests {
    func line(_ m: WorkerMessage) throws -> Data {
        var d = try JSONEncoder().encode(m)
        d.append(UInt8(ascii: "\n"))
        return d
    }

    let sample = Sample(op: "g", variant: "optimized", sequence: 3, iterations: 10, wallNs: 1000, cpuNs: 990, overheadNs: 20)

    @Test func roundTrip() throws {
        var data = try line(WorkerMessage(type: .hello, hello: .current))
        data += try line(WorkerMessage(type: .sample, sample: sample))
        data += try line(WorkerMessage(type: .done, calibration: Calibration(clockPairNs: 20, counterReadNs: 0, emptyBatchNs: 21,
                                                                           perIterationNs: 1, targetBatchNs: 2e6),
                                       telemetry: [TelemetryRow(sampleSequence: 3, kind: "temperature", label: "Tctl", value: 50, unit: "C")]))
        let r = try WorkerClient.parse(data, executable: "w", status: 0, stderr: "")
        #expect(r.samples == [sample])
        #expect(!r.interrupted)
        #expect(r.calibration?.emptyBatchNs == 21)
        #expect(r.telemetry.count == 1)
    }

    @Test func truncatedAnswerKeepsSamplesAndCountsAsInterrupted() throws {
        var data = try line(WorkerMessage(type: .hello, hello: .current))
        data += try line(WorkerMessage(type: .sample, sample: sample))
        let r = try WorkerClient.parse(data, executable: "w", status: 137, stderr: "")
        #expect(r.samples.count == 1 && r.interrupted)
    }

    @Test func errorsAreReported() throws {
        var data = try line(WorkerMessage(type: .hello, hello: .current))
        data += try line(WorkerMessage(type: .error, error: "boom"))
        #expect(throws: RunError.self) { try WorkerClient.parse(data, executable: "w", status: 0, stderr: "") }
        #expect(throws: RunError.self) { try WorkerClient.parse(Data("not json\n".utf8), executable: "w", status: 0, stderr: "") }
        #expect(throws: RunError.self) { try WorkerClient.parse(Data(), executable: "w", status: 1, stderr: "crash") }
        var old = WorkerHello.current
        old.protocolVersion = 999
        #expect(throws: RunError.self) {
            try WorkerClient.parse(try line(WorkerMessage(type: .hello, hello: old)), executable: "w", status: 0, stderr: "")
        }
    }
}
