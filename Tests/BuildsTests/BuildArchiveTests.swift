// The kept-build archive (Builds/BuildArchive.swift): copies keyed by content hash, verified,
// read-only, atomic; refusals and interruptions leave nothing behind; pruning keeps what is asked.
import BenchModel
import Foundation
import Testing
@testable import Builds

/// A fresh temporary directory with an "executable" of `size` pseudo-random bytes in it.
private func scratch(size: Int = 3 << 20, seed: UInt8 = 7) throws -> (dir: String, exe: String, hash: String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-builds-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var bytes = [UInt8](repeating: 0, count: size)
    var x: UInt32 = UInt32(seed) &* 2_654_435_761
    for i in bytes.indices {
        x = x &* 1_103_515_245 &+ 12_345
        bytes[i] = UInt8(truncatingIfNeeded: x >> 16)
    }
    let exe = dir + "/mybench"
    try Data(bytes).write(to: URL(fileURLWithPath: exe))
    _ = chmod(exe, 0o755)
    return (dir, exe, try ContentHash.file(atPath: exe))
}

/// Names in `dir` other than hash directories (temporary copies would show here).
private func leftovers(_ dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !BuildArchive.isHash($0) }
}

@Suite struct BuildArchiveTests {
    @Test func keepsAReadOnlyCopyUnderItsHashOnce() throws {
        let s = try scratch()
        defer { try? FileManager.default.removeItem(atPath: s.dir) }
        let archive = BuildArchive(databasePath: s.dir + "/r.sqlite")
        #expect(archive.directory == s.dir + "/r.sqlite.builds")
        #expect(archive.entry(hash: s.hash) == nil)

        let first = try archive.keep(executable: s.exe, expectedHash: s.hash)
        #expect(first.added)
        #expect(first.entry.path == archive.directory + "/\(s.hash)/mybench")
        #expect(first.entry.size == 3 << 20)
        #expect(try ContentHash.file(atPath: first.entry.path) == s.hash)
        #expect(FileManager.default.isExecutableFile(atPath: first.entry.path))
        #expect(!FileManager.default.isWritableFile(atPath: first.entry.path) || getuid() == 0)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: first.entry.path)[.posixPermissions] as? Int)
        #expect(mode == 0o555)

        let again = try archive.keep(executable: s.exe, expectedHash: s.hash)
        #expect(!again.added)
        #expect(again.entry == first.entry)
        #expect(archive.entries() == [first.entry])
        if case .success(let e)? = archive.verified(hash: s.hash) { #expect(e == first.entry) } else { Issue.record("not verified") }
        #expect(leftovers(archive.directory).isEmpty)
    }

    @Test func refusesAnExecutableOfAnotherHashAndLeavesNothing() throws {
        let s = try scratch()
        defer { try? FileManager.default.removeItem(atPath: s.dir) }
        let archive = BuildArchive(directory: s.dir + "/builds")
        let wrong = "0123456789abcdef"
        #expect(throws: BuildArchive.ArchiveError.hashMismatch(path: s.exe, expected: wrong, actual: s.hash)) {
            try archive.keep(executable: s.exe, expectedHash: wrong)
        }
        #expect(archive.entries().isEmpty)
        #expect(leftovers(archive.directory).isEmpty)
        #expect(try ContentHash.file(atPath: s.exe) == s.hash)  // the source is untouched
        // Not a hash at all (a path, say): refused before anything is written.
        #expect(throws: BuildArchive.ArchiveError.self) { try archive.keep(executable: s.exe, expectedHash: "../../etc") }
        #expect(archive.entry(hash: "../../etc") == nil)
    }

