import Foundation
public import MariaDB

/// A note written into an encounter as one of OpenEMR's forms: the one definition of how the bridge adds a Clinical
/// Notes or SOAP form (REFERENCE.md §4.4, §4.5), used by transcription write-back and by anything else that files a note.
public struct EncounterNote: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        /// A Clinical Notes form with one note: `type` is a `Clinical_Note_Type` option id (nil: the list's default),
        /// `category` a `Clinical_Note_Category` option id or nil.
        case clinicalNote(text: String, type: String?, category: String?)
        case soap(subjective: String, objective: String, assessment: String, plan: String)
    }

    public var pid: Int
    public var encounter: Int
    public var content: Content
    /// Stored in `form_clinical_notes.external_id` (varchar 30), e.g. `mmt_transcriptions:12`.
    public var externalID: String?

    public init(pid: Int, encounter: Int, content: Content, externalID: String? = nil) {
        self.pid = pid
        self.encounter = encounter
        self.content = content
        self.externalID = externalID
    }
}

/// What was written: OpenEMR's `formdir`, the form's own id (`form_clinical_notes.form_id` group id or `form_soap.id`),
/// the `forms.id` and, for Clinical Notes, the note's registered uuid.
public struct WrittenForm: Sendable, Equatable {
    public var formdir: String
    public var formID: Int
    public var formsID: Int
    public var uuid: [UInt8]?
    public var noteType: String?
}

public enum EncounterForms {
    /// MariaDB named lock that serialises the bridge's Clinical Notes group ids (OpenEMR takes `MAX(form_id) + 1`
    /// without a lock). Take it with `withNamedLock` *around* the transaction that calls `insert`, so it is released
    /// only after the commit.
    public static let clinicalNotesLock = "openemr.form_clinical_notes.form_id"

    /// Writes the note on the caller's connection, inside its transaction, as OpenEMR's own form save does:
    /// - Clinical Notes: group id `COALESCE(MAX(form_id), 0) + 1` (read with a locking read, under `clinicalNotesLock`),
    ///   a `form_clinical_notes` row with a registered uuid, `encounter` as text, `activity = 1`, the type's LOINC code and
    ///   title, then the `forms` row `Clinical Notes Form` / `clinical_notes`;
    /// - SOAP: `form_soap.id` from `sequences` (as OpenEMR's UI allocates it, so a later UI insert cannot collide), then
    ///   the `forms` row `SOAP` / `soap`.
    /// The user columns come from `identity` (`users.authorized` read here). Throws `.validation` for an unknown note
    /// type or category, `.notFound` when the encounter is not the patient's.
    public static func insert(_ note: EncounterNote, by identity: Identity, timeZone: String, on connection: MariaDBConnection) async throws -> WrittenForm {
        let facts = try await connection.query(
            """
            SELECT (SELECT COUNT(*) FROM form_encounter WHERE encounter = \(note.encounter) AND pid = \(note.pid)) AS encounter_ok,
                   (SELECT authorized FROM users WHERE id = \(identity.userID ?? 0)) AS authorized
            """
        ).first
        guard try facts?.decode("encounter_ok", as: Int.self) ?? 0 > 0 else { throw OpenEMRError.notFound("Unknown encounter for this patient.") }
        let authorized = try facts?.decode("authorized", as: Int?.self) ?? 0
        let user = identity.username
        let group = identity.groupName.isEmpty ? "Default" : identity.groupName
        let now = AuditLogger.localTimestamp(Date(), timeZone: timeZone)
        guard let localNow = MariaDBDateTime(parsing: now) else { throw OpenEMRError.inconsistent("clock") }

        switch note.content {
        case .clinicalNote(let text, let requestedType, let category):
            let type = try await noteType(requestedType, on: connection)
            if let category {
                let known = try await connection.query(
                    "SELECT COUNT(*) AS n FROM list_options WHERE list_id = 'Clinical_Note_Category' AND option_id = \(category) AND activity = 1"
                ).first?.decode("n", as: Int.self) ?? 0
                if known == 0 { throw OpenEMRError.validation(["note_category": "Not an active option of OpenEMR's Clinical_Note_Category list."]) }
            }
            // A locking read sees the latest committed group id; the named lock keeps the bridge's writers in turn.
            let groupID = try await connection.query(
                "SELECT COALESCE(MAX(form_id), 0) + 1 AS next FROM form_clinical_notes FOR UPDATE"
            ).first?.decode("next", as: Int.self) ?? 1
            let uuid = try await OpenEMRUUID.register(table: "form_clinical_notes", idColumn: "id", on: connection)
            try await connection.query(
                """
                INSERT INTO form_clinical_notes (form_id, uuid, date, pid, encounter, user, groupname, authorized, activity, code, codetext,
                                                 description, external_id, clinical_notes_type, clinical_notes_category, note_related_to)
                VALUES (\(groupID), \(uuid), \(MariaDBDateTime.date(year: localNow.year, month: localNow.month, day: localNow.day)), \(note.pid),
                        \(String(note.encounter)), \(user), \(group), \(authorized), 1, \(type.code), \(type.title), \(text), \(note.externalID),
                        \(type.id), \(category), NULL)
                """
            )
            let forms = try await insertFormsRow(
                date: localNow, encounter: note.encounter, name: "Clinical Notes Form", formID: groupID, pid: note.pid, user: user, group: group,
                authorized: authorized, formdir: "clinical_notes", on: connection
            )
            return WrittenForm(formdir: "clinical_notes", formID: groupID, formsID: forms, uuid: uuid, noteType: type.id)

        case .soap(let subjective, let objective, let assessment, let plan):
            try await connection.query("UPDATE sequences SET id = LAST_INSERT_ID(id + 1)")
            guard let id = try await connection.query("SELECT LAST_INSERT_ID() AS id").first?.decode("id", as: Int.self) else {
                throw OpenEMRError.inconsistent("sequences did not return a number")
            }
            try await connection.query(
                """
                INSERT INTO form_soap (id, date, pid, user, groupname, authorized, activity, subjective, objective, assessment, plan)
                VALUES (\(id), \(localNow), \(note.pid), \(user), \(group), \(authorized), 1, \(subjective), \(objective), \(assessment), \(plan))
                """
            )
            let forms = try await insertFormsRow(
                date: localNow, encounter: note.encounter, name: "SOAP", formID: id, pid: note.pid, user: user, group: group,
                authorized: 1, formdir: "soap", on: connection
            )
            return WrittenForm(formdir: "soap", formID: id, formsID: forms, uuid: nil, noteType: nil)
        }
    }

