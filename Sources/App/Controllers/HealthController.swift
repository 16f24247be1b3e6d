import Foundation
import Hummingbird
import Logging
import MariaDB
import Prometheus
import OpenEMR

/// `GET /api/health/` and `GET /metrics`.
struct HealthController: Sendable {
    let directory: DirectoryRepository
    let metrics: PrometheusCollectorRegistry?

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/health", use: health)
        router.get("/metrics", use: prometheus)
    }

    /// 200 `{"status":"ok","database":"ok","version":…}` when MariaDB answers, else 503 with `unavailable`.
    @Sendable func health(_ request: Request, context: AppRequestContext) async throws -> Response {
        let reachable = await directory.databaseAnswers(logger: context.logger)
        let body =
            reachable
            ? #"{"status":"ok","database":"ok","version":"# + JSONText.quoted(EMRBridgeVersion.current) + "}"
            : #"{"status":"unavailable","database":"unavailable","version":"# + JSONText.quoted(EMRBridgeVersion.current) + "}"
        var response = Response(
            status: reachable ? .ok : .serviceUnavailable,
            headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
        if !reachable { response.headers[.retryAfter] = "5" }
        return response
    }

    /// Prometheus text exposition of every metric the service records.
    @Sendable func prometheus(_ request: Request, context: AppRequestContext) async throws -> Response {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 * 1024)
        metrics?.emit(into: &bytes)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}

/// The service version reported by `/api/health/` and `--version`.
public enum EMRBridgeVersion {
    public static let current = "0.1.0"
}
