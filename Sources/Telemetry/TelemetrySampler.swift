// Per-batch telemetry sampling: reads the files `TelemetrySources` found, converts units, keeps RAPL
// energy as a running total across counter wrap-around, and turns every failure into an
// "unavailable" entry so a run never stops because a sensor vanished.
//
// Cost: files are kept open and re-read with `pread` at offset 0 (sysfs regenerates the value), which
// on this KVM guest costs ~0.4–0.9 µs per file against ~2.5–5 µs for open/read/close. Each file is
// reopened once every `reopenEvery` reads (staggered, so at most a few files per read pay the
// open) to notice sensors that disappear, reappear or are replaced. To bound the cost on many-core
// machines, pass `cpus` (the CPU the benchmark is pinned to): per-CPU cpufreq and throttle files are
// the bulk of the files. There is no background thread: the sampler is read inline per batch.
import CPerfEvent
import Foundation

/// One telemetry sample.
public struct TelemetryReading: Sendable, Hashable, Codable {
    /// CLOCK_MONOTONIC_RAW in ns when the reading was taken (same clock as sample wall times).
    public var timestampNs: UInt64
    /// Temperatures in °C by sensor key (`k10temp:Tctl`, `thermal_zone0:x86_pkg_temp`, ...).
    public var temperaturesC: [String: Double]
    /// Current frequency in MHz by logical CPU (`scaling_cur_freq`).
    public var frequenciesMHz: [Int: Double]
    /// Throttle event counts by key (`cpu0/core_throttle_count`); cumulative since boot.
    public var throttleCounts: [String: UInt64]
    /// Energy in joules by domain, cumulative since the sampler first read that domain (wrap-around handled).
    public var energyJoules: [String: Double]
    /// Hottest CPU sensor in °C (hottest of all sensors when none is recognised as a CPU sensor); nil without temperatures.
    public var maxTemperatureC: Double?
    /// Sources that could not be read for this reading: `category:key` (or a bare category when nothing of it exists) → reason.
    public var unavailable: [String: String]

    /// Creates a reading.
    public init(timestampNs: UInt64, temperaturesC: [String: Double] = [:], frequenciesMHz: [Int: Double] = [:],
                throttleCounts: [String: UInt64] = [:], energyJoules: [String: Double] = [:], maxTemperatureC: Double? = nil,
                unavailable: [String: String] = [:]) {
        self.timestampNs = timestampNs
        self.temperaturesC = temperaturesC
        self.frequenciesMHz = frequenciesMHz
        self.throttleCounts = throttleCounts
        self.energyJoules = energyJoules
        self.maxTemperatureC = maxTemperatureC
        self.unavailable = unavailable
    }

    /// Sum of all throttle counters read, nil when none was read.
    public var totalThrottleCount: UInt64? {
        throttleCounts.isEmpty ? nil : throttleCounts.values.reduce(0, &+)
    }

    /// Mean current frequency over the CPUs read, in MHz.
    public var meanFrequencyMHz: Double? {
        frequenciesMHz.isEmpty ? nil : frequenciesMHz.values.reduce(0, +) / Double(frequenciesMHz.count)
    }
}

/// Reads telemetry once per call. Not thread-safe: use it from the thread that runs the measurement loop.
public final class TelemetrySampler {
    /// The sources being read.
    public let sources: TelemetrySources

    private struct Temp { var key: String; var file: SysfsFile; var isCPU: Bool }
    private struct Freq { var cpu: Int; var file: SysfsFile }
    private struct Throttle { var key: String; var file: SysfsFile }
    private struct EnergyState {
        var key: String
        var file: SysfsFile
        var maxRangeUJ: Int64?
        var lastRaw: Int64?
        var totalUJ: Double = 0
    }

    private var temps: [Temp]
    private var freqs: [Freq]
    private var throttles: [Throttle]
    private let reopenEvery: Int
    private var readCount = 0
    private var energy: [EnergyState]
    private let anyCPUSensor: Bool
    private let baseUnavailable: [String: String]
    private let clock: () -> UInt64
    private var perfFD: Int32 = -1
    private var perfFirst: UInt64?
    private let perfScale: Double