    @Test func anInterruptedCopyIsRemoved() throws {
        let s = try scratch()
        defer { try? FileManager.default.removeItem(atPath: s.dir) }
        let archive = BuildArchive(directory: s.dir + "/builds")
        var blocks = 0
        #expect(throws: BuildArchive.ArchiveError.interrupted) {
            try archive.keep(executable: s.exe, expectedHash: s.hash, shouldStop: {
                blocks += 1
                return blocks > 2  // after two of the three 1 MiB blocks
            })
        }
        #expect(blocks == 3)
        #expect(archive.entry(hash: s.hash) == nil)
        #expect(leftovers(archive.directory).isEmpty)
    }

    @Test func aMissingOrNonRegularSourceIsAnIOError() throws {
        let s = try scratch(size: 10)
        defer { try? FileManager.default.removeItem(atPath: s.dir) }
        let archive = BuildArchive(directory: s.dir + "/builds")
        #expect(throws: BuildArchive.ArchiveError.self) { try archive.keep(executable: s.dir + "/nope", expectedHash: s.hash) }
        #expect(throws: BuildArchive.ArchiveError.self) { try archive.keep(executable: s.dir, expectedHash: s.hash) }
        #expect(archive.entries().isEmpty)
        #expect(leftovers(archive.directory).isEmpty)
    }

    @Test func aChangedKeptFileIsNotVerified() throws {
        let s = try scratch(size: 4096)
        defer { try? FileManager.default.removeItem(atPath: s.dir) }
        let archive = BuildArchive(directory: s.dir + "/builds")
        let kept = try archive.keep(executable: s.exe, expectedHash: s.hash).entry
        _ = chmod(kept.path, 0o755)
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: kept.path))
        guard case .failure(let e)? = archive.verified(hash: s.hash) else {
            Issue.record("a changed kept build was verified")
            return
        }
        guard case .hashMismatch(_, let expected, let actual) = e else {
            Issue.record("unexpected \(e)")
            return
        }
        #expect(expected == s.hash)
        #expect(actual == ContentHash.fnv1a64Hex(Data("tampered".utf8)))
        #expect(archive.verified(hash: "ffffffffffffffff") == nil)
        // Keeping it again replaces the changed copy.
        let again = try archive.keep(executable: s.exe, expectedHash: s.hash)
        #expect(again.added)
        if case .success? = archive.verified(hash: s.hash) {} else { Issue.record("the changed copy was not replaced") }
    }

    @Test func pruneKeepsTheNamedHashesOnly() throws {
        let a = try scratch(size: 1000, seed: 1)
        let b = try scratch(size: 1000, seed: 2)
        defer {
            try? FileManager.default.removeItem(atPath: a.dir)
            try? FileManager.default.removeItem(atPath: b.dir)
        }
        #expect(a.hash != b.hash)
        let archive = BuildArchive(directory: a.dir + "/builds")
        try archive.keep(executable: a.exe, expectedHash: a.hash)
        try archive.keep(executable: b.exe, expectedHash: b.hash)
        // Files the archive did not write are never touched by pruning.
        try Data().write(to: URL(fileURLWithPath: archive.directory + "/notes.txt"))
        // A fresh temporary copy (another process keeping a build now) stays; a stale one goes.
        let fresh = archive.directory + "/.incoming-1-fresh"
        let stale = archive.directory + "/.incoming-1-stale"
        try Data().write(to: URL(fileURLWithPath: fresh))
        try Data().write(to: URL(fileURLWithPath: stale))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: stale)

        #expect(try archive.prune(keeping: [b.hash]) == [a.hash])
        #expect(archive.entries().map(\.hash) == [b.hash])
        #expect(FileManager.default.fileExists(atPath: archive.directory + "/notes.txt"))
        #expect(FileManager.default.fileExists(atPath: fresh))
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(try archive.prune(keeping: []) == [b.hash])
        #expect(archive.entries().isEmpty)
        // No archive directory yet: nothing to prune, no error.
        #expect(try BuildArchive(directory: a.dir + "/none").prune(keeping: []) == [])
    }

    @Test func hashNamesAreSixteenLowercaseHexDigits() {
        #expect(BuildArchive.isHash("0123456789abcdef"))
        #expect(!BuildArchive.isHash("0123456789ABCDEF"))
        #expect(!BuildArchive.isHash("0123456789abcde"))
        #expect(!BuildArchive.isHash(".incoming-1-x"))
        #expect(!BuildArchive.isHash(".."))
    }
}
