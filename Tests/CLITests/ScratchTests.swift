// Test scratch directories (TestSupport `Scratch`): under this process's root, and the roots of test
// processes that died without exiting are removed while a living process's root is kept.
import Foundation
import Testing
@testable import TestSupport

@Suite struct ScratchTests {
    @Test func directoriesLiveUnderThisProcessRoot() throws {
        let a = try Scratch.directory("cli"), b = try Scratch.directory("cli")
        #expect(a != b)
        #expect(a.deletingLastPathComponent().path == Scratch.rootPath(for: getpid()))
        #expect(FileManager.default.fileExists(atPath: a.path))
    }

    @Test func rootsOfDeadProcessesAreRemovedAndLivingOnesKept() throws {
        // A process that has exited (and been waited for) has a pid no process holds.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = Scratch.rootPath(for: child.processIdentifier)
        let living = Scratch.rootPath(for: getppid())
        for root in [dead, living] {
            try FileManager.default.createDirectory(atPath: root + "/x", withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: living) }
        Scratch.removeRootsOfDeadProcesses()
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: living))
    }
}