    /// Creates a sampler for `sources`.
    /// - Parameters:
    ///   - cpus: when set, only these CPUs' cpufreq and throttle files are read (bounds the cost on many-core machines).
    ///   - reopenEvery: each file is closed and reopened once every this many reads (1 = open/read/close every read),
    ///     so a vanished, reappeared or replaced file is noticed within that many reads.
    ///   - clock: timestamp source in ns (CLOCK_MONOTONIC_RAW by default).
    public init(sources: TelemetrySources, cpus: Set<Int>? = nil, reopenEvery: Int = 64,
                clock: @escaping () -> UInt64 = { fb_monotonic_raw_ns() }) {
        self.sources = sources
        self.clock = clock
        self.reopenEvery = max(1, reopenEvery)
        let f = sources.files
        func file(_ path: String) -> SysfsFile { SysfsFile(resolved: f.resolve(path), logical: path) }
        temps = sources.temperatures.map { Temp(key: $0.key, file: file($0.path), isCPU: $0.isCPU) }
        anyCPUSensor = sources.temperatures.contains { $0.isCPU }
        freqs = sources.frequencies.filter { cpus?.contains($0.cpu) ?? true }.map { Freq(cpu: $0.cpu, file: file($0.currentPath)) }
        throttles = sources.throttleCounters.filter { cpus?.contains($0.cpu) ?? true }.map { Throttle(key: $0.key, file: file($0.path)) }
        energy = sources.energyDomains.map { EnergyState(key: $0.key, file: file($0.energyPath), maxRangeUJ: $0.maxRangeUJ) }
        perfScale = sources.powerPMU.scaleJoules ?? 0
        var base: [String: String] = [:]
        for c in TelemetryCategory.allCases {
            if let r = sources.missingReason(c) { base[c.rawValue] = r }
        }
        if let cpus {
            let list = cpus.sorted().map(String.init).joined(separator: ",")
            if freqs.isEmpty, base[TelemetryCategory.frequency.rawValue] == nil {
                base[TelemetryCategory.frequency.rawValue] = "no cpufreq for the selected CPUs (\(list))"
            }
            if throttles.isEmpty, base[TelemetryCategory.throttle.rawValue] == nil {
                base[TelemetryCategory.throttle.rawValue] = "no throttle counters for the selected CPUs (\(list))"
            }
        }
        if sources.powerPMU.usable {
            switch sources.powerPMU.open(paranoid: sources.perfEventParanoid) {
            case let .success(fd): perfFD = fd
            case let .failure(e): base["energy:\(PowerPMUStatus.readingKey)"] = e.reason
            }
        }
        if base[TelemetryCategory.energy.rawValue] == nil, perfFD < 0, energy.isEmpty {
            base[TelemetryCategory.energy.rawValue] = sources.powerPMU.reason ?? "no energy source"
        }
        baseUnavailable = base
    }

    /// Discovers the sources under `files` and creates a sampler for them.
    public convenience init(files: SystemFiles = SystemFiles(), cpus: Set<Int>? = nil) {
        self.init(sources: TelemetrySources.discover(files: files), cpus: cpus)
    }

    deinit {
        if perfFD >= 0 { _ = fb_close(perfFD) }
        for i in temps.indices { temps[i].file.close() }
        for i in freqs.indices { freqs[i].file.close() }
        for i in throttles.indices { throttles[i].file.close() }
        for i in energy.indices { energy[i].file.close() }
    }

    /// Number of files (and perf reads) one `read()` touches.
    public var filesPerRead: Int { temps.count + freqs.count + throttles.count + energy.count + (perfFD >= 0 ? 1 : 0) }

