import Foundation
public import Logging
public import MariaDB
public import NIOCore

/// Transcriptions: storage, the review workflow, audio, and write-back into the OpenEMR encounter.
///
/// Rules: providers and admins write; staff (and the demo guest) read; a patient reads only their own approved or
/// integrated transcriptions and never their audio. Every write runs in one transaction with its audit row in OpenEMR's
/// log; reads are audited through the audit queue. Optimistic locking by `version` (the ETag), and state moves as
/// conditional updates, so of concurrent decisions exactly one wins.
public struct TranscriptionRepository: Sendable {
    let database: MariaDBClient
    let audit: AuditLogger
    let auditQueue: AuditQueue?
    let globals: OpenEMRGlobalsCache
    let audio: AudioStore?

    public init(database: MariaDBClient, audit: AuditLogger, auditQueue: AuditQueue?, globals: OpenEMRGlobalsCache, audio: AudioStore?) {
        self.database = database
        self.audit = audit
        self.auditQueue = auditQueue
        self.globals = globals
        self.audio = audio
    }

    static let category = "Transcription"

    // MARK: Reads

    /// A page of transcriptions (no segments; `full_text` cut to an excerpt).
    public func list(query: [String: String], page: PageRequest, by identity: Identity, logger: Logger) async throws -> PagedQuery.Result<Transcription> {
        let timeZone = try await globals.current(logger: logger).timeZone
        let filter = try TranscriptionFilter(query: query, timeZone: timeZone, onlyPID: identity.role == .patient ? (identity.pid ?? -1) : nil)
        let columns = Transcription.columns.replacingOccurrences(of: "full_text", with: "LEFT(full_text, \(Self.excerptLength)) AS full_text")
        let result = try await PagedQuery.run(
            database: database, logger: logger, columns: columns, from: "mmt_transcriptions WHERE \(fragment: filter.whereClause)",
            orderBy: filter.ordering, page: page, map: { try Transcription(row: $0).shown(to: identity) }
        )
        auditQueue?.enqueue(
            Set(result.items.map(\.pid)).sorted().map {
                AuditEvent("patient-record-select", category: Self.category, by: identity, patientID: $0, comments: "emr-bridge read: transcription list")
            }
        )
        return result
    }

    static let excerptLength = 280

    /// One transcription with its segments in order; 404 when it does not exist or the caller may not see it.
    public func get(id: Int, by identity: Identity, logger: Logger) async throws -> Transcription {
        let found = try await database.withConnection(logger: logger) { connection in try await Self.read(id: id, segments: true, on: connection) }
        guard let transcription = found, Self.mayRead(transcription, identity) else { throw OpenEMRError.notFound() }
        auditQueue?.enqueue(
            [AuditEvent("patient-record-select", category: Self.category, by: identity, patientID: transcription.pid, comments: "emr-bridge read: transcription \(id)")]
        )
        return transcription.shown(to: identity)
    }

    static func mayRead(_ transcription: Transcription, _ identity: Identity) -> Bool {
        identity.role != .patient || (identity.pid == transcription.pid && transcription.status.isVisibleToPatient)
    }

    /// The row (and its segments) on a connection; `lock` takes the row lock for a write.
    /// `text: false` leaves `full_text` empty (a writer that has just written it knows it; it can be 200 KB).
    static func read(id: Int, segments: Bool, text: Bool = true, lock: Bool = false, on connection: MariaDBConnection) async throws -> Transcription? {
        let columns = text ? Transcription.columns : Transcription.columnsWithoutText
        let select = MariaDBQuery("SELECT \(unescaped: columns) FROM mmt_transcriptions WHERE id = \(id)\(unescaped: lock ? " FOR UPDATE" : "")")
        guard segments else { return try await connection.query(select).first.map(Transcription.init(row:)) }
        let results = try await connection.queries([
            select,
            "SELECT seq, start_ms, end_ms, speaker, text, confidence FROM mmt_transcription_segments WHERE transcription_id = \(id) ORDER BY seq",
        ])
        guard let row = results[0].first else { return nil }
        var transcription = try Transcription(row: row)
        transcription.segments = try results[1].rows.map(Self.segment(row:))
        return transcription
    }

