import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MariaDB
import OpenEMR

/// `/api/auth/…`: sign-in with OpenEMR credentials, the OpenEMR session bridge, the current user, logout.
struct AuthController: Sendable {
    let login: LoginService
    let bridge: SessionBridge
    let configuration: AppConfiguration

    struct CredentialsRequest: Decodable {
        var username: String
        var password: String
    }

    struct SessionRequest: Decodable {
        var sessionId: String?
        /// `core` (default) or `portal`.
        var type: String?
    }

    struct UserResponse: ResponseEncodable {
        var id: Int?
        var username: String
        var fname: String
        var lname: String
        var role: String
        var facilityId: Int?
        var pid: Int?

        init(_ identity: Identity) {
            id = identity.userID
            username = identity.username
            fname = identity.fname
            lname = identity.lname
            role = identity.role.rawValue
            facilityId = identity.facilityID
            pid = identity.pid
        }
    }

    struct LoginResponse: ResponseEncodable {
        var token: String
        var tokenType = "Bearer"
        var expiresAt: String
        var user: UserResponse
        var passwordExpiring: Bool

        init(_ success: LoginService.Success) {
            token = success.issued.token
            expiresAt = ISO8601DateFormatter().string(from: success.issued.expiresAt)
            user = UserResponse(success.identity)
            passwordExpiring = success.passwordExpiring
        }
    }

    func addRoutes(to router: Router<AppRequestContext>, authenticator: TokenAuthenticator) {
        // Tokens and the caller's details are never stored by a browser or a proxy cache.
        let auth = router.group("/api/auth").add(middleware: NoStoreMiddleware())
        auth.post("/login", use: loginCore)
        auth.post("/patient-login", use: loginPatient)
        auth.post("/openemr-session", use: bridgeSession)
        auth.post("/guest", use: guest)
        let authenticated = auth.group().add(middleware: authenticator)
        authenticated.get("/user", use: currentUser)
        authenticated.post("/logout", use: logout)
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For") ?? .via

    /// The client address that sign-in counters and audit rows use (see `ClientAddressResolver`): the peer, or behind
    /// a trusted proxy the right-most untrusted `X-Forwarded-For` hop, never a value the client chooses.
    private func clientIP(_ request: Request, _ context: AppRequestContext) -> String {
        configuration.clientAddressResolver.resolve(
            peer: context.remoteAddress?.ipAddress, forwardedFor: request.headers[values: Self.forwardedFor]
        )
    }

    private func credentials(_ request: Request) async throws -> CredentialsRequest {
        let body = try await JSONBody.decode(CredentialsRequest.self, from: request, limit: configuration.maxBodyBytes)
        var details: [String: String] = [:]
        if body.username.isEmpty { details["username"] = "This field may not be blank." }
        if body.password.isEmpty { details["password"] = "This field may not be blank." }
        // Characters are code points, as the OpenAPI document's maxLength counts them.
        if body.username.unicodeScalars.count > 255 { details["username"] = "Ensure this field has no more than 255 characters." }
        if body.password.unicodeScalars.count > 4096 { details["password"] = "Ensure this field has no more than 4096 characters." }
        if !details.isEmpty { throw AppError.validation(details) }
        return body
    }

    /// `POST /api/auth/login/` → 200 token, 401 invalid credentials, 423 locked, 403 expired or MFA.
    @Sendable func loginCore(_ request: Request, context: AppRequestContext) async throws -> LoginResponse {
        let body = try await credentials(request)
        let ip = clientIP(request, context)
        return LoginResponse(try await login.loginCoreUser(username: body.username, password: body.password, clientIP: ip, logger: context.logger))
    }

    /// `POST /api/auth/patient-login/` → a token with role `patient` bound to the portal account's pid.
    @Sendable func loginPatient(_ request: Request, context: AppRequestContext) async throws -> LoginResponse {
        let body = try await credentials(request)
        let ip = clientIP(request, context)
        return LoginResponse(try await login.loginPatient(username: body.username, password: body.password, clientIP: ip, logger: context.logger))
    }

    /// `POST /api/auth/openemr-session/` with `Cookie: OpenEMR=<id>` / `PortalOpenEMR=<id>` or `{"session_id", "type"}`.
    @Sendable func bridgeSession(_ request: Request, context: AppRequestContext) async throws -> LoginResponse {
        var sessionID: String?
        var kind = SessionBridge.Kind.core
        if request.headers[.contentLength].flatMap({ Int($0) }) ?? 0 > 0 || request.headers[.contentType] != nil {
            let body = try await JSONBody.decode(SessionRequest.self, from: request, limit: configuration.maxBodyBytes)
            sessionID = body.sessionId
            switch body.type ?? "core" {
            case "core": kind = .core
            case "portal": kind = .portal
            default: throw AppError.validation(["type": "Must be \"core\" or \"portal\"."])
            }
        }
        if sessionID == nil {
            // Hummingbird's cookie parser (RFC 6265 pairs; PHP's session ids need no unquoting).
            if let core = request.cookies["OpenEMR"]?.value {
                sessionID = core
            } else if let portal = request.cookies["PortalOpenEMR"]?.value {
                sessionID = portal
                kind = .portal
            }
        }
        guard let sessionID, !sessionID.isEmpty else {
            throw AppError.validation(["session_id": "Send the OpenEMR session cookie or a session_id."])
        }
        let ip = clientIP(request, context)
        return LoginResponse(try await bridge.bridge(sessionID: sessionID, kind: kind, clientIP: ip, logger: context.logger))
    }

    /// `POST /api/auth/guest/`: demo mode with `BRIDGE_DEMO_GUEST=1` only; a read-only token.
    @Sendable func guest(_ request: Request, context: AppRequestContext) async throws -> LoginResponse {
        guard configuration.demoMode && configuration.demoGuest else { throw AppError.notFound() }
        return LoginResponse(try await login.signInGuest(clientIP: clientIP(request, context), logger: context.logger))
    }

    /// `GET /api/auth/user/`: the caller.
    @Sendable func currentUser(_ request: Request, context: AppRequestContext) async throws -> UserResponse {
        UserResponse(try context.requireIdentity())
    }

    /// `POST /api/auth/logout/`: revokes the token for every replica at once.
    @Sendable func logout(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await login.signOut(try context.requireIdentity(), clientIP: clientIP(request, context), logger: context.logger)
        return Response(status: .noContent)
    }
}

/// `Cache-Control: no-store` on every answer of a route group (sign-in answers carry tokens).
struct NoStoreMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            response.headers[.cacheControl] = "no-store"
            return response
        } catch let error as AppError {
            var error = error
            error.headers[.cacheControl] = "no-store"
            throw error
        } catch let error as OpenEMRError {
            var converted = AppError(error)
            converted.headers[.cacheControl] = "no-store"
            throw converted
        }
    }
}
