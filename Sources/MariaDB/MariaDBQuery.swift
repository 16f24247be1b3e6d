public import struct Foundation.UUID

/// A SQL statement with `?` placeholders and the values bound to them.
///
/// Build it with string interpolation; every interpolated value becomes a placeholder plus a typed bind, and the
/// statement always runs as a prepared statement:
///
/// ```swift
/// let query: MariaDBQuery = "SELECT fname FROM patient_data WHERE pid = \(pid)"
/// ```
///
/// Raw SQL can only be spliced with `\(unescaped: ...)`, which is meant for identifiers chosen in code (a column
/// name from a fixed allow-list), never for user input.
public struct MariaDBQuery: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The SQL text with `?` placeholders.
    public var sql: String
    /// The values, in placeholder order.
    public var binds: [MariaDBValue]
    /// How many rows of values `binds` holds for the placeholders of `sql` (row after row). More than one makes the
    /// statement run once for all of them in one round trip (MariaDB's bulk execution, `COM_STMT_BULK_EXECUTE`, through
    /// libmariadb's array binding): see `bulk(_:rows:)`.
    public var rowCount: Int = 1

    /// A statement from SQL text and binds you assemble yourself (the number of `?` must match `binds`).
    public init(unsafeSQL sql: String, binds: [MariaDBValue] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.sql = value
        self.binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
    }

    /// Only the SQL text: binds are patient data and never printed.
    public var description: String { sql }

    /// Appends another query (text and binds).
    public mutating func append(_ other: MariaDBQuery) {
        precondition(rowCount == 1 && other.rowCount == 1, "a bulk statement cannot be appended to")
        sql += other.sql
        binds += other.binds
    }

    /// One statement run for many rows in one round trip: `head` (e.g. `INSERT INTO t (a, b) VALUES `) followed by one
    /// row's text, which every row must share (their placeholders and literals), with the rows' values. MariaDB runs it
    /// as a single statement over all the rows (bulk execution): parsed and prepared once for one row, so it stays in the
    /// statement cache whatever the number of rows, and costs the server about half of what a multi-row
    /// `INSERT … VALUES (…), (…)` of the same rows costs (measured: 29 against 51-56 µs of `mariadbd` CPU per
    /// `form_encounter` row). Like a multi-row insert it is one statement: it lands whole or not at all. Unlike one, its
    /// rows take their auto-increment ids one by one, so a parallel writer's rows may fall in between; its
    /// `lastInsertID` is its first row's. Rows of other texts are a programming error; an empty list gives an empty
    /// statement that must not run.
    public static func bulk(_ head: String, rows: [MariaDBQuery]) -> MariaDBQuery {
        guard let first = rows.first else { return MariaDBQuery(unsafeSQL: "") }
        precondition(rows.allSatisfy { $0.sql == first.sql && $0.rowCount == 1 }, "bulk rows must share one text")
        var binds: [MariaDBValue] = []
        binds.reserveCapacity(first.binds.count * rows.count)
        for row in rows { binds += row.binds }
        var query = MariaDBQuery(unsafeSQL: head + first.sql, binds: binds)
        query.rowCount = rows.count
        return query
    }

    public static func + (lhs: MariaDBQuery, rhs: MariaDBQuery) -> MariaDBQuery {
        var result = lhs
        result.append(rhs)
        return result
    }

    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        public var sql: String
        public var binds: [MariaDBValue]

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount)
            binds = []
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        public mutating func appendInterpolation(_ value: some MariaDBEncodable) {
            sql += "?"
            binds.append(value.mariaDBValue)
        }

        public mutating func appendInterpolation(_ value: (some MariaDBEncodable)?) {
            sql += "?"
            binds.append(value?.mariaDBValue ?? .null)
        }

        /// A comma-separated list of placeholders, e.g. for `IN (...)`. An empty list becomes `NULL`, so
        /// `x IN (NULL)` matches nothing.
        public mutating func appendInterpolation(list values: [some MariaDBEncodable]) {
            if values.isEmpty {
                sql += "NULL"
                return
            }
            sql += "?"
            if values.count > 1 { sql += String(repeating: ", ?", count: values.count - 1) }
            binds.reserveCapacity(binds.count + values.count)
            for value in values { binds.append(value.mariaDBValue) }
        }

        /// Like `list:`, but the number of placeholders is rounded up to a power of two by repeating the last value,
        /// so that lists of varying length share a few prepared statements (`IN (a, b, c, c)` matches what
        /// `IN (a, b, c)` matches).
        public mutating func appendInterpolation(paddedList values: [some MariaDBEncodable]) {
            guard let last = values.last else { return appendInterpolation(list: values) }
            var size = 1
            while size < values.count { size <<= 1 }
            appendInterpolation(list: values)
            guard size > values.count else { return }
            sql += String(repeating: ", ?", count: size - values.count)
            binds.append(contentsOf: repeatElement(last.mariaDBValue, count: size - values.count))
        }

        /// Raw SQL text: identifiers chosen in code only, never user input.
        public mutating func appendInterpolation(unescaped text: String) { sql += text }

        /// Another query, placeholders and binds included.
        public mutating func appendInterpolation(fragment: MariaDBQuery) {
            sql += fragment.sql
            binds += fragment.binds
        }
    }
}

/// A Swift value that can be bound to a placeholder.
public protocol MariaDBEncodable: Sendable {
    var mariaDBValue: MariaDBValue { get }
}

extension MariaDBValue: MariaDBEncodable { public var mariaDBValue: MariaDBValue { self } }
extension Int: MariaDBEncodable { public var mariaDBValue: MariaDBValue { .int(Int64(self)) } }
extension Int64: MariaDBEncodable { public var mariaDBValue: MariaDBValue { .int(self) } }
extension Int32: MariaDBEncodable { public var mariaDBValue: MariaDBValue { .int(Int64(self)) } }
extension UInt64: MariaDBEncodable { public var mariaDBValue: MariaDBValue { .uint(self) } }
extension UInt32: MariaDBEncodable { public var mariaDBValue: MariaDBValue { .uint(UInt64(self)) } }
extension Double: MariaDBEncodable { public var mariaDBValue: MariaDBValue { .double(self) } }
extension Bool: MariaDBEncodable { public var mariaDBValue: MariaDBValue { .int(self ? 1 : 0) } }
extension String: MariaDBEncodable { public var mariaDBValue: MariaDBValue { .text(self) } }
extension Substring: MariaDBEncodable { public var mariaDBValue: MariaDBValue { .text(String(self)) } }
extension Array: MariaDBEncodable where Element == UInt8 { public var mariaDBValue: MariaDBValue { .bytes(self) } }
extension MariaDBDateTime: MariaDBEncodable { public var mariaDBValue: MariaDBValue { .dateTime(self) } }
extension MariaDBTime: MariaDBEncodable { public var mariaDBValue: MariaDBValue { .time(self) } }
extension UUID: MariaDBEncodable {
    /// A UUID binds as its 16 raw bytes (OpenEMR's `binary(16)` uuid columns).
    public var mariaDBValue: MariaDBValue {
        let u = uuid
        return .bytes([u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15])
    }
}
