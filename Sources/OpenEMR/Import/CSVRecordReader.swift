import Foundation

#if canImport(Glibc)
import Glibc
private typealias FileStatus = Glibc.stat
#elseif canImport(Musl)
import Musl
private typealias FileStatus = Musl.stat
#elseif canImport(Darwin)
import Darwin
private typealias FileStatus = Darwin.stat
#endif

/// The bytes of an import file (or stdin), read in 256 KiB blocks: memory stays flat whatever the size.
public final class ByteSource {
    private let descriptor: Int32
    private let closeWhenDone: Bool
    private var buffer: [UInt8]
    private var position = 0
    private var count = 0
    private var atEnd = false
    /// Bytes consumed so far (progress).
    public private(set) var bytesRead = 0
    /// The size when it is known (a regular file), for an ETA.
    public let size: Int?

    /// Opens `path`, or stdin for `-`. Throws `ImportError.unreadable` when it cannot be read.
    public init(path: String) throws {
        if path == "-" {
            descriptor = 0
            closeWhenDone = false
        } else {
            descriptor = open(path, O_RDONLY)
            guard descriptor >= 0 else { throw ImportError.unreadable("cannot open \(path): \(String(cString: strerror(errno)))") }
            closeWhenDone = true
        }
        var info = FileStatus()
        let statted = fstat(descriptor, &info) == 0
        if statted && (info.st_mode & S_IFMT) == S_IFDIR {
            if closeWhenDone { close(descriptor) }
            throw ImportError.unreadable("\(path) is a directory")
        }
        size = statted && (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : nil
        buffer = [UInt8](repeating: 0, count: 256 * 1024)
    }

    deinit {
        if closeWhenDone { close(descriptor) }
    }

    /// The next byte, or nil at the end.
    @inline(__always)
    func next() throws -> UInt8? {
        if position == count {
            guard try refill() else { return nil }
        }
        let byte = buffer[position]
        position += 1
        bytesRead += 1
        return byte
    }

    /// The next byte without consuming it.
    @inline(__always)
    func peek() throws -> UInt8? {
        if position == count {
            guard try refill() else { return nil }
        }
        return buffer[position]
    }

    private func refill() throws -> Bool {
        if atEnd { return false }
        while true {
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ImportError.unreadable("read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                atEnd = true
                return false
            }
            position = 0
            count = n
            return true
        }
    }
}

/// What a reader hands on: a record, or a line it could not read.
public enum ImportReadResult: Sendable {
    case record(ImportRecord)
    case malformed(ImportRejection)
}

/// A source of import rows.
public protocol ImportRecordReader {
    /// The next record or malformed line; nil at the end of the input.
    mutating func next() throws -> ImportReadResult?
    /// Columns or keys seen that are not import fields (named once in the summary).
    var unknownColumns: [String] { get }
}

/// A streaming RFC 4180 reader over bytes: fields separated by commas, records by CRLF or LF; a field in double
/// quotes may hold commas, quotes (doubled) and line breaks. UTF-8 with or without a BOM. The first record is the
/// header: names in any order, matched case-insensitively to `ImportField`; unknown columns are ignored.
///
/// A line that breaks the format (a quote inside an unquoted field, text after a closing quote, an unterminated quote,
/// a wrong number of fields, invalid UTF-8) is reported with its line and column and skipped up to the end of its
/// physical line; the rows after it are read as usual.
public struct CSVRecordReader: ImportRecordReader {
    let source: ByteSource
    /// Import field of each column (nil: ignored).
    private(set) var columns: [ImportField?] = []
    public private(set) var header: [String] = []
    public private(set) var unknownColumns: [String] = []
    /// The physical line the next byte belongs to (1-based).
    private var line = 1
    private var field: [UInt8] = []
    private var fields: [String] = []
    /// The longest record read (an unterminated quote would otherwise swallow the rest of the file).
    static let maximumRecordBytes = 1 << 20

    public init(source: ByteSource) throws {
        self.source = source
        // A UTF-8 byte order mark.
        if try source.peek() == 0xEF {
            _ = try source.next()
            guard try source.next() == 0xBB, try source.next() == 0xBF else {
                throw ImportError.malformedHeader("the file starts with bytes that are neither UTF-8 text nor a byte order mark")
            }
        }
        var headerResult: Result<(Int, [String]), ImportRejection>
        while true {
            guard let result = try readRecord() else { throw ImportError.malformedHeader("the file is empty (no header line)") }
            if case .success((_, let names)) = result, names.count == 1, names[0].isEmpty { continue }  // blank lines before the header
            headerResult = result
            break
        }
        switch headerResult {
        case .success((_, let names)):
            header = names
        case .failure(let rejection):
            throw ImportError.malformedHeader("line \(rejection.line): \(rejection.reason)")
        }
        var seen = Set<ImportField>()
        for name in header {
            let field = ImportField.named(name)
            if let field {
                guard seen.insert(field).inserted else { throw ImportError.malformedHeader("the column \(field.name) appears twice in the header") }
            } else if !unknownColumns.contains(name) {
                unknownColumns.append(name)
            }
            columns.append(field)
        }
        guard seen.contains(.externalID) else { throw ImportError.malformedHeader("the header has no external_id column") }
    }

