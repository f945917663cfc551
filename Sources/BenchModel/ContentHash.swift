import Foundation

/// Non-cryptographic content hash used to tell whether two runs used the same suite text.
public enum ContentHash {
    /// FNV-1a 64-bit hash of `data` as 16 hex digits.
    public static func fnv1a64Hex(_ data: Data) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in data {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
