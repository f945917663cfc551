// Scheduling of a run: which op comes next and what happens before it (cooldown).
import CPerfEvent
import Foundation
import Suite
import Telemetry

/// The order ops are measured in (the plan's order) and the optional cooldown before each.
struct OpSchedule {
    let context: RunContext

    /// The ops in measuring order, with their position.
    var ops: EnumeratedSequence<[PlannedOp]> { context.plan.ops.enumerated() }

    /// Optional cooldown before an op (`--cooldown-to`, `--cooldown-s`).
    func cooldown(before op: PlannedOp, progress: ProgressLine) {
        let config = context.config
        if let seconds = config.cooldownSeconds, seconds > 0 {
            progress.update("\(op.qualifiedName): cooling down \(Int(seconds)) s")
            _ = Cooldown.fixed(seconds: seconds, sleep: Self.interruptibleSleep)
        }
        if let target = config.cooldownToC {
            guard let sampler = context.telemetry else {
                context.note("--cooldown-to \(target)C: no temperature sensors on this machine; cooldown skipped")
                return
            }
            progress.update("\(op.qualifiedName): cooling down to \(target) °C")
            let r = Cooldown.waitUntil(belowCelsius: target, timeout: 300, sampler: sampler, sleep: Self.interruptibleSleep)
            if !r.reachedTarget { context.note("\(op.qualifiedName): \(r.note)") }
        }
    }

    /// Sleeps `seconds` in short slices and returns early once SIGINT/SIGTERM arrived, so a long
    /// cooldown never delays the end of an interrupted run.
    static func interruptibleSleep(_ seconds: Double) {
        var left = seconds
        while left > 0, fb_interrupt_signal() == 0 {
            let slice = min(left, 0.05)
            usleep(UInt32(slice * 1e6))
            left -= slice
        }
    }
}
