public import Hummingbird
import Logging
public import OpenEMR

/// Resolves the bearer token (or DRF's `Token` scheme) to an identity and sets `context.identity`; 401 otherwise.
///
/// Failure reasons are logged at debug level only and never include the token.
public struct TokenAuthenticator: RouterMiddleware {
    public typealias Context = AppRequestContext
    let tokens: TokenStore

    public init(tokens: TokenStore) { self.tokens = tokens }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = TokenStore.token(fromAuthorization: request.headers[.authorization]) else {
            context.logger.debug("authentication failed: no or malformed Authorization header")
            throw AppError.unauthorized
        }
        guard let identity = try await tokens.identity(forToken: token, logger: context.logger) else {
            context.logger.debug("authentication failed: unknown, expired or revoked token, or inactive user")
            throw AppError.unauthorized
        }
        var context = context
        context.identity = identity
        context.logger[metadataKey: "user"] = .string(identity.role == .patient ? "patient" : identity.username)
        return try await next(request, context)
    }
}
