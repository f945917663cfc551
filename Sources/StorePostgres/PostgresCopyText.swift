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
            let digits: StaticString = "0123456789abcdef"
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 2 * v.count) { out in
                digits.withUTF8Buffer { hex in
                    for (index, byte) in v.enumerated() {
                        out[2 * index] = hex[Int(byte >> 4)]
                        out[2 * index + 1] = hex[Int(byte & 0x0f)]
                    }
                }
                return 2 * v.count
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

    /// Text with COPY's escapes: runs of plain bytes are copied at once.
    static func appendEscaped(_ text: String, to buffer: inout ByteBuffer) {
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for index in 0..<bytes.count {
                let escape: StaticString
                switch bytes[index] {
                case UInt8(ascii: "\\"): escape = "\\\\"
                case UInt8(ascii: "\t"): escape = "\\t"
                case UInt8(ascii: "\n"): escape = "\\n"
                case UInt8(ascii: "\r"): escape = "\\r"
                default: continue
                }
                buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<index])))
                buffer.writeStaticString(escape)
                start = index + 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<bytes.count])))
        }
    }
}
#endif
