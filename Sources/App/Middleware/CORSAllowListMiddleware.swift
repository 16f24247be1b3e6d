import HTTPTypes
public import Hummingbird
import OpenEMR

/// CORS for the configured Flutter web origins (`CORS_ALLOWED_ORIGINS`), including preflight requests.
///
/// Only listed origins are echoed back (with `Vary: Origin`); `*` allows every origin without credentials. An entry
/// ending in `:*` allows that scheme and host on any port (`http://localhost:*`: a Flutter web dev server, whose port
/// changes from run to run).
public struct CORSAllowListMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>
    /// `scheme://host:` of the `:*` entries.
    let anyPortPrefixes: [String]
    let allowAny: Bool
    static var allowMethods: String { "GET, POST, PUT, PATCH, DELETE, OPTIONS" }
    static var allowHeaders: String { "Authorization, Content-Type, If-Match, If-None-Match, X-Requested-With, X-CSRFToken" }
    static var exposeHeaders: String { "ETag, Location, Retry-After" }

    public init(allowedOrigins: [String]) {
        self.origins = Set(allowedOrigins.filter { $0 != "*" && !$0.hasSuffix(":*") })
        self.anyPortPrefixes = allowedOrigins.filter { $0.hasSuffix(":*") }.map { String($0.dropLast()) }
        self.allowAny = allowedOrigins.contains("*")
    }

    /// Whether `origin` is listed, exactly or by a `:*` entry (then its port must be 1 to 5 digits).
    func isListed(_ origin: String) -> Bool {
        if origins.contains(origin) { return true }
        return anyPortPrefixes.contains { prefix in
            guard origin.hasPrefix(prefix) else { return false }
            let port = origin.dropFirst(prefix.count)
            return (1...5).contains(port.count) && port.allSatisfy { $0.isASCII && $0.isNumber }
        }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], allowAny || isListed(origin) else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var response = Response(status: .noContent)
            apply(to: &response.headers, origin: origin)
            response.headers[.accessControlAllowMethods] = Self.allowMethods
            response.headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? Self.allowHeaders
            response.headers[.accessControlMaxAge] = "600"
            return response
        }
        var response = try await next(request, context)
        apply(to: &response.headers, origin: origin)
        response.headers[.accessControlExposeHeaders] = Self.exposeHeaders
        return response
    }

    private func apply(to headers: inout HTTPFields, origin: String) {
        if allowAny && !isListed(origin) {
            headers[.accessControlAllowOrigin] = "*"
        } else {
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowCredentials] = "true"
            headers[.vary] = "Origin"
        }
    }
}
