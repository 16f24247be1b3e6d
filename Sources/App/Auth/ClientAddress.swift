#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import OpenEMR

/// The client address that sign-in counters (`ip_tracking`, the portal throttle) and audit rows use.
///
/// Without a trusted proxy it is the TCP peer. Behind one (`BRIDGE_TRUST_PROXY=1`), it is the right-most address of
/// `X-Forwarded-For` (plus the peer) that is not a trusted proxy: proxies append the address they saw, so everything
/// left of the last untrusted hop is whatever the client wrote and is never used. Trusted proxies are the addresses or
/// CIDR ranges of `BRIDGE_TRUSTED_PROXIES`; without that list only the direct peer is trusted (one proxy hop). A value
/// that is not an IP address ends the walk at the last good address, so a client cannot choose the key of its own
/// counters, however it varies the header.
public struct ClientAddressResolver: Sendable {
    public let trustProxy: Bool
    public let trustedProxies: [IPRange]

    public init(trustProxy: Bool, trustedProxies: [IPRange] = []) {
        self.trustProxy = trustProxy
        self.trustedProxies = trustedProxies
    }

    /// - Parameters:
    ///   - peer: the TCP peer's address (nil when unknown, e.g. in router tests).
    ///   - forwardedFor: every `X-Forwarded-For` header value, in order.
    public func resolve(peer: String?, forwardedFor: [String]) -> String {
        let peerAddress = peer.flatMap(IPAddress.init)
        guard trustProxy, let peerAddress else { return peerAddress?.description ?? peer ?? "unknown" }
        // The direct peer must itself be a trusted proxy (any peer, when no list is configured).
        guard trustedProxies.isEmpty || isTrusted(peerAddress) else { return peerAddress.description }
        var hops: [Substring] = []
        for value in forwardedFor { hops.append(contentsOf: value.split(separator: ",")) }
        var client = peerAddress
        // Walk from the right: the peer is trusted; each hop left of a trusted one is what that proxy saw.
        for hop in hops.reversed() {
            guard let address = IPAddress(hop.trimmingCharacters(in: " \t\"[]")) else { break }
            client = address
            // Without a list, exactly one hop (the peer) is trusted: the right-most entry is the client.
            if trustedProxies.isEmpty || !isTrusted(address) { break }
        }
        return client.description
    }

    func isTrusted(_ address: IPAddress) -> Bool { trustedProxies.contains { $0.contains(address) } }

    /// Parses `BRIDGE_TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges; nil names the first bad entry.
    public static func parseRanges(_ text: String) -> Result<[IPRange], RangeError> {
        var ranges: [IPRange] = []
        for item in text.split(separator: ",") {
            let entry = item.trimmingCharacters(in: " ")
            guard !entry.isEmpty else { continue }
            guard let range = IPRange(entry) else { return .failure(RangeError(entry: entry)) }
            ranges.append(range)
        }
        return .success(ranges)
    }

    public struct RangeError: Error, Sendable { public var entry: String }
}

/// An IPv4 or IPv6 address as 4 or 16 bytes (IPv4-mapped IPv6 addresses are folded to IPv4).
public struct IPAddress: Sendable, Equatable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(_ text: String) {
        var text = Substring(text)
        // A zone (`fe80::1%eth0`) names an interface, not a host.
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        guard !text.isEmpty, text.utf8.count < 64 else { return nil }
        var raw = [UInt8](repeating: 0, count: 16)
        let string = String(text)
        if raw.withUnsafeMutableBytes({ inet_pton(AF_INET, string, $0.baseAddress) }) == 1 {
            bytes = Array(raw[0..<4])
            return
        }
        guard raw.withUnsafeMutableBytes({ inet_pton(AF_INET6, string, $0.baseAddress) }) == 1 else { return nil }
        if raw[0..<10].allSatisfy({ $0 == 0 }) && raw[10] == 0xff && raw[11] == 0xff {
            bytes = Array(raw[12..<16])
        } else {
            bytes = raw
        }
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { source in buffer.withUnsafeMutableBufferPointer { inet_ntop(family, source.baseAddress, $0.baseAddress, 64) } }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An address range in CIDR notation (`10.0.0.0/8`, `fd00::/8`), or one address.
public struct IPRange: Sendable, Equatable {
    public let network: IPAddress
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let bits = address.bytes.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...bits).contains(length) else { return nil }
            prefixLength = length
        } else {
            prefixLength = bits
        }
        network = address
    }

    public func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = prefixLength
        for index in 0..<address.bytes.count where remaining > 0 {
            let take = min(8, remaining)
            let mask: UInt8 = take == 8 ? 0xff : ~(0xff >> UInt8(take))
            if address.bytes[index] & mask != network.bytes[index] & mask { return false }
            remaining -= take
        }
        return true
    }
}
