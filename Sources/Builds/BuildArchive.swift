// Builds: executables kept next to a results database, by content hash, so that a stored baseline's
// build can be measured again later, paired with the build under test (`gate --baseline` with a
// kept build; docs/ci-gating.md, "Kept builds"). File-system only: copies in, looks up, prunes.
import BenchModel
import Foundation

/// A directory of kept executables, one subdirectory per content hash (`ContentHash.file`), next
/// to a SQLite results database: `DB.builds/<hash>/<executable name>`.
///
/// Writes are atomic (a private temporary file renamed into place), so a reader never sees half a
/// build and an interrupted copy leaves nothing behind but is removed. Kept files are read-only.
public struct BuildArchive: Sendable {
    /// The archive's directory.
    public let directory: String

    /// The archive of the SQLite database at `databasePath` (`databasePath.builds`).
    public init(databasePath: String) {
        self.directory = databasePath + ".builds"
    }

    /// An archive in `directory`.
    public init(directory: String) {
        self.directory = directory
    }

    /// One kept executable.
    public struct Entry: Sendable, Hashable {
        /// Its content hash (`ContentHash.file`), the name of its subdirectory.
        public var hash: String
        /// Absolute path of the kept file.
        public var path: String
        /// Size in bytes.
        public var size: Int64
    }

    /// Why a build could not be kept or used.
    public enum ArchiveError: Error, CustomStringConvertible, Sendable, Equatable {
        /// The executable to keep does not have the content hash of the run it is kept for.
        case hashMismatch(path: String, expected: String, actual: String)
        /// Reading, writing or renaming failed.
        case io(path: String, reason: String)
        /// SIGINT/SIGTERM arrived during the copy (the partial copy was removed).
        case interrupted

        public var description: String {
            switch self {
            case let .hashMismatch(path, expected, actual):
                return "\(path) is not the build that measured the run (content hash \(actual), the run's is \(expected))"
            case let .io(path, reason):
                return "\(path): \(reason)"
            case .interrupted:
                return "interrupted while keeping the build (nothing was kept)"
            }
        }
    }