    /// A segment row by position (the hot part of a 3,000-segment read).
    static func segment(row: MariaDBRow) throws -> TranscriptionSegment {
        let v = row.values
        guard v.count == 6, let order = Int(mariaDBValue: v[0]), let start = Int(mariaDBValue: v[1]), let end = Int(mariaDBValue: v[2]),
            let speaker = String(mariaDBValue: v[3]), let text = String(mariaDBValue: v[4])
        else { throw OpenEMRError.inconsistent("malformed segment row") }
        return TranscriptionSegment(order: order, startMs: start, endMs: end, speaker: speaker, text: text, confidence: Double(mariaDBValue: v[5]))
    }

    // MARK: Writes

    static func requireWriter(_ identity: Identity) throws {
        guard identity.canWriteClinical else { throw OpenEMRError.forbidden() }
    }

    /// Creates a draft with its segments (in order), in one transaction with its audit row.
    public func create(_ input: TranscriptionInput, by identity: Identity, logger: Logger) async throws -> Transcription {
        try Self.requireWriter(identity)
        let segments = try input.validated(requireAll: true) ?? []
        let providerID = input.providerId ?? (identity.canWriteClinical ? identity.userID : nil)
        guard let pid = input.pid, let encounter = input.encounter, let providerID else {
            throw OpenEMRError.validation(["provider_id": "This field is required."])
        }
        let fullText = TranscriptionInput.fullText(of: segments)
        return try await database.withTransaction(logger: logger) { connection in
            try await Self.checkReferences(pid: pid, encounter: encounter, providerID: providerID, on: connection)
            let inserted = try await connection.query(
                """
                INSERT INTO mmt_transcriptions (pid, encounter, provider_id, language, duration_ms, status, full_text, segment_count, created_by,
                                                created_at, updated_at, version)
                VALUES (\(pid), \(encounter), \(providerID), \(input.language ?? "en"), \(input.durationMs), 'draft', \(fullText), \(segments.count),
                        \(identity.username), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), 1)
                """
            )
            let id = Int(inserted.lastInsertID)
            try await Self.insertSegments(segments, of: id, on: connection)
            try await audit.write(
                [AuditEvent("patient-record-insert", category: Self.category, by: identity, patientID: pid, comments: "mmt_transcriptions insert id \(id) (\(segments.count) segments) via emr-bridge")],
                on: connection
            )
            guard var created = try await Self.read(id: id, segments: false, text: false, on: connection) else {
                throw OpenEMRError.inconsistent("transcription not readable after insert")
            }
            created.fullText = fullText
            created.segments = segments
            return created
        }
    }

    /// PUT (`replacing`: pid, encounter and segments required) or PATCH (only what is sent). Segments are replaced as a
    /// whole list. `ifMatch` (an ETag) is checked against the locked row: 412 when stale. 409 `not_editable` once approved.
    public func update(id: Int, _ input: TranscriptionInput, replacing: Bool, ifMatch: String?, by identity: Identity, logger: Logger) async throws
        -> Transcription
    {
        try Self.requireWriter(identity)
        let segments = try input.validated(requireAll: replacing)
        return try await database.withTransaction(logger: logger) { connection in
            guard let current = try await Self.read(id: id, segments: segments == nil, lock: true, on: connection) else { throw OpenEMRError.notFound() }
            try Self.check(ifMatch, current)
            guard current.status.isEditable else {
                throw OpenEMRError.conflict(
                    "An \(current.status.rawValue) transcription cannot be edited.", code: "not_editable", details: ["status": current.status.rawValue]
                )
            }
            let pid = input.pid ?? current.pid
            let encounter = input.encounter ?? current.encounter
            let providerID = input.providerId ?? current.providerId
            if pid != current.pid || encounter != current.encounter || providerID != current.providerId {
                try await Self.checkReferences(pid: pid, encounter: encounter, providerID: providerID, on: connection)
            }
            let newSegments = segments ?? current.segments ?? []
            let fullText = segments.map(TranscriptionInput.fullText(of:)) ?? current.fullText
            let duration = input.sentDuration ? input.durationMs : current.durationMs
            try await connection.query(
                """
                UPDATE mmt_transcriptions SET pid = \(pid), encounter = \(encounter), provider_id = \(providerID), language = \(input.language ?? current.language),
                       duration_ms = \(duration), full_text = \(fullText), segment_count = \(newSegments.count), updated_at = UTC_TIMESTAMP(6),
                       version = version + 1
                WHERE id = \(id)
                """
            )
            if let segments {
                try await connection.query("DELETE FROM mmt_transcription_segments WHERE transcription_id = \(id)")
                try await Self.insertSegments(segments, of: id, on: connection)
            }
            try await audit.write(
                [AuditEvent("patient-record-update", category: Self.category, by: identity, patientID: pid, comments: "mmt_transcriptions update id \(id) via emr-bridge")],
                on: connection
            )
            guard var updated = try await Self.read(id: id, segments: false, on: connection) else { throw OpenEMRError.inconsistent("transcription vanished") }
            updated.segments = newSegments
            return updated
        }
    }

