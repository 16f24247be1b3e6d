internal import CMariaDB

/// One `MYSQL` handle and its prepared-statement cache.
///
/// Every method blocks and must run on the client's thread pool. The handle is used by one task at a time: a
/// connection is leased to a single task, and that task runs its C calls one closure at a time. That is the whole
/// reason `@unchecked Sendable` is sound here; nothing else in the module uses it.
final class MariaDBConnectionHandle: @unchecked Sendable {
    private var mysql: UnsafeMutablePointer<MYSQL>?
    private var statements: [String: UnsafeMutablePointer<MYSQL_STMT>] = [:]
    private var statementOrder: [String] = []
    private let statementCacheSize: Int

    /// Set when the connection must not be reused (lost connection, unknown state).
    private(set) var isBroken = false

    private init(mysql: UnsafeMutablePointer<MYSQL>, statementCacheSize: Int) {
        self.mysql = mysql
        self.statementCacheSize = max(1, statementCacheSize)
    }

    deinit { close() }

    /// Opens a connection (blocking).
    static func connect(_ configuration: MariaDBConfiguration) throws -> MariaDBConnectionHandle {
        MariaDBLibrary.ensureInitialised()
        guard let mysql = mysql_init(nil) else {
            throw MariaDBError(code: .connectionFailed, serverMessage: "mysql_init failed (out of memory)")
        }
        let options = configuration.options
        var connectTimeout = UInt32(clamping: max(1, options.connectTimeout))
        var readTimeout = UInt32(clamping: max(1, options.readTimeout))
        var writeTimeout = UInt32(clamping: max(1, options.writeTimeout))
        var reconnect: my_bool = 0
        mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connectTimeout)
        mysql_options(mysql, MYSQL_OPT_READ_TIMEOUT, &readTimeout)
        mysql_options(mysql, MYSQL_OPT_WRITE_TIMEOUT, &writeTimeout)
        mysql_options(mysql, MYSQL_OPT_RECONNECT, &reconnect)
        mysql_options(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4")

        switch configuration.tls.mode {
        case .disabled, .preferred:
            break
        case .required, .verifyCA, .verifyIdentity:
            var enforce: my_bool = 1
            mysql_options(mysql, MYSQL_OPT_SSL_ENFORCE, &enforce)
            if configuration.tls.mode != .required {
                var verify: my_bool = 1
                mysql_options(mysql, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify)
            }
            if let ca = configuration.tls.caFile {
                mysql_options(mysql, MYSQL_OPT_SSL_CA, ca)
            }
        }

        let host: String? = configuration.unixSocket != nil ? "localhost" : configuration.host
        let connected = mysql_real_connect(
            mysql, host, configuration.username, configuration.password, configuration.database,
            UInt32(clamping: configuration.port), configuration.unixSocket, 0
        )
        guard connected != nil else {
            let error = MariaDBError(
                code: configuration.tls.mode == .required && mysql_errno(mysql) == 2026 ? .tlsRequired : .connectionFailed,
                serverErrorNumber: mysql_errno(mysql), sqlState: String(cString: mysql_sqlstate(mysql)),
                serverMessage: String(cString: mysql_error(mysql))
            )
            mysql_close(mysql)
            throw error
        }
        let handle = MariaDBConnectionHandle(mysql: mysql, statementCacheSize: options.statementCacheSize)
        for statement in options.connectionInitStatements {
            _ = try handle.execute(MariaDBQuery(unsafeSQL: statement))
        }
        return handle
    }

    /// The server's thread id for this connection (for logs).
    var threadID: UInt {
        guard let mysql else { return 0 }
        return UInt(mysql_thread_id(mysql))
    }

    /// Closes the connection and frees every statement (blocking; safe to call twice).
    func close() {
        for statement in statements.values { mysql_stmt_close(statement) }
        statements.removeAll()
        statementOrder.removeAll()
        if let mysql {
            mysql_close(mysql)
            self.mysql = nil
        }
        isBroken = true
    }

    /// `mysql_ping`: true when the server answers.
    func ping() -> Bool {
        guard let mysql, !isBroken else { return false }
        if mysql_ping(mysql) != 0 {
            isBroken = true
            return false
        }
        return true
    }

