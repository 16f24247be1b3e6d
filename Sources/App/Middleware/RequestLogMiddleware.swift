public import Hummingbird
public import Logging
import OpenEMR

/// One log line per request with method, route, status and duration.
///
/// The route template (`/api/patients/{pid}`) is logged, not the URI: query strings (`?search=`) and headers can
/// carry patient data or tokens and never reach the logs.
public struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let level: Logger.Level
    public init(level: Logger.Level = .info) { self.level = level }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.log(
            level: level, "request",
            metadata: [
                "method": "\(request.method.rawValue)",
                "route": "\(context.endpointPath ?? "unmatched")",
                "status": "\(response.status.code)",
                "duration_ms": "\(Int(milliseconds.rounded()))",
            ]
        )
        return response
    }
}
