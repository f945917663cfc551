// Runner owns the measurement loop: counter setup, calibration of harness overhead, verification
// of optimized variants against their reference, warmup, batch sizing, ABBA-interleaved batches,
// progress, interruption, and handing every sample to the store as soon as an op completes.
import CPerfEvent

/// Raw clocks used by the measurement loop.
enum Clock {
    /// CLOCK_MONOTONIC_RAW, ns.
    @inline(__always) static func wall() -> UInt64 { fb_monotonic_raw_ns() }
    /// Thread CPU time, ns.
    @inline(__always) static func cpu() -> UInt64 { fb_thread_cpu_ns() }
}
