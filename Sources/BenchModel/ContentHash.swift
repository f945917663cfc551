import Foundation

/// Non-cryptographic content hash used to tell whether two runs used the same suite text.
public enum ContentHash {
    /// FNV-1a 64-bit hash of `data` as 16 hex digits.
    public static func fnv1a64Hex(_ data: Data) -> String {
        let h = FNV1a64.hash(data)
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