    /// Takes one reading. Never throws: unreadable sources are listed in `unavailable` with the reason.
    public func read() -> TelemetryReading {
        var r = TelemetryReading(timestampNs: clock(), unavailable: baseUnavailable)
        // File number n is reopened on reads where (readCount + n) % reopenEvery == 0: staggered revalidation.
        var n = readCount
        readCount &+= 1
        func reopen() -> Bool {
            defer { n &+= 1 }
            return n % reopenEvery == 0
        }
        var hottest: Double?
        for i in temps.indices {
            switch temps[i].file.read(reopen: reopen()) {
            case let .value(milli):
                switch PlausibleRange.temperature(milli: milli, path: temps[i].file.logical) {
                case let .success(c):
                    r.temperaturesC[temps[i].key] = c
                    if temps[i].isCPU || !anyCPUSensor { hottest = max(hottest ?? c, c) }
                case let .failure(why):
                    r.unavailable["temperature:\(temps[i].key)"] = why.reason
                }
            case let .unavailable(why):
                r.unavailable["temperature:\(temps[i].key)"] = why
            }
        }
        r.maxTemperatureC = hottest
        for i in freqs.indices {
            let cpu = freqs[i].cpu
            switch freqs[i].file.read(reopen: reopen()) {
            case let .value(khz):
                switch PlausibleRange.frequency(kHz: khz, path: freqs[i].file.logical) {
                case let .success(mhz): r.frequenciesMHz[cpu] = mhz
                case let .failure(why): r.unavailable["frequency:cpu\(cpu)"] = why.reason
                }
            case let .unavailable(why): r.unavailable["frequency:cpu\(cpu)"] = why
            }
        }
        for i in throttles.indices {
            switch throttles[i].file.read(reopen: reopen()) {
            case let .value(c) where c >= 0: r.throttleCounts[throttles[i].key] = UInt64(c)
            case .value: r.unavailable["throttle:\(throttles[i].key)"] = "negative count (\(throttles[i].file.logical))"
            case let .unavailable(why): r.unavailable["throttle:\(throttles[i].key)"] = why
            }
        }
        for i in energy.indices {
            let e = energy[i]
            switch energy[i].file.read(reopen: reopen()) {
            case let .value(raw):
                if let why = accumulate(&energy[i], raw: raw) {
                    r.unavailable["energy:\(e.key)"] = why
                } else {
                    r.energyJoules[e.key] = energy[i].totalUJ / 1_000_000
                }
            case var .unavailable(why):
                if why.hasPrefix("permission denied") { why += " — energy_uj is root-only since Linux 5.10" }
                r.unavailable["energy:\(e.key)"] = why
            }
        }
        if perfFD >= 0 { readPerfEnergy(into: &r) }
        return r
    }

    /// Adds the delta since the last raw value to the running total; returns a reason when the value can't be used.
    private func accumulate(_ e: inout EnergyState, raw: Int64) -> String? {
        guard raw >= 0 else { return "negative energy counter \(raw) (\(e.file.logical))" }
        guard let last = e.lastRaw else {
            e.lastRaw = raw
            return nil
        }
        if raw >= last {
            e.totalUJ += Double(raw - last)
        } else if let range = e.maxRangeUJ, last <= range {
            // The counter wrapped at max_energy_range_uj.
            e.totalUJ += Double(range - last + raw)
        } else {
            e.lastRaw = raw
            return "energy counter went backwards (\(last) → \(raw) µJ) and max_energy_range_uj is unknown; re-based at the next reading"
        }
        e.lastRaw = raw
        return nil
    }

    private func readPerfEnergy(into r: inout TelemetryReading) {
        var value: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &value) { fb_read(perfFD, $0.baseAddress, 8) }
        guard n == 8 else {
            r.unavailable["energy:\(PowerPMUStatus.readingKey)"] = n < 0 ? "read failed: \(errnoText(Int32(-n)))" : "short read (\(n) bytes)"
            return
        }
        let first = perfFirst ?? value
        perfFirst = first
        r.energyJoules[PowerPMUStatus.readingKey] = Double(value &- first) * perfScale
    }
}
