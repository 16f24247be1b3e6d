import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MariaDB

/// DRF-style paging: `?page=` (1-based) and `?page_size=` (default 50, max 200), answered as
/// `{"count","next","previous","results"}` with absolute `next`/`previous` URLs.
struct PageRequest: Sendable, Equatable {
    var page: Int
    var size: Int
    static let defaultSize = 50
    static let maximumSize = 200

    var offset: Int { (page - 1) * size }

    init(page: Int, size: Int) {
        self.page = page
        self.size = size
    }

    /// Reads and validates `page` and `page_size` (400 with details for bad values, 404 past the last page is
    /// decided by the caller once the count is known, as DRF does).
    init(query: [String: String]) throws {
        var details: [String: String] = [:]
        var page = 1
        var size = Self.defaultSize
        if let text = query["page"] {
            if text == "last" {
                page = Int.max
            } else if let value = Int(text), value >= 1, value <= 1_000_000 {
                page = value
            } else {
                details["page"] = "A valid page number is required."
            }
        }
        if let text = query["page_size"] {
            if let value = Int(text), value >= 1 {
                size = min(value, Self.maximumSize)
            } else {
                details["page_size"] = "A positive integer is required."
            }
        }
        if !details.isEmpty { throw AppError.validation(details) }
        self.page = page
        self.size = size
    }

    /// Resolves `page=last` and refuses pages past the end (DRF answers 404 "Invalid page.").
    func resolved(count: Int) throws -> PageRequest {
        let lastPage = max(1, (count + size - 1) / size)
        if page == Int.max { return PageRequest(page: lastPage, size: size) }
        if page > lastPage { throw AppError(.notFound, code: "not_found", message: "Invalid page.") }
        return self
    }
}

/// One page of results.
struct Page<Item: Encodable & Sendable>: ResponseEncodable, Sendable {
    var count: Int
    var next: String?
    var previous: String?
    var results: [Item]

    init(count: Int, page: PageRequest, results: [Item], baseURL: String, path: String, query: [(String, String)]) {
        self.count = count
        self.results = results
        let lastPage = max(1, (count + page.size - 1) / page.size)
        func link(_ number: Int) -> String {
            var items = query.filter { $0.0 != "page" }
            if number > 1 { items.append(("page", String(number))) }
            let text = items.map { Self.percentEncode($0.0) + "=" + Self.percentEncode($0.1) }.joined(separator: "&")
            return baseURL + path + (text.isEmpty ? "" : "?" + text)
        }
        next = page.page < lastPage ? link(page.page + 1) : nil
        previous = page.page > 1 ? link(page.page - 1) : nil
    }

    static func percentEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    // `next`/`previous` are always present, as null when there is no such page.
    enum CodingKeys: String, CodingKey { case count, next, previous, results }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(count, forKey: .count)
        try container.encode(next, forKey: .next)
        try container.encode(previous, forKey: .previous)
        try container.encode(results, forKey: .results)
    }
}

/// Helpers to read a request's query and build absolute URLs.
struct RequestInfo {
    /// Query items in order (last value wins in `dictionary`), decoded as a form-encoded query is (as Django's
    /// `QueryDict` does): `+` is a space, then percent-escapes, in keys and values alike.
    static func queryItems(_ request: Request) -> [(String, String)] {
        queryItems(rawQuery: request.uri.query)
    }

    static func queryItems(rawQuery: String?) -> [(String, String)] {
        guard let rawQuery, !rawQuery.isEmpty else { return [] }
        func decode(_ text: Substring) -> String {
            let spaced = text.replacingOccurrences(of: "+", with: " ")
            return spaced.removingPercentEncoding ?? spaced
        }
        return rawQuery.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    static func queryDictionary(_ request: Request) -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in queryItems(request) { result[key] = value }
        return result
    }

    /// `BRIDGE_PUBLIC_URL`, else `http(s)://<Host>` (scheme from `X-Forwarded-Proto` behind a trusted proxy).
    static func baseURL(_ request: Request, configuration: AppConfiguration) -> String {
        if let configured = configuration.publicURL {
            return configured.hasSuffix("/") ? String(configured.dropLast()) : configured
        }
        let host = request.head.authority ?? "\(configuration.host):\(configuration.port)"
        var scheme = "http"
        if configuration.trustProxy, let proto = request.headers[HTTPField.Name("X-Forwarded-Proto") ?? .via], proto == "https" { scheme = "https" }
        return scheme + "://" + host
    }
}

/// One page of a table: the count and the rows of the requested page, on one connection.
struct PagedQuery {
    /// `SELECT COUNT(*) FROM <from>` then `SELECT <columns> FROM <from> ORDER BY <orderBy> LIMIT … OFFSET …`;
    /// `from` includes the WHERE clause and its binds; `columns` and `orderBy` are code-chosen SQL.
    static func run<Item: Sendable>(
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
