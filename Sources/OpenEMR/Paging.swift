import Foundation
public import Logging
public import MariaDB

/// DRF-style paging: `?page=` (1-based) and `?page_size=` (default 50, max 200), answered as
/// `{"count","next","previous","results"}` with absolute `next`/`previous` URLs.
public struct PageRequest: Sendable, Equatable {
    public var page: Int
    public var size: Int
    static let defaultSize = 50
    static let maximumSize = 200

    var offset: Int { (page - 1) * size }

    init(page: Int, size: Int) {
        self.page = page
        self.size = size
    }

    /// Reads `page` and `page_size` as Django REST framework's clients expect: an empty or invalid `page` (not a
    /// positive integer, nor `last`) is the first page, an empty or invalid `page_size` the default size, and a larger
    /// one the maximum; a page past the end is 404, decided by the caller once the count is known (`resolved`).
    public init(query: [String: String]) {
        var page = 1
        var size = Self.defaultSize
        if let text = query["page"]?.trimmingCharacters(in: .whitespaces) {
            if text == "last" {
                page = Int.max
            } else if let value = Int(text), value >= 1 {
                // Far past any real last page (and never the `last` marker): still 404 in `resolved`.
                page = min(value, 1_000_000)
            }
        }
        if let text = query["page_size"]?.trimmingCharacters(in: .whitespaces), let value = Int(text), value >= 1 {
            size = min(value, Self.maximumSize)
        }
        self.page = page
        self.size = size
    }

    /// Resolves `page=last` and refuses pages past the end (DRF answers 404 "Invalid page.").
    func resolved(count: Int) throws -> PageRequest {
        let lastPage = max(1, (count + size - 1) / size)
        if page == Int.max { return PageRequest(page: lastPage, size: size) }
        if page > lastPage { throw OpenEMRError.notFound("Invalid page.") }
        return self
    }
}

/// One page of a table: the count and the rows of the requested page, on one connection.
public struct PagedQuery {
    /// The total count, the resolved page and its items.
    public typealias Result<Item> = (count: Int, page: PageRequest, items: [Item])

    /// `SELECT COUNT(*) FROM <from>` then `SELECT <columns> FROM <from> ORDER BY <orderBy> LIMIT … OFFSET …`;
    /// `from` includes the WHERE clause and its binds; `columns` and `orderBy` are code-chosen SQL.
    public static func run<Item: Sendable>(
        database: MariaDBClient, logger: Logger, columns: String, from: MariaDBQuery, orderBy: String, page: PageRequest,
        map: @Sendable (MariaDBRow) throws -> Item
    ) async throws -> (count: Int, page: PageRequest, items: [Item]) {
        try await database.withConnection(logger: logger) { connection in
            let count = try await connection.query("SELECT COUNT(*) AS n FROM \(fragment: from)").first?.decode("n", as: Int.self) ?? 0
            let page = try page.resolved(count: count)
            let rows = try await connection.query(
                "SELECT \(unescaped: columns) FROM \(fragment: from) ORDER BY \(unescaped: orderBy) LIMIT \(page.size) OFFSET \(page.offset)"
            ).rows
            return (count, page, try rows.map(map))
        }
    }
}