    /// submit / approve / reject / reopen: one conditional update, so of concurrent decisions exactly one wins and
    /// the others get 409 `invalid_transition`.
    public func perform(_ action: TranscriptionAction, id: Int, reason: String?, ifMatch: String?, by identity: Identity, logger: Logger) async throws
        -> Transcription
    {
        try Self.requireWriter(identity)
        var reasonText: String?
        if action == .reject {
            let trimmed = (reason ?? "").trimmingCharacters(in: " \t\r\n")
            if trimmed.isEmpty { throw OpenEMRError.validation(["reason": "A reason is required to reject a transcription."]) }
            if trimmed.utf8.count > 65_535 { throw OpenEMRError.validation(["reason": "Ensure this field has no more than 65535 bytes."]) }
            reasonText = trimmed
        }
        let (from, to) = action.move
        let set: MariaDBQuery
        switch action {
        case .submit: set = "submitted_at = UTC_TIMESTAMP(6), rejection_reason = NULL, reviewed_by = NULL, reviewed_at = NULL"
        case .approve: set = "reviewed_by = \(identity.userID), reviewed_at = UTC_TIMESTAMP(6)"
        case .reject: set = "reviewed_by = \(identity.userID), reviewed_at = UTC_TIMESTAMP(6), rejection_reason = \(reasonText)"
        case .reopen: set = "submitted_at = NULL"
        }
        return try await database.withTransaction(logger: logger) { connection in
            var condition: MariaDBQuery = "id = \(id) AND status = \(from.rawValue)"
            if let ifMatch, !ifMatch.contains("*") {
                // Only the versions the client named may move (a stale screen gets 412 below).
                let versions = Self.versions(in: ifMatch, id: id)
                condition.append(" AND version IN (\(list: versions.isEmpty ? [-1] : versions))")
            }
            let moved = try await connection.query(
                "UPDATE mmt_transcriptions SET status = \(to.rawValue), \(fragment: set), updated_at = UTC_TIMESTAMP(6), version = version + 1 WHERE \(fragment: condition)"
            )
            guard moved.affectedRows == 1 else {
                guard let current = try await Self.read(id: id, segments: false, on: connection) else { throw OpenEMRError.notFound() }
                try Self.check(ifMatch, current)
                throw Self.invalidTransition(action, from: current.status)
            }
            guard let row = try await Self.read(id: id, segments: true, on: connection) else { throw OpenEMRError.inconsistent("transcription vanished") }
            try await audit.write(
                [AuditEvent("patient-record-update", category: Self.category, by: identity, patientID: row.pid, comments: "mmt_transcriptions \(action.rawValue) id \(id): \(from.rawValue) -> \(to.rawValue) via emr-bridge")],
                on: connection
            )
            return row
        }
    }

    static func invalidTransition(_ action: String, from status: TranscriptionStatus) -> OpenEMRError {
        OpenEMRError.conflict(
            "Cannot \(action) a transcription that is \(status.rawValue).", code: "invalid_transition", details: ["status": status.rawValue, "action": action]
        )
    }

    static func invalidTransition(_ action: TranscriptionAction, from status: TranscriptionStatus) -> OpenEMRError {
        invalidTransition(action.rawValue, from: status)
    }

