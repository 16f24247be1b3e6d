extension StringProtocol {
    /// Trims the given ASCII characters from both ends, byte by byte (so `"\r\n"` in `set` trims a lone `"\n"` too).
    public func trimmingCharacters(in set: String) -> String {
        let whole = Substring(self)
        let utf8 = whole.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        @inline(__always) func trimmed(_ byte: UInt8) -> Bool { byte < 0x80 && set.utf8.contains(byte) }
        while start < end, trimmed(utf8[start]) { start = utf8.index(after: start) }
        while start < end {
            let before = utf8.index(before: end)
            guard trimmed(utf8[before]) else { break }
            end = before
        }
        return String(whole[start..<end])
    }
}