    /// Marks the connection as not reusable.
    func markBroken() { isBroken = true }

    /// Runs a constant control statement through the text protocol (`START TRANSACTION`, `COMMIT`, `ROLLBACK`).
    /// Values never go through here.
    func control(_ sql: StaticString) throws {
        guard let mysql, !isBroken else { throw MariaDBError(code: .connectionFailed, serverMessage: "connection closed") }
        let status = sql.withUTF8Buffer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                mysql_real_query(mysql, chars.baseAddress, UInt(chars.count))
            }
        }
        if status != 0 {
            throw connectionError(query: sql.description)
        }
    }

    private func connectionError(query: String?) -> MariaDBError {
        guard let mysql else { return MariaDBError(code: .connectionFailed, serverMessage: "connection closed", query: query) }
        let error = MariaDBError(
            code: .server, serverErrorNumber: mysql_errno(mysql), sqlState: String(cString: mysql_sqlstate(mysql)),
            serverMessage: String(cString: mysql_error(mysql)), query: query
        )
        if error.isConnectionLost { isBroken = true }
        return error
    }

    private func statementError(_ statement: UnsafeMutablePointer<MYSQL_STMT>, query: String, code: MariaDBError.Code = .server)
        -> MariaDBError
    {
        let number = mysql_stmt_errno(statement)
        let error = MariaDBError(
            code: number == 0 ? .statement : code, serverErrorNumber: number == 0 ? nil : number,
            sqlState: String(cString: mysql_stmt_sqlstate(statement)), serverMessage: String(cString: mysql_stmt_error(statement)),
            query: query
        )
        if error.isConnectionLost { isBroken = true }
        return error
    }

    // MARK: Prepared statements

    private func preparedStatement(for sql: String) throws -> UnsafeMutablePointer<MYSQL_STMT> {
        if let cached = statements[sql] { return cached }
        guard let mysql, !isBroken else { throw MariaDBError(code: .connectionFailed, serverMessage: "connection closed", query: sql) }
        guard let statement = mysql_stmt_init(mysql) else { throw connectionError(query: sql) }
        let status = sql.utf8.withContiguousStorageIfAvailable { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                mysql_stmt_prepare(statement, chars.baseAddress, UInt(chars.count))
            }
        } ?? {
            var copy = sql
            return copy.withUTF8 { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in mysql_stmt_prepare(statement, chars.baseAddress, UInt(chars.count)) }
            }
        }()
        if status != 0 {
            let error = statementError(statement, query: sql)
            mysql_stmt_close(statement)
            throw error
        }
        var updateMaxLength: my_bool = 1
        mysql_stmt_attr_set(statement, STMT_ATTR_UPDATE_MAX_LENGTH, &updateMaxLength)
        if statements.count >= statementCacheSize, let oldest = statementOrder.first {
            statementOrder.removeFirst()
            if let evicted = statements.removeValue(forKey: oldest) { mysql_stmt_close(evicted) }
        }
        statements[sql] = statement
        statementOrder.append(sql)
        return statement
    }

    private func dropStatement(_ sql: String) {
        if let statement = statements.removeValue(forKey: sql) {
            mysql_stmt_close(statement)
            statementOrder.removeAll { $0 == sql }
        }
    }

    /// Prepares (or reuses), binds, executes and materialises one statement (blocking).
    func execute(_ query: MariaDBQuery) throws -> MariaDBResult {
        do {
            return try executeOnce(query)
        } catch let error as MariaDBError where (error.serverErrorNumber == 1615 || error.serverErrorNumber == 2057) && !isBroken {
            // After DDL: "Prepared statement needs to be re-prepared" (1615, server), or CR_NEW_STMT_METADATA (2057,
            // libmariadb: a cached SELECT now returns a different number of columns, e.g. `SELECT *` after
            // `ALTER TABLE ... ADD COLUMN`). executeOnce already closed the statement (which flushes the pending
            // result); prepare again once.
            dropStatement(query.sql)
            return try executeOnce(query)
        }
    }

    private func executeOnce(_ query: MariaDBQuery) throws -> MariaDBResult {
        let statement = try preparedStatement(for: query.sql)
        let parameterCount = Int(mysql_stmt_param_count(statement))
        let rowCount = max(1, query.rowCount)
        guard parameterCount * rowCount == query.binds.count, rowCount == 1 || parameterCount > 0 else {
            throw MariaDBError(
                code: .statement,
                serverMessage: "statement has \(parameterCount) placeholders for \(rowCount) rows but \(query.binds.count) binds",
                query: query.sql
            )
        }
        do {
            if rowCount > 1 {
                // Bulk execution: the array size is set for this execution only (the statement stays cached and may
                // run with single values next).
                try BulkParameterBinds.with(query.binds, columns: parameterCount, rows: rowCount) { binds in
                    var size = UInt32(rowCount)
                    mysql_stmt_attr_set(statement, STMT_ATTR_ARRAY_SIZE, &size)
                    defer {
                        var none: UInt32 = 0
                        mysql_stmt_attr_set(statement, STMT_ATTR_ARRAY_SIZE, &none)
                    }
                    if mysql_stmt_bind_param(statement, binds) != 0 {
                        throw statementError(statement, query: query.sql, code: .statement)
                    }
                    if mysql_stmt_execute(statement) != 0 {
                        throw statementError(statement, query: query.sql)
                    }
                }
            } else {
                try ParameterBinds.with(query.binds) { binds in
                    if parameterCount > 0, mysql_stmt_bind_param(statement, binds) != 0 {
                        throw statementError(statement, query: query.sql, code: .statement)
                    }
                    if mysql_stmt_execute(statement) != 0 {
                        throw statementError(statement, query: query.sql)
                    }
                }
            }
            return try readResult(statement, query: query.sql)
        } catch {
            // The statement may hold unread results or a half-sent state; never reuse it after a failure.
            dropStatement(query.sql)
            throw error
        }
    }

    private func readResult(_ statement: UnsafeMutablePointer<MYSQL_STMT>, query: String) throws -> MariaDBResult {
        guard let metadata = mysql_stmt_result_metadata(statement) else {
            return MariaDBResult(
                columns: MariaDBColumns(names: []), rows: [], affectedRows: mysql_stmt_affected_rows(statement),
                lastInsertID: mysql_stmt_insert_id(statement)
            )
        }
        defer { mysql_free_result(metadata) }
        if mysql_stmt_store_result(statement) != 0 {
            throw statementError(statement, query: query)
        }
        defer { mysql_stmt_free_result(statement) }

        let fieldCount = Int(mysql_num_fields(metadata))
        guard let fields = mysql_fetch_fields(metadata) else {
            throw MariaDBError(code: .statement, serverMessage: "no field metadata", query: query)
        }
        var names: [String] = []
        names.reserveCapacity(fieldCount)
        for index in 0..<fieldCount {
            names.append(fields[index].name.map { String(cString: $0) } ?? "")
        }
        let columns = MariaDBColumns(names: names)
        let buffers = ResultBuffers(fields: fields, count: fieldCount)
        defer { buffers.deallocate() }
        if fieldCount > 0, mysql_stmt_bind_result(statement, buffers.binds) != 0 {
            throw statementError(statement, query: query, code: .statement)
        }
        let rowCount = Int(mysql_stmt_num_rows(statement))
        var rows: [MariaDBRow] = []
        rows.reserveCapacity(rowCount)
        while true {
            let status = mysql_stmt_fetch(statement)
            if status == MYSQL_NO_DATA { break }
            if status == 1 { throw statementError(statement, query: query) }
            // MYSQL_DATA_TRUNCATED cannot happen with STMT_ATTR_UPDATE_MAX_LENGTH-sized buffers; values are read by length.
            rows.append(MariaDBRow(columns: columns, values: buffers.values()))
        }
        var result = MariaDBResult(columns: columns, rows: rows, affectedRows: mysql_stmt_affected_rows(statement), lastInsertID: 0)
        result.warningCount = Int(mysql_warning_count(mysql))
        return result
    }
}

