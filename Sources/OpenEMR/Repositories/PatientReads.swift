public import Logging
public import MariaDB

/// The database work of `GET /api/patients/{pid}/`: the caller's token row and the patient row.
///
/// Concurrent reads are coalesced (see `Coalescer`): a batch runs the token lookup for its distinct token hashes and
/// the patient select for its distinct pids, two statements in one hop to the database thread, and every request
/// then applies its own rules (token live, role, patient scope) to its own rows. One request alone is a batch of one.
public final class PatientReads: Sendable {
    public struct Key: Sendable {
        var tokenHash: [UInt8]
        var pid: Int
    }

    public struct Rows: Sendable {
        /// The `TokenStore.lookup(hashes:)` row, nil when the token is unknown, revoked or expired.
        public var token: MariaDBRow?
        /// The patient, nil when there is no such pid.
        public var patient: MariaDBRow?
    }

    private let coalescer: Coalescer<Key, Rows>

    /// - Parameters:
    ///   - maximumBatch: the most requests one batch serves.
    ///   - maximumConcurrentBatches: the most batches in flight (each holds one pooled connection).
    public init(database: MariaDBClient, logger: Logger, maximumBatch: Int = 64, maximumConcurrentBatches: Int) {
        coalescer = Coalescer(maximumBatch: maximumBatch, maximumConcurrentBatches: maximumConcurrentBatches) { keys in
            var hashes: [[UInt8]] = []
            var pids: [Int] = []
            var seenHashes = Set<[UInt8]>()
            var seenPIDs = Set<Int>()
            for key in keys {
                if seenHashes.insert(key.tokenHash).inserted { hashes.append(key.tokenHash) }
                if seenPIDs.insert(key.pid).inserted { pids.append(key.pid) }
            }
            let results = try await database.withConnection(logger: logger) { connection in
                try await connection.queries([TokenStore.lookup(hashes: hashes), PatientRepository.findQuery(pids: pids)])
            }
            var tokens: [[UInt8]: MariaDBRow] = [:]
            for row in results[0].rows {
                tokens[try row.decode("token_hash", as: [UInt8].self)] = row
            }
            var patients: [Int: MariaDBRow] = [:]
            for row in results[1].rows {
                patients[try row.decode("pid", as: Int.self)] = row
            }
            return keys.map { Rows(token: tokens[$0.tokenHash], patient: patients[$0.pid]) }
        }
    }

    /// The rows for one request.
    public func read(tokenHash: [UInt8], pid: Int) async throws -> Rows {
        try await coalescer.load(Key(tokenHash: tokenHash, pid: pid))
    }
}
