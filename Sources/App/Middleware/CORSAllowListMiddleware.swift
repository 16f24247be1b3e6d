import HTTPTypes
public import Hummingbird
import OpenEMR

/// CORS for the configured Flutter web origins (`CORS_ALLOWED_ORIGINS`), including preflight requests.
///
/// Only listed origins are echoed back (with `Vary: Origin`); `*` allows every origin without credentials.
public struct CORSAllowListMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>
    let allowAny: Bool
    static var allowMethods: String { "GET, POST, PUT, PATCH, DELETE, OPTIONS" }
    static var allowHeaders: String { "Authorization, Content-Type, If-Match, If-None-Match, X-Requested-With, X-CSRFToken" }
    static var exposeHeaders: String { "ETag, Location, Retry-After" }

    public init(allowedOrigins: [String]) {
        self.origins = Set(allowedOrigins.filter { $0 != "*" })
        self.allowAny = allowedOrigins.contains("*")
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], allowAny || origins.contains(origin) else {
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
        if allowAny && !origins.contains(origin) {
            headers[.accessControlAllowOrigin] = "*"
        } else {
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowCredentials] = "true"
            headers[.vary] = "Origin"
        }
    }
}