// MARK: - Parameter binding

/// Allocates the MYSQL_BIND array and the value storage for one execution (one arena for all values, however many
/// there are: a 256-row audit insert binds thousands), and frees it afterwards.
private enum ParameterBinds {
    static func with<R>(_ values: [MariaDBValue], _ body: (UnsafeMutablePointer<MYSQL_BIND>?) throws -> R) throws -> R {
        if values.isEmpty { return try body(nil) }
        // Each value takes an 8-aligned slot: its bytes, then its length word for variable-length values.
        func aligned(_ count: Int) -> Int { (max(count, 1) + 7) & ~7 }
        func slotSize(_ value: MariaDBValue) -> Int {
            switch value {
            case .null: return 0
            case .int, .uint, .double: return 8
            case .decimal(let text), .text(let text): return aligned(text.utf8.count) + 8
            case .bytes(let bytes): return aligned(bytes.count) + 8
            case .dateTime(let dateTime): return aligned(dateTime.description.utf8.count) + 8
            case .time(let time): return aligned(time.description.utf8.count) + 8
            }
        }
        var arenaSize = 0
        for value in values { arenaSize += slotSize(value) }
        let arena = UnsafeMutableRawPointer.allocate(byteCount: max(arenaSize, 8), alignment: 8)
        let binds = UnsafeMutablePointer<MYSQL_BIND>.allocate(capacity: values.count)
        binds.initialize(repeating: MYSQL_BIND(), count: values.count)
        defer {
            binds.deinitialize(count: values.count)
            binds.deallocate()
            arena.deallocate()
        }
        var offset = 0

        func storeBytes(_ bytes: some Collection<UInt8>, type: enum_field_types, into bind: UnsafeMutablePointer<MYSQL_BIND>) {
            let count = bytes.count
            let buffer = arena + offset
            UnsafeMutableRawBufferPointer(start: buffer, count: count).copyBytes(from: bytes)
            offset += aligned(count)
            let lengthPointer = (arena + offset).bindMemory(to: UInt.self, capacity: 1)
            offset += 8
            lengthPointer.pointee = UInt(count)
            bind.pointee.buffer_type = type
            bind.pointee.buffer = buffer
            bind.pointee.buffer_length = UInt(count)
            cmariadb_bind_set_length(bind, lengthPointer)
        }

        func storeScalar<T>(_ value: T, type: enum_field_types, unsigned: Bool, into bind: UnsafeMutablePointer<MYSQL_BIND>) {
            let buffer = arena + offset
            offset += 8
            buffer.initializeMemory(as: T.self, repeating: value, count: 1)
            bind.pointee.buffer_type = type
            bind.pointee.buffer = buffer
            bind.pointee.is_unsigned = unsigned ? 1 : 0
        }

        for (index, value) in values.enumerated() {
            let bind = binds + index
            switch value {
            case .null:
                bind.pointee.buffer_type = MYSQL_TYPE_NULL
            case .int(let number):
                storeScalar(number, type: MYSQL_TYPE_LONGLONG, unsigned: false, into: bind)
            case .uint(let number):
                storeScalar(number, type: MYSQL_TYPE_LONGLONG, unsigned: true, into: bind)
            case .double(let number):
                storeScalar(number, type: MYSQL_TYPE_DOUBLE, unsigned: false, into: bind)
            case .decimal(let text):
                storeBytes(text.utf8, type: MYSQL_TYPE_NEWDECIMAL, into: bind)
            case .text(let text):
                storeBytes(text.utf8, type: MYSQL_TYPE_STRING, into: bind)
            case .bytes(let bytes):
                storeBytes(bytes, type: MYSQL_TYPE_BLOB, into: bind)
            case .dateTime(let dateTime):
                // Sent as text so that zero dates and DATE vs DATETIME targets convert exactly as the server does.
                storeBytes(dateTime.description.utf8, type: MYSQL_TYPE_STRING, into: bind)
            case .time(let time):
                storeBytes(time.description.utf8, type: MYSQL_TYPE_STRING, into: bind)
            }
        }
        assert(offset == arenaSize, "parameter arena sized wrongly")
        return try body(binds)
    }
}

