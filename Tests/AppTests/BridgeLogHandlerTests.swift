import Logging
import Testing

@testable import App
@testable import OpenEMR

@Suite struct BridgeLogHandlerTests {
    @Test func linesLookLikeStreamLogHandlersWithMetadataSortedAndMerged() {
        var handler = BridgeLogHandler(label: "emr-bridge")
        handler[metadataKey: "user"] = "drsmith"
        handler[metadataKey: "b"] = "1"
        #expect(handler[metadataKey: "user"] == "drsmith")
        let line = BridgeLogHandler.format(
            level: .warning, label: "emr-bridge", metadata: handler.metadata.merging(["a": "0"]) { _, new in new }, source: "App",
            message: "pool exhausted", time: "T"
        )
        #expect(line == "T warning emr-bridge: a=0 b=1 user=drsmith [App] pool exhausted\n")
        #expect(BridgeLogHandler.format(level: .info, label: "x", metadata: [:], source: "S", message: "m", time: "T") == "T info x: [S] m\n")
    }
}
