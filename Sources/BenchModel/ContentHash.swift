// Content hashes: FNV-1a 64 over suite texts, plug-in libraries and executables, so runs can say
// whether they used the same bytes (and the simulated-counter cache can key on the binary).
import Foundation

/// Non-cryptographic content hash used to tell whether two runs used the same suite text, plug-in
/// library or executable.
public enum ContentHash {
    /// FNV-1a 64-bit hash of `data` as 16 hex digits.
    public static func fnv1a64Hex(_ data: Data) -> String {
        hex(FNV1a64.hash(data))
    }

    /// 16 lowercase hex digits of `h`.
    static func hex(_ h: UInt64) -> String {
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// FNV-1a 64 of `bytes` continuing from `h`; eight bytes per loop step (little-endian loads,
    /// byte order preserved) so the hash of a 40 MB executable stays cheap in debug builds too.
    static func fold(_ start: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = start
        let p = FNV1a64.prime
        var i = 0
        let words = bytes.count / 8
        for w in 0..<words {
            var x = bytes.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self).littleEndian
            for _ in 0..<8 {
                h = (h ^ (x & 0xff)) &* p
                x >>= 8
            }
        }
        i = words * 8
        while i < bytes.count {
            h = (h ^ UInt64(bytes[i])) &* p
            i += 1
        }
        return h
    }

    /// Why `file(atPath:)` could not hash a file.
    public struct FileError: Error, CustomStringConvertible, Sendable, Hashable {
        /// The file.
        public var path: String
        /// What went wrong (`cannot open: No such file or directory`, ...).
        public var reason: String
        /// `cannot hash PATH: REASON`.
        public var description: String { "cannot hash \(path): \(reason)" }
    }

    /// FNV-1a 64 of the whole content of the regular file at `path` (16 lowercase hex digits, the same
    /// value `fnv1a64Hex` gives for its bytes). Reads the file once in 1 MiB blocks, retrying EINTR;
    /// FIFOs, devices and directories are refused (`BoundedFile.openRegular`).
    public static func file(atPath path: String) throws -> String {
        let fd: Int32
        switch BoundedFile.openRegular(path) {
        case let .success(f): fd = f
        case let .failure(e): throw FileError(path: path, reason: e.description)
        }
        defer { _ = close(fd) }
        var h = FNV1a64.offsetBasis
        let block = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: block, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = Foundation.read(fd, buffer.baseAddress, block)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, reason: BoundedFileError.read(errno: errno).description)
            }
            if n == 0 { break }
            h = fold(h, UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return hex(h)
    }
}