/// The column-wise arrays of a bulk execution (libmariadb's array binding): per column one `MYSQL_BIND` whose buffer
/// holds one value per row (8-byte numbers side by side; for text and bytes a pointer per row into the arena, with a
/// length per row), and an indicator per row when the column has NULLs. A column's values must be of one kind (NULLs
/// aside): the statement's placeholders are typed by the rows' values, as they are in a multi-row statement.
private enum BulkParameterBinds {
    enum Kind: Equatable {
        case none, signed, unsigned, double, decimal, text, bytes

        /// Sent as a pointer and a length per row, not as 8 bytes in place.
        var isVariableLength: Bool { self == .decimal || self == .text || self == .bytes }
    }

    /// Room for the text of a date-time or time value ("YYYY-MM-DD HH:MM:SS.ffffff", "-838:59:59.999999"), whatever
    /// Int its fields hold (a 20-character year or hour count leaves it at most 42).
    static let maximumTemporalText = 64

    static func kind(_ value: MariaDBValue) -> Kind {
        switch value {
        case .null: return .none
        case .int: return .signed
        case .uint: return .unsigned
        case .double: return .double
        case .decimal: return .decimal
        case .text, .dateTime, .time: return .text
        case .bytes: return .bytes
        }
    }

    static func with<R>(
        _ values: [MariaDBValue], columns: Int, rows: Int, _ body: (UnsafeMutablePointer<MYSQL_BIND>) throws -> R
    ) throws -> R {
        // The column kinds, the NULLs, and the bytes of the variable-length values.
        var kinds = [Kind](repeating: .none, count: columns)
        var hasNull = [Bool](repeating: false, count: columns)
        var dataSize = 0
        for row in 0..<rows {
            for column in 0..<columns {
                let value = values[row * columns + column]
                let valueKind = kind(value)
                if valueKind == .none {
                    hasNull[column] = true
                    continue
                }
                if kinds[column] == .none {
                    kinds[column] = valueKind
                } else if kinds[column] != valueKind {
                    throw MariaDBError(code: .statement, serverMessage: "bulk column \(column + 1) mixes value types", query: "")
                }
                switch value {
                case .decimal(let text), .text(let text): dataSize += text.utf8.count
                case .dateTime, .time: dataSize += maximumTemporalText  // formatted once, when stored
                case .bytes(let bytes): dataSize += bytes.count
                default: break
                }
            }
        }
        // Per column: `rows` slots of 8 bytes (numbers or pointers), then for variable-length columns `rows` lengths,
        // then for columns with NULLs `rows` indicator bytes (rounded up to 8); then the data of all the values.
        var layoutSize = 0
        for column in 0..<columns {
            layoutSize += rows * 8
            if kinds[column].isVariableLength { layoutSize += rows * MemoryLayout<UInt>.stride }
            if hasNull[column] { layoutSize += (rows + 7) & ~7 }
        }
        let arena = UnsafeMutableRawPointer.allocate(byteCount: max(layoutSize + dataSize, 8), alignment: 8)
        let binds = UnsafeMutablePointer<MYSQL_BIND>.allocate(capacity: columns)
        binds.initialize(repeating: MYSQL_BIND(), count: columns)
        defer {
            binds.deinitialize(count: columns)
            binds.deallocate()
            arena.deallocate()
        }
        var offset = 0
        var data = arena + layoutSize
        for column in 0..<columns {
            let bind = binds + column
            let slots = arena + offset
            offset += rows * 8
            var lengths: UnsafeMutablePointer<UInt>?
            if kinds[column].isVariableLength {
                lengths = (arena + offset).bindMemory(to: UInt.self, capacity: rows)
                offset += rows * MemoryLayout<UInt>.stride
            }
            if hasNull[column] {
                let indicators = (arena + offset).bindMemory(to: CChar.self, capacity: rows)
                offset += (rows + 7) & ~7
                for row in 0..<rows {
                    indicators[row] = CChar(values[row * columns + column].isNull ? STMT_INDICATOR_NULL.rawValue : STMT_INDICATOR_NONE.rawValue)
                }
                cmariadb_bind_set_indicator(bind, indicators)
            }
            func store(_ bytes: some Collection<UInt8>, row: Int) {
                let count = bytes.count
                if bytes.withContiguousStorageIfAvailable({ data.copyMemory(from: UnsafeRawPointer($0.baseAddress!), byteCount: count) }) == nil {
                    UnsafeMutableRawBufferPointer(start: data, count: count).copyBytes(from: bytes)
                }
                (slots + row * 8).storeBytes(of: UnsafeRawPointer(data), as: UnsafeRawPointer.self)
                lengths?[row] = UInt(count)
                data += count
            }
            switch kinds[column] {
            case .none, .text: bind.pointee.buffer_type = MYSQL_TYPE_STRING
            case .signed, .unsigned: bind.pointee.buffer_type = MYSQL_TYPE_LONGLONG
            case .double: bind.pointee.buffer_type = MYSQL_TYPE_DOUBLE
            case .decimal: bind.pointee.buffer_type = MYSQL_TYPE_NEWDECIMAL
            case .bytes: bind.pointee.buffer_type = MYSQL_TYPE_BLOB
            }
            bind.pointee.is_unsigned = kinds[column] == .unsigned ? 1 : 0
            bind.pointee.buffer = slots
            // A NULL row (the indicator says so) keeps a zero slot: no pointer, length 0.
            slots.initializeMemory(as: UInt8.self, repeating: 0, count: rows * 8)
            for row in 0..<rows {
                switch values[row * columns + column] {
                case .null: lengths?[row] = 0
                case .int(let number): (slots + row * 8).storeBytes(of: number, as: Int64.self)
                case .uint(let number): (slots + row * 8).storeBytes(of: number, as: UInt64.self)
                case .double(let number): (slots + row * 8).storeBytes(of: number, as: Double.self)
                case .decimal(let text), .text(let text): store(text.utf8, row: row)
                case .bytes(let bytes): store(bytes, row: row)
                case .dateTime(let dateTime): store(dateTime.description.utf8, row: row)
                case .time(let time): store(time.description.utf8, row: row)
                }
            }
            if let lengths { cmariadb_bind_set_length(bind, lengths) }
        }
        assert(offset == layoutSize && data <= arena + layoutSize + dataSize, "bulk arena sized wrongly")
        return try body(binds)
    }
}

