import Crypto
import Foundation
import NIOCore
import _NIOFileSystem

/// Recordings on local disk (`BRIDGE_AUDIO_DIR`): streamed in chunk by chunk, hashed on the way, never held whole in
/// memory. A file is written under a temporary name and renamed when complete, so a reader never sees half a file
/// and a refused or broken upload leaves nothing behind.
public struct AudioStore: Sendable {
    public let directory: String
    public let maxBytes: Int

    public init(directory: String, maxBytes: Int) {
        self.directory = directory
        self.maxBytes = maxBytes
    }

    public struct Stored: Sendable, Equatable {
        /// The name inside `directory`.
        public var file: String
        public var bytes: Int
        /// Lowercase hex SHA-256 of the content.
        public var sha256: String
    }

    static func tooLarge(_ limit: Int) -> OpenEMRError {
        OpenEMRError(.tooLarge, code: "payload_too_large", message: "The recording is larger than this server accepts.", details: ["limit_bytes": String(limit)])
    }

    /// `audio/<subtype>` (parameters dropped, lowercased), or 415.
    static func mediaType(_ header: String?) throws -> String {
        let type = (header ?? "").split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: " \t") }?.lowercased() ?? ""
        let parts = type.split(separator: "/", omittingEmptySubsequences: false)
        let token = { (text: Substring) in
            !text.isEmpty && text.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x61...0x7A).contains(byte) || "!#$&-^_.+".utf8.contains(byte)
            }
        }
        guard parts.count == 2, parts[0] == "audio", token(parts[1]), type.utf8.count <= 100 else {
            throw OpenEMRError(
                .unsupportedMediaType, code: "unsupported_media_type", message: "The recording must be sent with an audio/* Content-Type.",
                details: ["content_type": "Must be audio/*, e.g. audio/webm or audio/mpeg."]
            )
        }
        return type
    }

    public func path(of file: String) -> String { directory + "/" + file }

    /// Streams `body` into a new file `<name>-<random>.audio`; throws 413 (after removing the partial file) once more
    /// than `maxBytes` arrive.
    func receive<Body: AsyncSequence & Sendable>(_ body: Body, name: String) async throws -> Stored where Body.Element == ByteBuffer {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let random = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let file = "\(name)-\(random).audio"
        let partial = FilePath(path(of: "." + file + ".part"))
        var hasher = SHA256()
        var total = 0
        let limit = maxBytes
        do {
            try await FileSystem.shared.withFileHandle(forWritingAt: partial, options: .newFile(replaceExisting: true)) { handle in
                try await handle.withBufferedWriter(capacity: .bytes(1 << 20)) { writer in
                    for try await chunk in body {
                        total += chunk.readableBytes
                        if total > limit { throw Self.tooLarge(limit) }
                        chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                        try await writer.write(contentsOf: chunk)
                    }
                }
            }
            try await FileSystem.shared.moveItem(at: partial, to: FilePath(path(of: file)))
        } catch {
            _ = try? await FileSystem.shared.removeItem(at: partial)
            throw error
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        return Stored(file: file, bytes: total, sha256: digest)
    }

    /// Removes a stored file (a replaced or orphaned recording); a missing file is fine.
    func remove(_ file: String) async {
        guard !file.isEmpty, !file.contains("/") else { return }
        _ = try? await FileSystem.shared.removeItem(at: FilePath(path(of: file)))
    }
}
