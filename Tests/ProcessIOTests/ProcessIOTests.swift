// Tests of the process I/O helper: whole reads and writes, child processes, and that a signal
// arriving while we read or wait (EINTR) neither traps nor loses data.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import ProcessIO

/// A SIGUSR1 handler installed without SA_RESTART, so reads, polls and waits in progress fail
/// with EINTR — the situation in which Foundation's `readDataToEndOfFile` traps.
private func installInterruptingHandler() {
    var sa = sigaction()
    sa.__sigaction_handler.sa_handler = { _ in }
    sigemptyset(&sa.sa_mask)
    sa.sa_flags = 0
    sigaction(SIGUSR1, &sa, nil)
}

/// Sends SIGUSR1 to the calling thread (only: other tests run in parallel in this process)
/// every millisecond for `seconds`, from another thread.
private func pester(for seconds: Double) -> pthread_t? {
    struct Job { var target: pthread_t; var seconds: Double }
    var thread = pthread_t()
    let job = UnsafeMutablePointer<Job>.allocate(capacity: 1)
    job.pointee = Job(target: pthread_self(), seconds: seconds)
    let rc = pthread_create(&thread, nil, { raw in
        let p = raw!.assumingMemoryBound(to: Job.self)
        let job = p.pointee
        p.deallocate()
        var waited = 0.0
        while waited < job.seconds {
            pthread_kill(job.target, SIGUSR1)
            usleep(1000)
            waited += 0.001
        }
        return nil
    }, job)
    return rc == 0 ? thread : nil
}

