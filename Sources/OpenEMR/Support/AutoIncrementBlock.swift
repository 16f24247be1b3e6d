import MariaDB

/// How MariaDB numbers the rows of one multi-row `INSERT … VALUES`, so a writer knows their ids without reading them
/// back. In `innodb_autoinc_lock_mode` 0 and 1 (MariaDB's default) such an insert (a "simple insert") takes its values
/// as one block: the first is its `LAST_INSERT_ID()`, the next ones follow `auto_increment_increment` apart (more than
/// 1 on Galera, which changes it when nodes join or leave, so it is read on the session in the same hop as the insert).
/// In lock mode 2 (interleaved, as Galera requires) other sessions' rows may fall in between: nothing is computed.
/// A bulk execution (`MariaDBQuery.bulk`) is not one block either: its rows take their ids one by one, and a parallel
/// writer's rows fall in between (measured with four import writers); only its first id is its `LAST_INSERT_ID()`.
enum AutoIncrementBlock {
    /// The two facts, read in the same hop as the inserts.
    static let facts: MariaDBQuery = "SELECT @@innodb_autoinc_lock_mode AS lock_mode, @@SESSION.auto_increment_increment AS step"

    /// The step between one insert's ids, or nil when the server may interleave them.
    static func step(from facts: MariaDBResult) throws -> Int? {
        guard let row = facts.first, let mode = try row.decode("lock_mode", as: Int?.self), mode == 0 || mode == 1 else { return nil }
        return max(1, try row.decode("step", as: Int?.self) ?? 1)
    }

    /// The ids of the rows of `inserted` (multi-row inserts, in order), in row order; nil when the server may interleave
    /// them or a result does not say (`count` is what the caller inserted, a check on the affected rows).
    static func ids(of inserted: [MariaDBResult], facts: MariaDBResult, count: Int) throws -> [Int]? {
        guard let step = try step(from: facts) else { return nil }
        var ids: [Int] = []
        ids.reserveCapacity(count)
        for result in inserted {
            let rows = Int(result.affectedRows)
            guard result.lastInsertID > 0, rows > 0 else { return nil }
            let first = Int(result.lastInsertID)
            for index in 0..<rows { ids.append(first + index * step) }
        }
        return ids.count == count ? ids : nil
    }
}
