/// Splits a SQL script (migrations, fixtures) into single statements, so each can run as a prepared statement.
///
/// Understands `--`, `#` and `/* */` comments and quoted strings/identifiers (`'…'`, `"…"`, `` `…` ``, with
/// backslash and doubled-quote escapes). `DELIMITER` is not supported: migrations do not define routines.
public enum MariaDBScript {
    public static func statements(in script: String) -> [String] {
        var statements: [String] = []
        var current: [UInt8] = []
        let bytes = Array(script.utf8)
        var index = 0
        var quote: UInt8? = nil

        func flush() {
            let text = String(decoding: current, as: UTF8.self).trimmingWhitespace()
            if !text.isEmpty { statements.append(text) }
            current.removeAll(keepingCapacity: true)
        }

        while index < bytes.count {
            let byte = bytes[index]
            if let q = quote {
                current.append(byte)
                if byte == UInt8(ascii: "\\"), q != UInt8(ascii: "`"), index + 1 < bytes.count {
                    current.append(bytes[index + 1])
                    index += 2
                    continue
                }
                if byte == q {
                    if index + 1 < bytes.count, bytes[index + 1] == q {
                        current.append(q)
                        index += 2
                        continue
                    }
                    quote = nil
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                quote = byte
                current.append(byte)
                index += 1
            case UInt8(ascii: "-") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "-")
                && (index + 2 >= bytes.count || bytes[index + 2] == UInt8(ascii: " ") || bytes[index + 2] == UInt8(ascii: "\t")
                    || bytes[index + 2] == UInt8(ascii: "\n") || bytes[index + 2] == UInt8(ascii: "\r")),
                UInt8(ascii: "#"):
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
            case UInt8(ascii: "/") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "*"):
                // `/*! … */` executable comments are kept (mysqldump output relies on them).
                let executable = index + 2 < bytes.count && bytes[index + 2] == UInt8(ascii: "!")
                let start = index
                index += 2
                while index + 1 < bytes.count, !(bytes[index] == UInt8(ascii: "*") && bytes[index + 1] == UInt8(ascii: "/")) { index += 1 }
                index = min(index + 2, bytes.count)
                if executable { current.append(contentsOf: bytes[start..<index]) } else { current.append(UInt8(ascii: " ")) }
            case UInt8(ascii: ";"):
                flush()
                index += 1
            default:
                current.append(byte)
                index += 1
            }
        }
        flush()
        return statements
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