    /// The kept executable of content hash `hash`, or nil when none is kept. Does not re-hash
    /// the file: use ``verified(hash:)`` before measuring with it.
    public func entry(hash: String) -> Entry? {
        guard Self.isHash(hash) else { return nil }
        let dir = (directory as NSString).appendingPathComponent(hash)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = (dir as NSString).appendingPathComponent(name)
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            return Entry(hash: hash, path: Self.absolute(path), size: Int64(st.st_size))
        }
        return nil
    }

    /// ``entry(hash:)`` after checking that the file still has that content hash; nil with the
    /// reason when it is missing or was changed.
    public func verified(hash: String) -> Result<Entry, ArchiveError>? {
        guard let e = entry(hash: hash) else { return nil }
        do {
            let actual = try ContentHash.file(atPath: e.path)
            guard actual == hash else { return .failure(.hashMismatch(path: e.path, expected: hash, actual: actual)) }
            return .success(e)
        } catch let error as ContentHash.FileError {
            return .failure(.io(path: e.path, reason: error.reason))
        } catch {
            return .failure(.io(path: e.path, reason: "\(error)"))
        }
    }

    /// Every kept executable, by hash.
    public func entries() -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().compactMap { entry(hash: $0) }
    }

    /// Keeps a copy of the executable at `path`, which must have content hash `expectedHash`.
    /// Returns the kept entry and whether it was added (false: it was kept already). A kept copy
    /// that no longer has its hash (changed or damaged) is replaced.
    ///
    /// The copy is written to a temporary file in the archive, checked against `expectedHash`
    /// (the source may change while it is copied), made read-only and renamed into place; on any
    /// failure, or when `shouldStop` returns true between blocks, the temporary file is removed.
    ///
    /// - Throws: ``ArchiveError``.
    @discardableResult
    public func keep(executable path: String, expectedHash: String, shouldStop: () -> Bool = { false }) throws -> (entry: Entry, added: Bool) {
        if let existing = entry(hash: expectedHash) {
            if case .success? = verified(hash: expectedHash) { return (existing, false) }
            do {
                try FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(expectedHash))
            } catch {
                throw ArchiveError.io(path: existing.path, reason: "changed since it was kept, and cannot be replaced: \(error.localizedDescription)")
            }
        }
        guard Self.isHash(expectedHash) else {
            throw ArchiveError.io(path: path, reason: "'\(expectedHash)' is not a content hash")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ArchiveError.io(path: directory, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        let temporary = (directory as NSString).appendingPathComponent(".incoming-\(getpid())-\(UUID().uuidString)")
        var renamed = false
        defer { if !renamed { _ = unlink(temporary) } }
        try Self.copy(from: path, to: temporary, shouldStop: shouldStop)
        let actual: String
        do {
            actual = try ContentHash.file(atPath: temporary)
        } catch {
            throw ArchiveError.io(path: temporary, reason: "\(error)")
        }
        guard actual == expectedHash else { throw ArchiveError.hashMismatch(path: path, expected: expectedHash, actual: actual) }
        guard chmod(temporary, 0o555) == 0 else { throw ArchiveError.io(path: temporary, reason: String(cString: strerror(errno))) }
        let dir = (directory as NSString).appendingPathComponent(expectedHash)
        if mkdir(dir, 0o755) != 0, errno != EEXIST {
            throw ArchiveError.io(path: dir, reason: String(cString: strerror(errno)))
        }
        let target = (dir as NSString).appendingPathComponent((path as NSString).lastPathComponent)
        guard rename(temporary, target) == 0 else { throw ArchiveError.io(path: target, reason: String(cString: strerror(errno))) }
        renamed = true
        guard let kept = entry(hash: expectedHash) else {
            throw ArchiveError.io(path: target, reason: "the kept file vanished after it was written")
        }
        return (kept, true)
    }

    /// Removes every kept executable whose hash is not in `keeping`, and temporary files of copies
    /// that were cut off (older than an hour). Returns the hashes removed.
    @discardableResult
    public func prune(keeping: Set<String>) throws -> [String] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for name in names.sorted() {
            let path = (directory as NSString).appendingPathComponent(name)
            if name.hasPrefix(".incoming-") {
                let modified = (try? fm.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
                if Date().timeIntervalSince(modified) > 3600 { _ = unlink(path) }
                continue
            }
            guard Self.isHash(name), !keeping.contains(name) else { continue }
            do {
                try fm.removeItem(atPath: path)
                removed.append(name)
            } catch {
                throw ArchiveError.io(path: path, reason: "cannot remove: \(error.localizedDescription)")
            }
        }
        return removed
    }

    /// True for 16 lowercase hex digits (what `ContentHash` produces); anything else is never a
    /// subdirectory name the archive reads or removes.
    static func isHash(_ s: String) -> Bool {
        s.utf8.count == 16 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
    }

    /// Copies the regular file `source` to the new file `target` (mode 0600) in 1 MiB blocks,
    /// retrying EINTR and short writes, and syncs it.
    static func copy(from source: String, to target: String, shouldStop: () -> Bool) throws {
        let input: Int32
        switch BoundedFile.openRegular(source) {
        case let .success(fd): input = fd
        case let .failure(e): throw ArchiveError.io(path: source, reason: e.description)
        }
        defer { _ = close(input) }
        var output: Int32
        repeat {
            output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        } while output < 0 && errno == EINTR
        guard output >= 0 else { throw ArchiveError.io(path: target, reason: String(cString: strerror(errno))) }
        defer { _ = close(output) }
        let block = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: block, alignment: 16)
        defer { buffer.deallocate() }
        guard let base = buffer.baseAddress else { throw ArchiveError.io(path: target, reason: "no copy buffer") }
        while true {
            if shouldStop() { throw ArchiveError.interrupted }
            let n = read(input, base, block)
            if n < 0 {
                if errno == EINTR { continue }
                throw ArchiveError.io(path: source, reason: "read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            var written = 0
            while written < n {
                let w = write(output, base + written, n - written)
                if w < 0 {
                    if errno == EINTR { continue }
                    throw ArchiveError.io(path: target, reason: "write: \(String(cString: strerror(errno)))")
                }
                written += w
            }
        }
        while fsync(output) != 0 {
            if errno != EINTR { throw ArchiveError.io(path: target, reason: "fsync: \(String(cString: strerror(errno)))") }
        }
    }
}