@Suite(.serialized)
struct ProcessIOTests {
    @Test func childOutputAndExitStatus() throws {
        let out = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "echo out; echo err >&2; exit 3"]).communicate()
        #expect(String(decoding: out.stdout, as: UTF8.self) == "out\n")
        #expect(String(decoding: out.stderr, as: UTF8.self) == "err\n")
        #expect(out.termination == .exited(3))
        #expect(out.termination.shellStatus == 3)
    }

    /// Extra pipes reach the child on the descriptors asked for (here 3 in, 4 out, as Chromium's
    /// --remote-debugging-pipe wants), in both directions, and never on the wrong number.
    @Test func extraPipesMapToTheChildsDescriptors() throws {
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "read line <&3; echo \"got $line\" >&4"],
                                     extraPipes: [3: .toChild, 4: .fromChild])
        let toChild = try #require(child.extraFDs[3]), fromChild = try #require(child.extraFDs[4])
        try FileDescriptorIO.writeAll(toChild, Array("hello\n".utf8))
        // Until end of file: the child's end closes when it exits.
        let got = try FileDescriptorIO.readToEnd(fromChild, limit: 1 << 16)
        #expect(String(decoding: got, as: UTF8.self) == "got hello\n")
        #expect(try child.communicate().termination == .exited(0))
        #expect(throws: ProcessIOError.self) { try ChildProcess(executable: "/bin/true", arguments: [], extraPipes: [12: .toChild]) }
    }

    @Test func inputIsDeliveredEvenWhenLargerThanAPipe() throws {
        let input = [UInt8]((0..<300_000).map { UInt8($0 % 251) })
        let out = try ChildProcess(executable: "/bin/cat", arguments: [], stdin: .pipe).communicate(input: input)
        #expect(out.stdout == input)
        #expect(out.termination == .exited(0))
    }

    @Test func childIgnoringItsInputIsNotAnError() throws {
        // `true` exits without reading: the write side sees EPIPE, which must neither raise
        // SIGPIPE (it would end this test process) nor fail.
        let input = [UInt8](repeating: 7, count: 1 << 20)
        let out = try ChildProcess(executable: "/bin/true", arguments: [], stdin: .pipe).communicate(input: input)
        #expect(out.termination == .exited(0))
    }

    @Test func environmentIsPassed() throws {
        let out = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "printf %s \"$FOO\""], environment: ["FOO": "bar"]).communicate()
        #expect(String(decoding: out.stdout, as: UTF8.self) == "bar")
    }

    @Test func missingProgramIsAnError() {
        #expect(throws: ProcessIOError.self) { try ChildProcess(executable: "/nonexistent/program", arguments: []) }
    }

    /// A child that ended while a process it started keeps its stdout open: `stopReading` from the
    /// tick returns what arrived instead of waiting for the grandchild.
    @Test func stopReadingAfterTheChildEndedReturnsAtOnce() throws {
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "echo hello; sleep 5 & exit 0"])
        var grandchildHolds = false
        let out = try child.communicate(tickMilliseconds: 10) { c in
            if c.reapIfEnded() != nil {
                grandchildHolds = true
                c.stopReading()
            }
        }
        #expect(grandchildHolds)
        #expect(out.termination == .exited(0))
        #expect(String(decoding: out.stdout, as: UTF8.self) == "hello\n")
    }

    /// `stopReadingOnceEnded`: the grandchild holds stdout for 5 s; communicate returns after the
    /// grace, not after the grandchild, with what arrived.
    @Test func stopReadingOnceEndedWaitsOnlyForTheGrace() throws {
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "echo hello; sleep 5 & exit 0"])
        let start = Date()
        let out = try child.communicate(tickMilliseconds: 10) { c in c.stopReadingOnceEnded(graceMilliseconds: 200) }
        let took = Date().timeIntervalSince(start)
        #expect(took >= 0.2 && took < 4, "\(took) s")
        #expect(out.termination == .exited(0))
        #expect(String(decoding: out.stdout, as: UTF8.self) == "hello\n")
    }

    @Test func signalledChildIsReported() throws {
        let child = try ChildProcess(executable: "/bin/sleep", arguments: ["30"])
        var sent = false
        let out = try child.communicate(tickMilliseconds: 10) { c in
            if !sent {
                sent = true
                c.signal(SIGKILL)
            }
        }
        #expect(out.termination == .signaled(SIGKILL))
        #expect(out.termination.description == "was killed by signal 9 (SIGKILL)")
    }

    @Test func droppedChildIsKilledAndReaped() throws {
        var pid: pid_t = 0
        do {
            let child = try ChildProcess(executable: "/bin/sleep", arguments: ["30"])
            pid = child.pid
        }
        // Reaped: no such process any more (not even a zombie).
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
    }

    @Test func newProcessGroupIsLedByTheChild() throws {
        let child = try ChildProcess(executable: "/bin/sleep", arguments: ["30"], newProcessGroup: true)
        #expect(getpgid(child.pid) == child.pid)
        child.signal(SIGKILL)
        #expect(try child.wait() == .signaled(SIGKILL))
    }

    /// The defect: reading a child's output while signals arrive (EINTR) trapped the process.
    @Test func readsAndWaitsSurviveSignals() throws {
        installInterruptingHandler()
        let thread = pester(for: 0.5)
        defer { if let t = thread { pthread_join(t, nil) } }
        let out = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "sleep 0.3; seq 1 20000; sleep 0.2; echo end"])
            .communicate()
        let lines = String(decoding: out.stdout, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 20001)
        #expect(lines.last == "end")
        #expect(out.termination == .exited(0))
    }

    @Test func readToEndSurvivesSignalsAndWriteAllReportsEPIPE() throws {
        installInterruptingHandler()
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let thread = pester(for: 0.3)
        // Another thread writes after 0.2 s, while this one blocks in read and gets EINTRs.
        var late = pthread_t()
        let fd = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        fd.pointee = fds[1]
        #expect(pthread_create(&late, nil, { raw in
            let p = raw!.assumingMemoryBound(to: Int32.self)
            usleep(200_000)
            try? FileDescriptorIO.writeAll(p.pointee, Array("abc".utf8))
            close(p.pointee)
            p.deallocate()
            return nil
        }, fd) == 0)
        #expect(try FileDescriptorIO.readToEnd(fds[0]) == Array("abc".utf8))
        close(fds[0])
        pthread_join(late, nil)
        if let t = thread { pthread_join(t, nil) }

        #expect(pipe(&fds) == 0)
        close(fds[0])
        #expect(throws: ProcessIOError("write to fd \(fds[1])", code: EPIPE)) { try FileDescriptorIO.writeAll(fds[1], [1, 2, 3]) }
        close(fds[1])
        #expect(throws: ProcessIOError.self) { try FileDescriptorIO.readToEnd(-1) }
    }

    @Test func readLimitIsEnforced() throws {
        #expect(throws: ProcessIOError.self) {
            try ChildProcess(executable: "/bin/sh", arguments: ["-c", "seq 1 10000"]).communicate(limit: 100)
        }
    }
}