    /// Writes the approved text into the encounter as a Clinical Notes form (default) or a SOAP form, with its `forms`
    /// row and registered uuid, and marks the transcription integrated, in one transaction. A transcription already
    /// integrated returns its form again (`created` false): never a second copy.
    public func integrate(id: Int, _ request: IntegrationRequest, by identity: Identity, logger: Logger) async throws -> (transcription: Transcription, created: Bool) {
        try Self.requireWriter(identity)
        let form = try request.validatedForm()
        if let type = request.noteType, type.isEmpty || type.count > 100 { throw OpenEMRError.validation(["note_type": "Not an active option of OpenEMR's Clinical_Note_Type list."]) }
        return try await database.withConnection(logger: logger) { connection in
            let timeZone = try await globals.current(on: connection).timeZone
            // The Clinical Notes group id is MAX + 1: the bridge's writers take turns until their commit.
            return try await connection.withNamedLock(EncounterForms.clinicalNotesLock, timeout: 10, busy: { OpenEMRError.busy }) {
                try await connection.withTransaction { connection in
                    guard let current = try await Self.read(id: id, segments: true, lock: true, on: connection) else { throw OpenEMRError.notFound() }
                    if current.status == .integrated { return (current, false) }
                    guard current.status == .approved else { throw Self.invalidTransition("integrate", from: current.status) }
                    let content: EncounterNote.Content
                    switch form {
                    case .clinicalNotes:
                        content = .clinicalNote(text: current.fullText, type: request.noteType, category: request.noteCategory)
                    case .soap:
                        let s = request.sections
                        let anySection = [s?.subjective, s?.objective, s?.assessment, s?.plan].contains { !($0 ?? "").isEmpty }
                        content = .soap(
                            subjective: anySection ? (s?.subjective ?? "") : current.fullText, objective: s?.objective ?? "", assessment: s?.assessment ?? "",
                            plan: s?.plan ?? ""
                        )
                    }
                    let written = try await EncounterForms.insert(
                        EncounterNote(pid: current.pid, encounter: current.encounter, content: content, externalID: "mmt_transcriptions:\(id)"),
                        by: identity, timeZone: timeZone, on: connection
                    )
                    try await connection.query(
                        """
                        UPDATE mmt_transcriptions SET status = 'integrated', form_dir = \(written.formdir), form_id = \(written.formID), forms_id = \(written.formsID),
                               form_uuid = \(written.uuid), note_type = \(written.noteType), integrated_by = \(identity.userID), integrated_at = UTC_TIMESTAMP(6),
                               updated_at = UTC_TIMESTAMP(6), version = version + 1
                        WHERE id = \(id)
                        """
                    )
                    try await audit.write(
                        [
                            AuditEvent(
                                "patient-record-insert", category: form == .soap ? "SOAP" : "Clinical Notes", by: identity, patientID: current.pid,
                                comments: "\(form == .soap ? "form_soap" : "form_clinical_notes") insert form \(written.formID) encounter \(current.encounter) from mmt_transcriptions \(id) via emr-bridge"
                            )
                        ],
                        on: connection
                    )
                    guard let row = try await Self.read(id: id, segments: true, on: connection) else { throw OpenEMRError.inconsistent("transcription vanished") }
                    return (row, true)
                }
            }
        }
    }

    // MARK: Audio

    /// Streams a recording to `BRIDGE_AUDIO_DIR` (never whole in memory), storing its size and SHA-256, and replaces
    /// any earlier one. `audio/*` only (415), at most the configured size (413); nothing is left behind on a refusal.
    public func attachAudio<Body: AsyncSequence & Sendable>(
        id: Int, contentType: String?, declaredLength: Int?, body: Body, by identity: Identity, logger: Logger
    ) async throws -> Transcription where Body.Element == ByteBuffer {
        try Self.requireWriter(identity)
        guard let audio else { throw OpenEMRError(.unavailable, code: "audio_unavailable", message: "Audio storage is not configured on this server.") }
        let type = try AudioStore.mediaType(contentType)
        if let declaredLength, declaredLength > audio.maxBytes { throw AudioStore.tooLarge(audio.maxBytes) }
        // Refuse before reading the body when the transcription is missing or no longer editable.
        let before = try await database.withConnection(logger: logger) { try await Self.read(id: id, segments: false, on: $0) }
        guard let before else { throw OpenEMRError.notFound() }
        guard before.status.isEditable else { throw Self.invalidTransition("replace the audio of", from: before.status) }
        let stored = try await audio.receive(body, name: "t\(id)")
        do {
            let (row, previous) = try await database.withTransaction(logger: logger) { connection in
                guard let current = try await Self.read(id: id, segments: false, lock: true, on: connection) else { throw OpenEMRError.notFound() }
                guard current.status.isEditable else { throw Self.invalidTransition("replace the audio of", from: current.status) }
                try await connection.query(
                    """
                    UPDATE mmt_transcriptions SET audio_file = \(stored.file), audio_content_type = \(type), audio_bytes = \(stored.bytes),
                           audio_sha256 = \(stored.sha256), audio_uploaded_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6), version = version + 1
                    WHERE id = \(id)
                    """
                )
                try await audit.write(
                    [AuditEvent("patient-record-update", category: Self.category, by: identity, patientID: current.pid, comments: "mmt_transcriptions audio id \(id) (\(stored.bytes) bytes) via emr-bridge")],
                    on: connection
                )
                guard let row = try await Self.read(id: id, segments: true, on: connection) else { throw OpenEMRError.inconsistent("transcription vanished") }
                return (row, current.audio?.file)
            }
            if let previous, previous != stored.file { await audio.remove(previous) }
            return row
        } catch {
            await audio.remove(stored.file)
            throw error
        }
    }

