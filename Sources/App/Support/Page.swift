import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MariaDB
import OpenEMR

/// DRF's absolute `next`/`previous` links of a page (nil where there is no such page); every other query item is kept.
enum PageLinks {
    static func of(count: Int, page: PageRequest, baseURL: String, path: String, query: [(String, String)]) -> (next: String?, previous: String?) {
        let lastPage = max(1, (count + page.size - 1) / page.size)
        func link(_ number: Int) -> String {
            var items = query.filter { $0.0 != "page" }
            if number > 1 { items.append(("page", String(number))) }
            let text = items.map { percentEncode($0.0) + "=" + percentEncode($0.1) }.joined(separator: "&")
            return baseURL + path + (text.isEmpty ? "" : "?" + text)
        }
        return (page.page < lastPage ? link(page.page + 1) : nil, page.page > 1 ? link(page.page - 1) : nil)
    }

    /// Every byte but ASCII letters, digits and `-._~` as `%XX` (RFC 3986's unreserved characters).
    static func percentEncode(_ text: String) -> String {
        func unreserved(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                true
            default: false
            }
        }
        guard !text.utf8.allSatisfy(unreserved) else { return text }
        let digits = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count * 3)
        for byte in text.utf8 {
            if unreserved(byte) {
                bytes.append(byte)
            } else {
                bytes.append(UInt8(ascii: "%"))
                bytes.append(digits[Int(byte >> 4)])
                bytes.append(digits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
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
        (next, previous) = PageLinks.of(count: count, page: page, baseURL: baseURL, path: path, query: query)
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
        return rawQuery.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (formDecoded(parts[0]), parts.count > 1 ? formDecoded(parts[1]) : "")
        }
    }

    /// One name or value of a form-encoded query: `+` is a space and `%XX` a byte. A malformed escape, or escaped bytes
    /// that are not UTF-8, leave the text as sent (with its `+` as spaces). Works on the bytes: Foundation's
    /// `replacingOccurrences` and `removingPercentEncoding` cost more than the rest of a list request's parsing.
    static func formDecoded(_ text: Substring) -> String {
        let percent = UInt8(ascii: "%"), plus = UInt8(ascii: "+"), space = UInt8(ascii: " ")
        guard text.utf8.contains(where: { $0 == percent || $0 == plus }) else { return String(text) }
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        let spaced = text.utf8.map { $0 == plus ? space : $0 }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(spaced.count)
        var index = 0
        while index < spaced.count {
            guard spaced[index] == percent else {
                decoded.append(spaced[index])
                index += 1
                continue
            }
            guard index + 2 < spaced.count, let high = hex(spaced[index + 1]), let low = hex(spaced[index + 2]) else {
                return String(decoding: spaced, as: UTF8.self)
            }
            decoded.append(high << 4 | low)
            index += 3
        }
        return String(validating: decoded, as: UTF8.self) ?? String(decoding: spaced, as: UTF8.self)
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


/// A DRF page (`{"count","next","previous","results"}`) written straight into bytes, each item by its own JSON writer:
/// the one page writer of the hand-written hot lists (patients, transcriptions).
enum PageWriter {
    static func bytes<Item>(
        _ request: Request, _ result: PagedQuery.Result<Item>, configuration: AppConfiguration, itemCapacity: Int,
        countIsExact: Bool? = nil, write: (Item, inout JSONWriter) -> Void
    ) -> [UInt8] {
        let links = PageLinks.of(
            count: result.count, page: result.page, baseURL: RequestInfo.baseURL(request, configuration: configuration), path: request.uri.path,
            query: RequestInfo.queryItems(request)
        )
        var writer = JSONWriter(capacity: 128 + itemCapacity * result.items.count)
        writer.raw("{\"count\":")
        writer.int(result.count)
        if let countIsExact {
            // Where a count can be a lower bound (the patient search): whether it is exact.
            writer.raw(countIsExact ? ",\"count_exact\":true" : ",\"count_exact\":false")
        }
        writer.raw(",\"next\":")
        writer.string(links.next)
        writer.raw(",\"previous\":")
        writer.string(links.previous)
        writer.raw(",\"results\":[")
        for (index, item) in result.items.enumerated() {
            if index > 0 { writer.raw(",") }
            write(item, &writer)
        }
        writer.raw("]}")
        return writer.bytes
    }
}
