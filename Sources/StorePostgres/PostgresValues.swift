// PostgresValues: store values to PostgreSQL parameters and result cells back to store values.
// Parameters: integer → BIGINT, real → DOUBLE PRECISION, text → TEXT, blob → BYTEA, null → an untyped
// NULL (the server infers its type from where it is used). Results: any integer type and BOOLEAN →
// integer, REAL/DOUBLE PRECISION/NUMERIC → real, text types (and JSON, UUID, "char") → text, BYTEA →
// blob, NULL → null; other types must be cast in the query.
#if Fleet
import Foundation
import PostgresNIO
import Store

/// Conversions between `StoreValue` and PostgreSQL's wire values.
enum PostgresValues {
    /// Appends `value` as the next parameter.
    static func bind(_ value: StoreValue, into binds: inout PostgresBindings) {
        switch value {
        case .null: binds.appendNull()
        case let .integer(v): binds.append(v)
        case let .real(v): binds.append(v)
        case let .text(v): binds.append(v)
        case let .blob(v): binds.append(ByteBuffer(bytes: v))
        }
    }

    /// The store value of one result cell.
    ///
    /// - Throws: `StoreRowError` for a type the store does not read, or bytes that do not decode.
    static func storeValue(_ cell: PostgresCell) throws -> StoreValue {
        guard var buffer = cell.bytes else { return .null }
        if cell.format == .text {
            let text = buffer.readString(length: buffer.readableBytes) ?? ""
            switch cell.dataType {
            case .int2, .int4, .int8, .oid:
                guard let value = Int64(text) else { throw malformed(cell) }
                return .integer(value)
            case .float4, .float8, .numeric:
                guard let value = Double(text) else { throw malformed(cell) }
                return .real(value)
            case .bool:
                return .integer(text == "t" ? 1 : 0)
            case .bytea:
                throw unsupported(cell)
            default:
                return .text(text)
            }
        }
        switch cell.dataType {
        case .int8:
            guard buffer.readableBytes == 8, let value = buffer.readInteger(as: Int64.self) else { throw malformed(cell) }
            return .integer(value)
        case .int4:
            guard buffer.readableBytes == 4, let value = buffer.readInteger(as: Int32.self) else { throw malformed(cell) }
            return .integer(Int64(value))
        case .int2:
            guard buffer.readableBytes == 2, let value = buffer.readInteger(as: Int16.self) else { throw malformed(cell) }
            return .integer(Int64(value))
        case .oid:
            guard buffer.readableBytes == 4, let value = buffer.readInteger(as: UInt32.self) else { throw malformed(cell) }
            return .integer(Int64(value))
        case .bool:
            guard buffer.readableBytes == 1, let value = buffer.readInteger(as: UInt8.self) else { throw malformed(cell) }
            return .integer(value == 0 ? 0 : 1)
        case .float8:
            guard buffer.readableBytes == 8, let bits = buffer.readInteger(as: UInt64.self) else { throw malformed(cell) }
            return .real(Double(bitPattern: bits))
        case .float4:
            guard buffer.readableBytes == 4, let bits = buffer.readInteger(as: UInt32.self) else { throw malformed(cell) }
            return .real(Double(Float(bitPattern: bits)))
        case .numeric:
            do {
                let decimal = try cell.decode(Decimal.self, context: .default)
                return .real(NSDecimalNumber(decimal: decimal).doubleValue)
            } catch {
                throw malformed(cell)
            }
        case .bytea:
            return .blob(Data(buffer.readableBytesView))
        case .text, .varchar, .name, .bpchar, .unknown, .json, .char:
            return .text(buffer.readString(length: buffer.readableBytes) ?? "")
        case .jsonb, .uuid:
            do {
                let text = try cell.decode(String.self, context: .default)
                return .text(cell.dataType == .uuid ? text.lowercased() : text)
            } catch {
                throw malformed(cell)
            }
        default:
            throw unsupported(cell)
        }
    }

    /// A cell of a type the store does not read.
    private static func unsupported(_ cell: PostgresCell) -> StoreRowError {
        StoreRowError("column '\(cell.columnName)' has PostgreSQL type \(cell.dataType) that the store does not read "
            + "(cast it to BIGINT, DOUBLE PRECISION or TEXT in the query)")
    }

    /// A cell whose bytes do not decode as its type.
    private static func malformed(_ cell: PostgresCell) -> StoreRowError {
        StoreRowError("column '\(cell.columnName)': malformed \(cell.dataType) value from the server")
    }
}
#endif