    /// The stored recording of a transcription the caller may read (never to a patient: 403).
    public func audioFile(id: Int, by identity: Identity, logger: Logger) async throws -> (path: String, transcription: Transcription) {
        guard identity.role != .patient else { throw OpenEMRError.forbidden("Patients cannot download recordings.", code: "audio_forbidden") }
        guard let audio else { throw OpenEMRError.notFound("No recording.") }
        let found = try await database.withConnection(logger: logger) { try await Self.read(id: id, segments: false, on: $0) }
        guard let transcription = found else { throw OpenEMRError.notFound() }
        guard let file = transcription.audio?.file else { throw OpenEMRError.notFound("This transcription has no recording.") }
        auditQueue?.enqueue(
            [AuditEvent("patient-record-select", category: Self.category, by: identity, patientID: transcription.pid, comments: "emr-bridge read: transcription \(id) audio")]
        )
        return (audio.path(of: file), transcription)
    }

    // MARK: Shared

    /// 412 when `ifMatch` names none of the row's current ETag.
    static func check(_ ifMatch: String?, _ current: Transcription) throws {
        if let ifMatch, !PatientRepository.matches(ifMatch, etag: current.etag) {
            throw OpenEMRError(
                .staleVersion, code: "precondition_failed", message: "The transcription was changed by someone else; reload and retry.",
                details: ["etag": current.etag]
            )
        }
    }

    /// The versions named by ETags of this transcription in an `If-Match` header.
    static func versions(in header: String, id: Int) -> [Int] {
        header.split(separator: ",").compactMap { candidate in
            var tag = candidate.trimmingCharacters(in: " ")
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            let prefix = "\"t\(id)-v"
            guard tag.hasPrefix(prefix), tag.hasSuffix("\"") else { return nil }
            return Int(tag.dropFirst(prefix.count).dropLast())
        }
    }

    /// Refuses (400, per field) an unknown patient, an encounter that is not that patient's, an unknown or inactive provider.
    static func checkReferences(pid: Int, encounter: Int, providerID: Int, on connection: MariaDBConnection) async throws {
        guard
            let row = try await connection.query(
                """
                SELECT (SELECT COUNT(*) FROM patient_data WHERE pid = \(pid)) AS patient,
                       (SELECT pid FROM form_encounter WHERE encounter = \(encounter) ORDER BY id LIMIT 1) AS encounter_pid,
                       (SELECT COUNT(*) FROM users WHERE id = \(providerID) AND active = 1 AND authorized = 1) AS provider
                """
            ).first
        else { throw OpenEMRError.inconsistent("reference check returned nothing") }
        var details: [String: String] = [:]
        if try row.decode("patient", as: Int.self) == 0 { details["pid"] = "Unknown patient." }
        if let owner = try row.decode("encounter_pid", as: Int?.self) {
            if owner != pid { details["encounter"] = "This encounter belongs to another patient." }
        } else {
            details["encounter"] = "Unknown encounter."
        }
        if try row.decode("provider", as: Int.self) == 0 { details["provider_id"] = "Unknown or inactive provider." }
        if !details.isEmpty { throw OpenEMRError.validation(details) }
    }

    /// The segments, in order, in one bulk statement (one row's text, all the rows' values: parsed once, one round trip).
    static func insertSegments(_ segments: [TranscriptionSegment], of id: Int, on connection: MariaDBConnection) async throws {
        guard !segments.isEmpty else { return }
        var binds: [MariaDBValue] = []
        binds.reserveCapacity(segments.count * 7)
        for segment in segments {
            binds.append(.int(Int64(id)))
            binds.append(.int(Int64(segment.order)))
            binds.append(.int(Int64(segment.startMs)))
            binds.append(.int(Int64(segment.endMs)))
            binds.append(.text(segment.speaker))
            binds.append(.text(segment.text))
            binds.append(segment.confidence.map { .double($0) } ?? .null)
        }
        var insert = MariaDBQuery(
            unsafeSQL: "INSERT INTO mmt_transcription_segments (transcription_id, seq, start_ms, end_ms, speaker, text, confidence) VALUES (?, ?, ?, ?, ?, ?, ?)",
            binds: binds
        )
        insert.rowCount = segments.count
        try await connection.query(insert)
    }
}
