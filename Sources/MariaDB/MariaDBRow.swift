public import struct Foundation.UUID

/// The column names of a result, shared by all its rows.
public final class MariaDBColumns: Sendable {
    /// Column names (labels) in select order.
    public let names: [String]
    private let index: [String: Int]

    public init(names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        index.reserveCapacity(names.count)
        for (position, name) in names.enumerated() where index[name] == nil { index[name] = position }
        self.index = index
    }

    /// The position of a column by name.
    public func position(of name: String) -> Int? { index[name] }
}

/// One result row, materialised before the connection goes back to the pool.
public struct MariaDBRow: Sendable {
    public let columns: MariaDBColumns
    public let values: [MariaDBValue]

    public init(columns: MariaDBColumns, values: [MariaDBValue]) {
        self.columns = columns
        self.values = values
    }

    /// The value of a column, or nil if there is no such column.
    public subscript(_ name: String) -> MariaDBValue? {
        guard let position = columns.position(of: name) else { return nil }
        return values[position]
    }

    /// Decodes a column. Throws a decoding error naming the column (never its value). Inlinable, so that callers in
    /// other modules get it specialised for their types (no runtime generic metadata lookups on hot paths).
    @inlinable
    public func decode<T: MariaDBDecodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let position = columns.position(of: name) else {
            throw MariaDBError(code: .decoding, serverMessage: "no such column", column: name)
        }
        guard let value = T(mariaDBValue: values[position]) else {
            throw MariaDBError(code: .decoding, serverMessage: "cannot decode as \(T.self)", column: name)
        }
        return value
    }

    /// Decodes a nullable column: NULL becomes nil.
    @inlinable
    public func decode<T: MariaDBDecodable>(_ name: String, as type: T?.Type) throws -> T? {
        guard let position = columns.position(of: name) else {
            throw MariaDBError(code: .decoding, serverMessage: "no such column", column: name)
        }
        let value = values[position]
        if value.isNull { return nil }
        guard let decoded = T(mariaDBValue: value) else {
            throw MariaDBError(code: .decoding, serverMessage: "cannot decode as \(T.self)", column: name)
        }
        return decoded
    }
}

/// A Swift type that can be read from a column.
public protocol MariaDBDecodable: Sendable {
    init?(mariaDBValue: MariaDBValue)
}

extension MariaDBValue: MariaDBDecodable {
    public init?(mariaDBValue: MariaDBValue) { self = mariaDBValue }
}

extension Int64: MariaDBDecodable {
    public init?(mariaDBValue: MariaDBValue) {
        switch mariaDBValue {
        case .int(let value): self = value
        case .uint(let value):
            guard let exact = Int64(exactly: value) else { return nil }
            self = exact
        case .decimal(let text), .text(let text):
            guard let parsed = Int64(text) else { return nil }
            self = parsed
        default: return nil
        }
    }
}

extension Int: MariaDBDecodable {
    public init?(mariaDBValue: MariaDBValue) {
        guard let value = Int64(mariaDBValue: mariaDBValue) else { return nil }
        self = Int(value)
    }
}

extension UInt64: MariaDBDecodable {
    public init?(mariaDBValue: MariaDBValue) {
        switch mariaDBValue {
        case .uint(let value): self = value
        case .int(let value):
            guard let exact = UInt64(exactly: value) else { return nil }
            self = exact
        case .decimal(let text), .text(let text):
            guard let parsed = UInt64(text) else { return nil }
            self = parsed
        default: return nil
        }
    }
}

extension Bool: MariaDBDecodable {
    public init?(mariaDBValue: MariaDBValue) {
        guard let value = Int64(mariaDBValue: mariaDBValue) else { return nil }
        self = value != 0
    }
}

extension Double: MariaDBDecodable {
    public init?(mariaDBValue: MariaDBValue) {
        switch mariaDBValue {
        case .double(let value): self = value
        case .int(let value): self = Double(value)
        case .uint(let value): self = Double(value)
        case .decimal(let text), .text(let text):
            guard let parsed = Double(text) else { return nil }
            self = parsed
        default: return nil
        }
    }
}

extension String: MariaDBDecodable {
    /// Text columns decode directly; numbers, decimals, dates and times decode to their SQL text form, as PHP sees them.
    public init?(mariaDBValue: MariaDBValue) {
        switch mariaDBValue {
        case .text(let text), .decimal(let text): self = text
        case .int(let value): self = String(value)
        case .uint(let value): self = String(value)
        case .double(let value): self = String(value)
        case .dateTime(let value): self = value.description
        case .time(let value): self = value.description
        case .bytes(let bytes):
            guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
            self = text
        case .null: return nil
        }
    }
}

extension Array: MariaDBDecodable where Element == UInt8 {
    public init?(mariaDBValue: MariaDBValue) {
        switch mariaDBValue {
        case .bytes(let bytes): self = bytes
        case .text(let text): self = Array(text.utf8)
        default: return nil
        }
    }
}

extension MariaDBDateTime: MariaDBDecodable {
    public init?(mariaDBValue: MariaDBValue) {
        switch mariaDBValue {
        case .dateTime(let value): self = value
        case .text(let text):
            guard let parsed = MariaDBDateTime(parsing: text) else { return nil }
            self = parsed
        default: return nil
        }
    }
}

extension MariaDBTime: MariaDBDecodable {
    public init?(mariaDBValue: MariaDBValue) {
        guard case .time(let value) = mariaDBValue else { return nil }
        self = value
    }
}

extension UUID: MariaDBDecodable {
    /// Decodes OpenEMR's `binary(16)` uuid columns.
    public init?(mariaDBValue: MariaDBValue) {
        guard case .bytes(let b) = mariaDBValue, b.count == 16 else { return nil }
        self = UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}

/// The outcome of one statement: rows for a SELECT, counts for a write.
public struct MariaDBResult: Sendable {
    public var columns: MariaDBColumns
    public var rows: [MariaDBRow]
    /// `mysql_stmt_affected_rows` for writes.
    public var affectedRows: UInt64
    /// `mysql_stmt_insert_id` for inserts into an AUTO_INCREMENT table.
    public var lastInsertID: UInt64
    /// `mysql_warning_count` after the statement (e.g. 1931: a `LIMIT ROWS EXAMINED` budget ran out).
    public var warningCount: Int = 0

    public init(columns: MariaDBColumns, rows: [MariaDBRow], affectedRows: UInt64, lastInsertID: UInt64) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
        self.lastInsertID = lastInsertID
    }

    /// The first row, if any.
    public var first: MariaDBRow? { rows.first }

    /// One column of every row, decoded: the column is looked up by name once, not per row (hot paths read thousands of
    /// rows of ids). Throws a decoding error naming the column (never its value), also when there are no rows.
    @inlinable
    public func column<T: MariaDBDecodable>(_ name: String, as type: T.Type = T.self) throws -> [T] {
        guard let position = columns.position(of: name) else {
            throw MariaDBError(code: .decoding, serverMessage: "no such column", column: name)
        }
        var decoded: [T] = []
        decoded.reserveCapacity(rows.count)
        for row in rows {
            guard let value = T(mariaDBValue: row.values[position]) else {
                throw MariaDBError(code: .decoding, serverMessage: "cannot decode as \(T.self)", column: name)
            }
            decoded.append(value)
        }
        return decoded
    }
}