// MARK: - Result buffers

/// Output buffers for one result set, sized from `max_length` after `mysql_stmt_store_result`.
private struct ResultBuffers {
    enum Kind {
        case signed, unsigned, double, decimal, text, bytes, dateTime(hasTime: Bool), time
    }

    let binds: UnsafeMutablePointer<MYSQL_BIND>
    let kinds: [Kind]
    let buffers: [UnsafeMutableRawPointer]
    let lengths: UnsafeMutablePointer<UInt>
    let nulls: UnsafeMutablePointer<my_bool>
    let errors: UnsafeMutablePointer<my_bool>
    let capacity: Int

    init(fields: UnsafeMutablePointer<MYSQL_FIELD>, count: Int) {
        capacity = max(count, 1)
        binds = .allocate(capacity: capacity)
        binds.initialize(repeating: MYSQL_BIND(), count: capacity)
        lengths = .allocate(capacity: capacity)
        lengths.initialize(repeating: 0, count: capacity)
        nulls = .allocate(capacity: capacity)
        nulls.initialize(repeating: 0, count: capacity)
        errors = .allocate(capacity: capacity)
        errors.initialize(repeating: 0, count: capacity)
        var kinds: [Kind] = []
        var buffers: [UnsafeMutableRawPointer] = []
        kinds.reserveCapacity(count)
        buffers.reserveCapacity(count)
        for index in 0..<count {
            let field = fields[index]
            let kind: Kind
            let bufferType: enum_field_types
            var size: Int
            switch field.type {
            case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_INT24, MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_YEAR:
                kind = (field.flags & UInt32(UNSIGNED_FLAG)) != 0 ? .unsigned : .signed
                bufferType = MYSQL_TYPE_LONGLONG
                size = 8
            case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE:
                kind = .double
                bufferType = MYSQL_TYPE_DOUBLE
                size = 8
            case MYSQL_TYPE_DECIMAL, MYSQL_TYPE_NEWDECIMAL:
                kind = .decimal
                bufferType = MYSQL_TYPE_STRING
                size = Int(field.max_length) + 1
            case MYSQL_TYPE_DATE, MYSQL_TYPE_NEWDATE:
                kind = .dateTime(hasTime: false)
                bufferType = MYSQL_TYPE_DATE
                size = MemoryLayout<MYSQL_TIME>.size
            case MYSQL_TYPE_DATETIME, MYSQL_TYPE_TIMESTAMP:
                kind = .dateTime(hasTime: true)
                bufferType = field.type
                size = MemoryLayout<MYSQL_TIME>.size
            case MYSQL_TYPE_TIME:
                kind = .time
                bufferType = MYSQL_TYPE_TIME
                size = MemoryLayout<MYSQL_TIME>.size
            case MYSQL_TYPE_BIT:
                kind = .bytes
                bufferType = MYSQL_TYPE_BLOB
                size = Int(field.max_length) + 1
            default:
                // VARCHAR, CHAR, TEXT, BLOB, ENUM, SET, JSON, BINARY, GEOMETRY: charset 63 means binary.
                kind = field.charsetnr == 63 ? .bytes : .text
                bufferType = MYSQL_TYPE_BLOB
                size = Int(field.max_length) + 1
            }
            size = max(size, 8)
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            buffer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            buffers.append(buffer)
            kinds.append(kind)
            let bind = binds + index
            bind.pointee.buffer_type = bufferType
            bind.pointee.buffer = buffer
            bind.pointee.buffer_length = UInt(size)
            bind.pointee.is_unsigned = kind.isUnsigned ? 1 : 0
            cmariadb_bind_set_length(bind, lengths + index)
            cmariadb_bind_set_is_null(bind, nulls + index)
            cmariadb_bind_set_error(bind, errors + index)
        }
        self.kinds = kinds
        self.buffers = buffers
    }

