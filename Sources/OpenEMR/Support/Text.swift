import Foundation

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


extension String {
    /// `trimmingCharacters(in: .whitespaces)` (tab and Unicode's space separators), without Foundation's cost in the
    /// common case of nothing to trim: the only ASCII characters in that set are space and tab, so a string that starts
    /// and ends with another ASCII byte is returned as it is.
    public func trimmingWhitespace() -> String {
        guard let first = utf8.first, let last = utf8.last else { return self }
        func plain(_ byte: UInt8) -> Bool { byte < 0x80 && byte != 0x20 && byte != 0x09 }
        if plain(first) && plain(last) { return self }
        return trimmingCharacters(in: CharacterSet.whitespaces)
    }
}

extension String {
    /// The bytes as a string when they are valid UTF-8, nil otherwise. ASCII, the common case, takes the fast decoding
    /// path; `String(validating:as:)` (generic, much slower per byte) only sees text with other characters.
    public init?(utf8Bytes bytes: UnsafeBufferPointer<UInt8>) {
        var ascii = true
        for byte in bytes where byte >= 0x80 {
            ascii = false
            break
        }
        if ascii {
            self = String(decoding: bytes, as: UTF8.self)
        } else {
            guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
            self = text
        }
    }
}