    /// The `Clinical_Note_Type` option: the requested one (active), else the list's default, else `progress_note`.
    /// The code is the option's `notes` (`LOINC:11506-3`), or its `codes` where OpenEMR's list keeps it there.
    static func noteType(_ requested: String?, on connection: MariaDBConnection) async throws -> (id: String, title: String, code: String) {
        let row: MariaDBRow?
        if let requested {
            row = try await connection.query(
                "SELECT option_id, title, notes, codes FROM list_options WHERE list_id = 'Clinical_Note_Type' AND option_id = \(requested) AND activity = 1"
            ).first
            if row == nil { throw OpenEMRError.validation(["note_type": "Not an active option of OpenEMR's Clinical_Note_Type list."]) }
        } else {
            row = try await connection.query(
                """
                SELECT option_id, title, notes, codes FROM list_options WHERE list_id = 'Clinical_Note_Type' AND activity = 1
                ORDER BY is_default DESC, option_id = 'progress_note' DESC, seq, option_id LIMIT 1
                """
            ).first
        }
        guard let row else { throw OpenEMRError.validation(["note_type": "OpenEMR's Clinical_Note_Type list has no active option."]) }
        let notes = try row.decode("notes", as: String?.self) ?? ""
        let codes = try row.decode("codes", as: String?.self) ?? ""
        return (try row.decode("option_id", as: String.self), try row.decode("title", as: String.self), notes.isEmpty ? codes : notes)
    }

    static func insertFormsRow(
        date: MariaDBDateTime, encounter: Int, name: String, formID: Int, pid: Int, user: String, group: String, authorized: Int, formdir: String,
        on connection: MariaDBConnection
    ) async throws -> Int {
        let result = try await connection.query(
            """
            INSERT INTO forms (date, encounter, form_name, form_id, pid, user, groupname, authorized, deleted, formdir, therapy_group_id)
            VALUES (\(date), \(encounter), \(name), \(formID), \(pid), \(user), \(group), \(authorized), 0, \(formdir), NULL)
            """
        )
        return Int(result.lastInsertID)
    }
}
