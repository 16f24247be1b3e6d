import Testing

@testable import App
@testable import OpenEMR

@Suite("Client address behind proxies")
struct ClientAddressTests {
    @Test func withoutTrustThePeerIsTheClient() {
        let resolver = ClientAddressResolver(trustProxy: false)
        #expect(resolver.resolve(peer: "192.0.2.1", forwardedFor: ["198.51.100.7"]) == "192.0.2.1")
        #expect(resolver.resolve(peer: nil, forwardedFor: ["198.51.100.7"]) == "unknown")
    }

    @Test func oneTrustedHopTakesTheRightMostEntry() {
        let resolver = ClientAddressResolver(trustProxy: true)
        #expect(resolver.resolve(peer: "10.0.0.2", forwardedFor: ["1.1.1.1, 203.0.113.7"]) == "203.0.113.7")
        // Several header lines are one list.
        #expect(resolver.resolve(peer: "10.0.0.2", forwardedFor: ["1.1.1.1", "203.0.113.8"]) == "203.0.113.8")
        // Whatever the client writes on the left never matters.
        for spoof in ["9.9.9.9", "garbage", "", "::1", "203.0.113.7, 5.5.5.5"] {
            #expect(resolver.resolve(peer: "10.0.0.2", forwardedFor: ["\(spoof), 203.0.113.9"]) == "203.0.113.9")
        }
        // No header: the peer.
        #expect(resolver.resolve(peer: "10.0.0.2", forwardedFor: []) == "10.0.0.2")
        // A right-most entry that is no address: the peer, not the text.
        #expect(resolver.resolve(peer: "10.0.0.2", forwardedFor: ["1.2.3.4, not-an-ip"]) == "10.0.0.2")
    }

    @Test func aListOfProxiesIsWalkedFromTheRight() throws {
        let ranges = try ClientAddressResolver.parseRanges("10.0.0.0/8, 192.168.1.5, fd00::/8").get()
        let resolver = ClientAddressResolver(trustProxy: true, trustedProxies: ranges)
        #expect(resolver.resolve(peer: "10.9.9.9", forwardedFor: ["6.6.6.6, 198.51.100.4, 192.168.1.5, 10.1.1.1"]) == "198.51.100.4")
        // A peer that is not a trusted proxy: its header is ignored.
        #expect(resolver.resolve(peer: "203.0.113.50", forwardedFor: ["198.51.100.4"]) == "203.0.113.50")
        // Every hop trusted: the left-most.
        #expect(resolver.resolve(peer: "10.0.0.1", forwardedFor: ["10.2.2.2, 10.3.3.3"]) == "10.2.2.2")
        // IPv6 proxies and clients; IPv4-mapped addresses fold to IPv4.
        #expect(resolver.resolve(peer: "fd00::1", forwardedFor: ["2001:db8::7"]) == "2001:db8::7")
        #expect(resolver.resolve(peer: "::ffff:10.0.0.3", forwardedFor: ["198.51.100.4"]) == "198.51.100.4")
    }

    @Test func rangesParseStrictly() {
        #expect((try? ClientAddressResolver.parseRanges("10.0.0.0/33").get()) == nil)
        #expect((try? ClientAddressResolver.parseRanges("proxy.local").get()) == nil)
        #expect((try? ClientAddressResolver.parseRanges("::/0, 0.0.0.0/0").get())?.count == 2)
        let range = IPRange("172.16.0.0/12")!
        #expect(range.contains(IPAddress("172.31.255.255")!))
        #expect(!range.contains(IPAddress("172.32.0.0")!))
        #expect(!range.contains(IPAddress("::1")!))
        #expect(IPAddress("2001:DB8:0:0::1")?.description == "2001:db8::1")
    }
}
