import HTTPTypes
public import Hummingbird
import Synchronization

/// The paths and methods the router serves, read from the router itself (`Router.routes`) once its routes are added,
/// and resolved the way its trie resolves a path: at each level a literal segment wins over a `{capture}`.
public final class RouteTable: Sendable {
    private final class Node: Sendable {
        let literals: [String: Node]
        let capture: Node?
        let methods: Set<String>
        init(literals: [String: Node], capture: Node?, methods: Set<String>) {
            self.literals = literals
            self.capture = capture
            self.methods = methods
        }
    }

    /// A mutable builder of the trie (only while `load` runs).
    private struct Builder {
        var literals: [String: Builder] = [:]
        var capture: [Builder] = []
        var methods: Set<String> = []

        mutating func insert(_ components: ArraySlice<String>, method: String) {
            guard let first = components.first else {
                methods.insert(method)
                return
            }
            if first.hasPrefix("{") || first.hasPrefix(":") || first == "*" {
                if capture.isEmpty { capture = [Builder()] }
                capture[0].insert(components.dropFirst(), method: method)
            } else {
                literals[first, default: Builder()].insert(components.dropFirst(), method: method)
            }
        }

        func frozen() -> Node {
            Node(literals: literals.mapValues { $0.frozen() }, capture: capture.first?.frozen(), methods: methods)
        }
    }

    private let root = Mutex<Node?>(nil)

    public init() {}

    /// Loads the routes (`"GET"`, `"/api/patients/{pid}"`, …); `HEAD` is added wherever `GET` is served.
    public func load(_ routes: [(method: String, path: String)]) {
        var builder = Builder()
        for (method, path) in routes {
            let components = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            builder.insert(components[...], method: method.uppercased())
            if method.uppercased() == "GET" { builder.insert(components[...], method: "HEAD") }
        }
        let node = builder.frozen()
        root.withLock { $0 = node }
    }

    /// The methods served on `path` (empty when the path is not routed at all), sorted.
    public func methods(for path: String) -> [String] {
        guard var node = root.withLock({ $0 }) else { return [] }
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            if let literal = node.literals[String(component)] {
                node = literal
            } else if let capture = node.capture {
                node = capture
            } else {
                return []
            }
        }
        return node.methods.sorted()
    }
}

/// 405 `method_not_allowed` with `Allow` for a method a routed path does not serve (the router itself answers 404 for
/// both an unknown path and an unserved method); `OPTIONS` of a routed path is 204 with `Allow`, but a CORS preflight
/// from an origin `CORSAllowListMiddleware` did not allow is 403 `cors_origin_not_allowed`. Runs inside `ErrorMiddleware`, so the 405 has the JSON error shape,
/// and inside the CORS middleware, so a browser can read it.
public struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    public init(routes: RouteTable) {
        self.routes = routes
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = routes.methods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else { throw error }
            // `OPTIONS` (not a CORS preflight: `CORSAllowListMiddleware` answers those first) lists the methods.
            if request.method == .options {
                if request.headers[.origin] != nil, request.headers[.accessControlRequestMethod] != nil {
                    throw AppError(
                        .forbidden, code: "cors_origin_not_allowed", message: "This origin is not allowed (CORS_ALLOWED_ORIGINS).",
                        headers: [.allow: (allowed + ["OPTIONS"]).joined(separator: ", ")]
                    )
                }
                return Response(status: .noContent, headers: [.allow: (allowed + ["OPTIONS"]).joined(separator: ", ")])
            }
            throw AppError(
                .methodNotAllowed, code: "method_not_allowed", message: "Method \"\(request.method.rawValue)\" not allowed.",
                details: ["allow": allowed.joined(separator: ", ")], headers: [.allow: allowed.joined(separator: ", ")]
            )
        }
    }
}

/// `HEAD` wherever `GET` is served: the `GET` answer's status and headers (its `Content-Length` too), without the body.
/// Wraps the router's responder, because the router picks a handler by method before any middleware runs.
public struct HeadResponder<Inner: HTTPResponder>: HTTPResponder {
    public typealias Context = Inner.Context
    let inner: Inner
    let routes: RouteTable

    public func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .head, routes.methods(for: request.uri.path).contains("GET") else {
            return try await inner.respond(to: request, context: context)
        }
        var head = request.head
        head.method = .get
        var response = try await inner.respond(to: Request(head: head, body: request.body), context: context)
        let length = response.headers[.contentLength]
        response.body = ResponseBody()
        response.headers[.contentLength] = length
        return response
    }
}

/// The application's responder builder: the router, with `HEAD` answered as `GET` without a body.
public struct BridgeRouter: HTTPResponderBuilder {
    public let router: Router<AppRequestContext>
    public let routes: RouteTable

    public func buildResponder() -> HeadResponder<RouterResponder<AppRequestContext>> {
        HeadResponder(inner: router.buildResponder(), routes: routes)
    }
}
