import Foundation
import MariaDB
import PasswordCrypt

/// OpenEMR's uuids (REFERENCE.md §4.7): Ramsey "timestamp-first COMB" v4, stored as `binary(16)`.
public enum OpenEMRUUID {
    /// Bytes 0–5: big-endian Unix time in units of 10 µs; bytes 6–15 random with version 4 and the RFC variant.
    static func make(now: Date = Date()) -> [UInt8] {
        make(now: now, random: Digest.randomBytes(count: 16)[...])
    }

    /// The same from 16 random bytes drawn by the caller (a batch draws them all at once).
    static func make(now: Date, random: ArraySlice<UInt8>) -> [UInt8] {
        let ticks = UInt64(max(0, now.timeIntervalSince1970) * 100_000)
        var bytes = Array(random)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: ticks >> (8 * (5 - index))) }
        bytes[6] = 0x40 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        return bytes
    }

    /// Lowercase 8-4-4-4-12 hex of the stored bytes, as OpenEMR's API prints it.
    public static func string(_ bytes: [UInt8]?) -> String? {
        guard let bytes, bytes.count == 16 else { return nil }
        let hex = Digest.hex(bytes).utf8
        return String(unsafeUninitializedCapacity: 36) { text in
            var at = 0
            for (index, digit) in hex.enumerated() {
                if index == 8 || index == 12 || index == 16 || index == 20 {
                    text[at] = UInt8(ascii: "-")
                    at += 1
                }
                text[at] = digit
                at += 1
            }
            return at
        }
    }

    /// Registers a new uuid in `uuid_registry` after checking it is unused there and in the target table, as
    /// `UuidRegistry::createUuid` does; retries with a fresh uuid on a collision.
    static func register(table: String, idColumn: String, on connection: MariaDBConnection) async throws -> [UInt8] {
        for _ in 0..<5 {
            let uuid = make()
            let used = try await connection.query(
                """
                SELECT (SELECT COUNT(*) FROM uuid_registry WHERE uuid = \(uuid)) + (SELECT COUNT(*) FROM \(unescaped: table) WHERE uuid = \(uuid)) AS n
                """
            ).first?.decode("n", as: Int.self) ?? 0
            if used > 0 { continue }
            try await connection.query(
                """
                INSERT INTO uuid_registry (uuid, table_name, table_id, table_vertical, couchdb, document_drive, mapped, created)
                VALUES (\(uuid), \(table), \(idColumn), '', '', 0, 0, NOW())
                """
            )
            return uuid
        }
        throw OpenEMRError.inconsistent("could not allocate a unique uuid")
    }
}