    public mutating func next() throws -> ImportReadResult? {
        while true {
            guard let result = try readRecord() else { return nil }
            switch result {
            case .failure(let rejection):
                return .malformed(rejection)
            case .success((let start, let values)):
                if values.count == 1 && values[0].isEmpty { continue }  // a blank line
                guard values.count == columns.count else {
                    return .malformed(
                        ImportRejection(
                            line: start, field: nil,
                            reason: "Malformed CSV line: \(values.count) fields where the header has \(columns.count)."
                        )
                    )
                }
                var record = ImportRecord(line: start)
                for (index, value) in values.enumerated() {
                    guard let field = columns[index] else { continue }
                    record[field] = value.trimmingWhitespace()
                }
                return .record(record)
            }
        }
    }

    private func columnName(_ index: Int) -> String? {
        index < header.count ? header[index] : (header.isEmpty ? nil : "column \(index + 1)")
    }

    /// One record: its first line and its fields, or what is wrong with it (the rest of its physical line skipped).
    private mutating func readRecord() throws -> Result<(Int, [String]), ImportRejection>? {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        let start = line
        fields.removeAll(keepingCapacity: true)
        var recordBytes = 0
        guard try source.peek() != nil else { return nil }
        func malformed(_ reason: String, skipLine: Bool) throws -> Result<(Int, [String]), ImportRejection> {
            let column = columnName(fields.count)
            if skipLine {
                while let byte = try source.next() {
                    if byte == lf {
                        line += 1
                        break
                    }
                }
            }
            field.removeAll(keepingCapacity: true)
            return .failure(ImportRejection(line: start, field: column, reason: "Malformed CSV line: " + reason))
        }
        while true {
            field.removeAll(keepingCapacity: true)
            var ended = false  // the record ended after this field
            if try source.peek() == quote {
                _ = try source.next()
                // Quoted field.
                while true {
                    guard let byte = try source.next() else {
                        return try malformed("unterminated quoted field (opened on line \(start)).", skipLine: false)
                    }
                    if byte == quote {
                        if try source.peek() == quote {
                            _ = try source.next()
                            field.append(quote)
                            continue
                        }
                        break
                    }
                    if byte == lf { line += 1 }
                    field.append(byte)
                    recordBytes += 1
                    if recordBytes > Self.maximumRecordBytes {
                        return try malformed("record longer than 1 MiB (an unterminated quote?).", skipLine: true)
                    }
                }
                // After the closing quote: a separator, a line end or the end.
                switch try source.next() {
                case comma: break
                case lf:
                    line += 1
                    ended = true
                case cr where try source.peek() == lf:
                    _ = try source.next()
                    line += 1
                    ended = true
                case nil: ended = true
                case .some:
                    return try malformed("text after a closing quote.", skipLine: true)
                }
            } else {
                // Unquoted field.
                while true {
                    guard let byte = try source.next() else {
                        ended = true
                        break
                    }
                    if byte == comma { break }
                    if byte == lf {
                        line += 1
                        ended = true
                        break
                    }
                    if byte == cr, try source.peek() == lf {
                        _ = try source.next()
                        line += 1
                        ended = true
                        break
                    }
                    if byte == quote {
                        return try malformed("a double quote inside an unquoted field.", skipLine: true)
                    }
                    field.append(byte)
                    recordBytes += 1
                    if recordBytes > Self.maximumRecordBytes {
                        return try malformed("record longer than 1 MiB.", skipLine: true)
                    }
                }
            }
            guard let text = field.withUnsafeBufferPointer({ String(utf8Bytes: $0) }) else {
                return try malformed("not valid UTF-8.", skipLine: !ended)
            }
            fields.append(text)
            if ended { return .success((start, fields)) }
        }
    }
}

/// Why an import could not run at all (exit status 2), or a row-independent problem of the input.
public enum ImportError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The file cannot be opened or read.
    case unreadable(String)
    /// The CSV header is missing or unusable.
    case malformedHeader(String)
    /// The database is not an OpenEMR database with the service's migrations.
    case notOpenEMR(String)
    /// Any other reason.
    case failed(String)

    public var description: String {
        switch self {
        case .unreadable(let text): "unreadable input: \(text)"
        case .malformedHeader(let text): "unusable CSV header: \(text)"
        case .notOpenEMR(let text): text
        case .failed(let text): text
        }
    }
}
