import HTTPTypes
import NIOCore
import NIOHTTPTypes
import OpenEMR

/// Answers `Expect: 100-continue` (RFC 9110 §10.1.1) with an interim `100 Continue`, which Hummingbird does not send.
/// Clients that ask (curl for bodies over 1 MiB, many HTTP libraries for uploads) otherwise wait about a second
/// before sending the body: a recording upload or a large import would pay that on every request. The final answer
/// (401, 413, …) still comes from the handler, which may refuse the body after reading only as much as it needs.
final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let request) = unwrapInboundIn(data), let expect = request.headerFields[.expect],
            expect.trimmingCharacters(in: " \t").lowercased() == "100-continue"
        {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
