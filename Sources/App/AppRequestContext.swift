public import Foundation
public import Hummingbird
import Logging
public import NIOCore
public import OpenEMR

/// The request context of every route: the core context, the remote address and, after authentication, the
/// caller's identity.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated caller, set by `TokenAuthenticator`.
    public var identity: Identity?
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.identity = nil
    }

    /// Backstop for Hummingbird's own decoders; the configured limit (`BRIDGE_MAX_BODY_BYTES`) is enforced by
    /// `BodyLimitMiddleware` and `JSONBody.decode`.
    public var maxUploadSize: Int { 1 << 30 }

    public var requestDecoder: JSONDecoder { JSONCoding.decoder }
    public var responseEncoder: JSONEncoder { JSONCoding.encoder }

    /// The identity, or 401.
    public func requireIdentity() throws -> Identity {
        guard let identity else { throw AppError.unauthorized }
        return identity
    }
}

/// The JSON coders: snake_case keys, as Django REST framework writes them.
enum JSONCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()
    /// For bodies whose `CodingKeys` are the JSON names (`JSONKeyed`).
    static let keyedDecoder = JSONDecoder()
}
