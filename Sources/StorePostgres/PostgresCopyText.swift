// PostgresCopyText: rows in the text format of PostgreSQL's `COPY ... FROM STDIN`, for bulk inserts
// (`PostgresStoreDatabase.insertRows`). One line per row, columns separated by a tab, NULL as `\N`;
// in text values a backslash, tab, newline and carriage return are escaped; bytea as `\\x` and hex;
// doubles in their shortest exact form, integral ones (below 2^53) without a fraction so a BIGINT
// column accepts them; infinities and NaN as PostgreSQL spells them.
#if Fleet
import Foundation
import PostgresNIO
import Store

/// Encoder of `COPY` text-format rows.
enum PostgresCopyText {
    /// Appends `row` as one line to `buffer`.
    static func appendRow(_ row: [StoreValue], to buffer: inout ByteBuffer) {
        for (index, value) in row.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
            append(value, to: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// Appends one column value.
    static func append(_ value: StoreValue, to buffer: inout ByteBuffer) {
        switch value {
        case .null:
            buffer.writeString("\\N")
        case let .integer(v):
            buffer.writeString(String(v))
        case let .real(v):
            buffer.writeString(text(v))
        case let .text(v):
            appendEscaped(v, to: &buffer)
        case let .blob(v):
            // bytea's hex input `\x0a1b...`, its backslash doubled for the COPY text format.
            buffer.writeString("\\\\x")
            let digits = Array("0123456789abcdef".utf8)
            buffer.reserveCapacity(minimumWritableBytes: 2 * v.count)
            for byte in v {
                buffer.writeInteger(digits[Int(byte >> 4)])
                buffer.writeInteger(digits[Int(byte & 0x0f)])
            }
        }
    }

    /// A double as PostgreSQL's float8 input reads it back exactly.
    static func text(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v < 0 ? "-Infinity" : "Infinity" }
        if v == 0 { return v.sign == .minus ? "-0" : "0" }
        if v == v.rounded(), abs(v) < 9_007_199_254_740_992 { return String(Int64(v)) }
        return "\(v)"  // Swift's shortest representation that reads back as the same double
    }

    /// Text with COPY's escapes.
    static func appendEscaped(_ text: String, to buffer: inout ByteBuffer) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.writeString("\\\\")
            case UInt8(ascii: "\t"): buffer.writeString("\\t")
            case UInt8(ascii: "\n"): buffer.writeString("\\n")
            case UInt8(ascii: "\r"): buffer.writeString("\\r")
            default: buffer.writeInteger(byte)
            }
        }
    }
}
#endif