    func values() -> [MariaDBValue] {
        var values: [MariaDBValue] = []
        values.reserveCapacity(kinds.count)
        for index in kinds.indices {
            if nulls[index] != 0 {
                values.append(.null)
                continue
            }
            let buffer = buffers[index]
            switch kinds[index] {
            case .signed:
                values.append(.int(buffer.load(as: Int64.self)))
            case .unsigned:
                values.append(.uint(buffer.load(as: UInt64.self)))
            case .double:
                values.append(.double(buffer.load(as: Double.self)))
            case .decimal:
                values.append(.decimal(text(at: index)))
            case .text:
                values.append(.text(text(at: index)))
            case .bytes:
                let length = Int(lengths[index])
                values.append(.bytes(Array(UnsafeRawBufferPointer(start: buffer, count: length))))
            case .dateTime(let hasTime):
                let time = buffer.load(as: MYSQL_TIME.self)
                values.append(
                    .dateTime(
                        MariaDBDateTime(
                            year: Int(time.year), month: Int(time.month), day: Int(time.day), hour: Int(time.hour),
                            minute: Int(time.minute), second: Int(time.second), microsecond: Int(time.second_part), hasTime: hasTime
                        )
                    )
                )
            case .time:
                let time = buffer.load(as: MYSQL_TIME.self)
                values.append(
                    .time(
                        MariaDBTime(
                            negative: time.neg != 0, hours: Int(time.day) * 24 + Int(time.hour), minutes: Int(time.minute),
                            seconds: Int(time.second), microseconds: Int(time.second_part)
                        )
                    )
                )
            }
        }
        return values
    }

    private func text(at index: Int) -> String {
        let length = Int(lengths[index])
        let bytes = UnsafeRawBufferPointer(start: buffers[index], count: length)
        return String(decoding: bytes, as: UTF8.self)
    }

    func deallocate() {
        for buffer in buffers { buffer.deallocate() }
        binds.deinitialize(count: capacity)
        binds.deallocate()
        lengths.deallocate()
        nulls.deallocate()
        errors.deallocate()
    }
}

extension ResultBuffers.Kind {
    fileprivate var isUnsigned: Bool {
        if case .unsigned = self { return true }
        return false
    }
}
