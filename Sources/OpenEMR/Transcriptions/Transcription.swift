import Foundation
public import MariaDB

/// A request body whose `CodingKeys` are already the JSON (snake_case) names: decoded without key conversion, which
/// also saves converting every key of a 3,000-segment body.
public protocol JSONKeyed: Decodable {}

/// Where a transcription is in its review: `draft → pending_review → approved → integrated`, and
/// `pending_review → rejected → draft`. Every other move is refused (409 `invalid_transition`).
public enum TranscriptionStatus: String, Sendable, CaseIterable, Codable {
    case draft
    case pendingReview = "pending_review"
    case approved
    case rejected
    case integrated

    /// Text and segments may change (an approved or integrated transcription is a signed-off record).
    public var isEditable: Bool { self == .draft || self == .pendingReview || self == .rejected }
    /// What a patient may see of their own transcriptions.
    public var isVisibleToPatient: Bool { self == .approved || self == .integrated }
}

/// A review decision on a transcription: the only way its status changes (besides integration).
public enum TranscriptionAction: String, Sendable, CaseIterable {
    case submit, approve, reject, reopen

    /// (from, to) of the one move the action makes.
    public var move: (from: TranscriptionStatus, to: TranscriptionStatus) {
        switch self {
        case .submit: (.draft, .pendingReview)
        case .approve: (.pendingReview, .approved)
        case .reject: (.pendingReview, .rejected)
        case .reopen: (.rejected, .draft)
        }
    }
}

/// One timed piece of the recording.
public struct TranscriptionSegment: Sendable, Equatable {
    public var order: Int
    public var startMs: Int
    public var endMs: Int
    /// `provider`, `patient`, `other` or a free label (a speech engine's `SPEAKER_01`).
    public var speaker: String
    public var text: String
    /// 0…1, or nil when the engine gives none.
    public var confidence: Double?

    public init(order: Int, startMs: Int, endMs: Int, speaker: String, text: String, confidence: Double?) {
        self.order = order
        self.startMs = startMs
        self.endMs = endMs
        self.speaker = speaker
        self.text = text
        self.confidence = confidence
    }

    func write(into w: inout JSONWriter) {
        w.raw("{\"order\":"); w.int(order)
        w.raw(",\"start_ms\":"); w.int(startMs)
        w.raw(",\"end_ms\":"); w.int(endMs)
        w.raw(",\"speaker\":"); w.string(speaker)
        w.raw(",\"text\":"); w.string(text)
        w.raw(",\"confidence\":"); w.double(confidence)
        w.raw("}")
    }
}

/// A segment as a client sends it; every field optional so that all mistakes are reported at once.
public struct TranscriptionSegmentInput: JSONKeyed, Sendable, Equatable {
    var order: Int?
    var startMs: Int?
    var endMs: Int?
    var speaker: String?
    var text: String?
    var confidence: Double?

    enum CodingKeys: String, CodingKey {
        case order, startMs = "start_ms", endMs = "end_ms", speaker, text, confidence
    }
}

/// The writable fields of a transcription, from a JSON body. A field that was not sent is nil; `sent` tells a PATCH
/// which nullable fields were sent as `null`.
public struct TranscriptionInput: JSONKeyed, FastJSONDecodable, Sendable, Equatable {
    var pid: Int?
    var encounter: Int?
    var providerId: Int?
    var language: String?
    var durationMs: Int?
    var segments: [TranscriptionSegmentInput]?
    var sentDuration = false

    enum CodingKeys: String, CodingKey {
        case pid, encounter, providerId = "provider_id", language, durationMs = "duration_ms", segments
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pid = try c.decodeIfPresent(Int.self, forKey: .pid)
        encounter = try c.decodeIfPresent(Int.self, forKey: .encounter)
        providerId = try c.decodeIfPresent(Int.self, forKey: .providerId)
        language = try c.decodeIfPresent(String.self, forKey: .language)
        durationMs = try c.decodeIfPresent(Int.self, forKey: .durationMs)
        sentDuration = c.contains(.durationMs)
        segments = try c.decodeIfPresent([TranscriptionSegmentInput].self, forKey: .segments)
    }

    /// The fast path of `init(from:)` for well-formed bodies (`FastJSONDecodable`): the same values, nil for anything
    /// `JSONDecoder` should judge.
    public init?(fastJSON bytes: UnsafeRawBufferPointer) {
        var reader = JSONPullReader(bytes)
        let complete = reader.object(["pid", "encounter", "provider_id", "language", "duration_ms", "segments"]) { key, reader in
            switch key {
            case 0: return reader.read(&pid) { $0.int() }
            case 1: return reader.read(&encounter) { $0.int() }
            case 2: return reader.read(&providerId) { $0.int() }
            case 3: return reader.read(&language) { $0.string() }
            case 4:
                sentDuration = true
                return reader.read(&durationMs) { $0.int() }
            default: return reader.read(&segments, Self.fastSegments)
            }
        }
        guard complete, reader.atDocumentEnd() else { return nil }
    }

    private static func fastSegments(_ reader: inout JSONPullReader) -> [TranscriptionSegmentInput]? {
        var result: [TranscriptionSegmentInput] = []
        let complete = reader.array { reader in
            var segment = TranscriptionSegmentInput()
            let read = reader.object(["order", "start_ms", "end_ms", "speaker", "text", "confidence"]) { key, reader in
                switch key {
                case 0: return reader.read(&segment.order) { $0.int() }
                case 1: return reader.read(&segment.startMs) { $0.int() }
                case 2: return reader.read(&segment.endMs) { $0.int() }
                case 3: return reader.read(&segment.speaker) { $0.string() }
                case 4: return reader.read(&segment.text) { $0.string() }
                default: return reader.read(&segment.confidence) { $0.double() }
                }
            }
            result.append(segment)
            return read
        }
        return complete ? result : nil
    }

    public init(pid: Int?, encounter: Int?, providerId: Int? = nil, language: String? = nil, durationMs: Int? = nil, segments: [TranscriptionSegment]?) {
        self.pid = pid
        self.encounter = encounter
        self.providerId = providerId
        self.language = language
        self.durationMs = durationMs
        self.sentDuration = durationMs != nil
        self.segments = segments?.map {
            TranscriptionSegmentInput(order: $0.order, startMs: $0.startMs, endMs: $0.endMs, speaker: $0.speaker, text: $0.text, confidence: $0.confidence)
        }
    }

    /// Most segments one transcription may hold (a three-hour visit has about 3,000).
    public static let maximumSegments = 20_000
    /// The longest recording a segment may point into: 24 hours.
    static let maximumMs = 86_400_000

    /// Checks every sent field. `requireAll` (create and PUT): pid, encounter and segments must be sent.
    /// Returns the segments sorted by order (nil when not sent) or throws `OpenEMRError.validation` with per-field details
    /// (`segments.12.end_ms`, …).
    func validated(requireAll: Bool) throws -> [TranscriptionSegment]? {
        var details: [String: String] = [:]
        if requireAll {
            if pid == nil { details["pid"] = "This field is required." }
            if encounter == nil { details["encounter"] = "This field is required." }
            if segments == nil { details["segments"] = "This field is required." }
        }
        if let pid, pid <= 0 { details["pid"] = "Must be a patient id." }
        if let encounter, encounter <= 0 { details["encounter"] = "Must be an encounter number." }
        if let providerId, providerId <= 0 || providerId > Int(Int32.max) { details["provider_id"] = "Must be a user id." }
        if let language {
            let valid = (2...35).contains(language.utf8.count) && language.utf8.allSatisfy { $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
            if !valid { details["language"] = "Must be a language tag such as \"en\" or \"es-MX\"." }
        }
        if let durationMs, durationMs < 0 || durationMs > Self.maximumMs { details["duration_ms"] = "Must be between 0 and \(Self.maximumMs)." }
        var result: [TranscriptionSegment]?
        if let segments {
            if segments.count > Self.maximumSegments {
                details["segments"] = "Ensure this field has no more than \(Self.maximumSegments) elements."
            } else {
                var seen = Set<Int>()
                seen.reserveCapacity(segments.count)
                var valid: [TranscriptionSegment] = []
                valid.reserveCapacity(segments.count)
                for (index, segment) in segments.enumerated() {
                    func fail(_ field: String, _ message: String) { details["segments.\(index).\(field)"] = message }
                    let order = segment.order ?? index
                    if order < 0 || order > Int(Int32.max) {
                        fail("order", "Must be 0 or more.")
                    } else if !seen.insert(order).inserted {
                        fail("order", "Duplicate order \(order).")
                    }
                    if let start = segment.startMs {
                        if start < 0 || start > Self.maximumMs { fail("start_ms", "Must be between 0 and \(Self.maximumMs).") }
                    } else {
                        fail("start_ms", "This field is required.")
                    }
                    if let end = segment.endMs {
                        if end < 0 || end > Self.maximumMs {
                            fail("end_ms", "Must be between 0 and \(Self.maximumMs).")
                        } else if let start = segment.startMs, end < start {
                            fail("end_ms", "Must not be before start_ms.")
                        }
                    } else {
                        fail("end_ms", "This field is required.")
                    }
                    let speaker = (segment.speaker ?? "other").trimmingCharacters(in: " \t")
                    if speaker.isEmpty || speaker.unicodeScalars.count > 64 { fail("speaker", "Must be provider, patient, other or a label of 1 to 64 characters.") }
                    if let text = segment.text {
                        if text.trimmingCharacters(in: " \t\r\n").isEmpty {
                            fail("text", "This field may not be blank.")
                        } else if text.utf8.count > 65_535 {
                            fail("text", "Ensure this field has no more than 65535 bytes.")
                        }
                    } else {
                        fail("text", "This field is required.")
                    }
                    if let confidence = segment.confidence, !(confidence >= 0 && confidence <= 1) { fail("confidence", "Must be between 0 and 1.") }
                    if details.isEmpty {
                        valid.append(
                            TranscriptionSegment(
                                order: order, startMs: segment.startMs ?? 0, endMs: segment.endMs ?? 0, speaker: speaker, text: segment.text ?? "",
                                confidence: segment.confidence
                            )
                        )
                    }
                    // Enough to show the client what is wrong; the rest would only repeat it.
                    if details.count >= 50 { break }
                }
                if details.isEmpty {
                    var ordered = true
                    for index in valid.indices.dropFirst() where valid[index - 1].order > valid[index].order {
                        ordered = false
                        break
                    }
                    result = ordered ? valid : valid.sorted { $0.order < $1.order }
                }
            }
        }
        if !details.isEmpty { throw OpenEMRError.validation(details) }
        return result
    }

    /// The full text: the segments' text joined in order, one line each (what the FULLTEXT index and the note hold).
    static func fullText(of segments: [TranscriptionSegment]) -> String {
        var text = ""
        text.reserveCapacity(segments.reduce(0) { $0 + $1.text.utf8.count + 1 })
        for (index, segment) in segments.enumerated() {
            if index > 0 { text += "\n" }
            text += segment.text
        }
        return text
    }
}

/// The body of `…/reject/`.
public struct TranscriptionDecision: JSONKeyed, Sendable {
    public var reason: String?
    public init(reason: String?) { self.reason = reason }
}

/// The body of `…/integrate_with_openemr/`.
public struct IntegrationRequest: JSONKeyed, Sendable {
    public enum Form: String, Sendable, Decodable { case clinicalNotes = "clinical_notes", soap }
    public struct SOAPSections: Decodable, Sendable, Equatable {
        public var subjective: String?
        public var objective: String?
        public var assessment: String?
        public var plan: String?
        public init(subjective: String? = nil, objective: String? = nil, assessment: String? = nil, plan: String? = nil) {
            self.subjective = subjective
            self.objective = objective
            self.assessment = assessment
            self.plan = plan
        }
    }
    public var form: String?
    /// A `Clinical_Note_Type` option id; the list's default when absent.
    public var noteType: String?
    /// A `Clinical_Note_Category` option id, or none.
    public var noteCategory: String?
    public var sections: SOAPSections?

    enum CodingKeys: String, CodingKey { case form, noteType = "note_type", noteCategory = "note_category", sections }

    public init(form: String? = nil, noteType: String? = nil, noteCategory: String? = nil, sections: SOAPSections? = nil) {
        self.form = form
        self.noteType = noteType
        self.noteCategory = noteCategory
        self.sections = sections
    }

    func validatedForm() throws -> Form {
        guard let form else { return .clinicalNotes }
        guard let value = Form(rawValue: form) else { throw OpenEMRError.validation(["form": "Must be \"clinical_notes\" or \"soap\"."]) }
        if value == .soap, noteType != nil { throw OpenEMRError.validation(["note_type": "Only for form \"clinical_notes\"."]) }
        if value == .clinicalNotes, sections != nil { throw OpenEMRError.validation(["sections": "Only for form \"soap\"."]) }
        return value
    }
}

/// A transcription as the API shows it. `segments` is nil in list pages (they carry `segment_count` only).
public struct Transcription: Sendable, Equatable {
    public var id: Int
    public var pid: Int
    public var encounter: Int
    public var providerId: Int
    public var language: String
    public var durationMs: Int?
    public var status: TranscriptionStatus
    public var fullText: String
    public var segmentCount: Int
    /// The OpenEMR username of who created it; nil for patients and guests (usernames are sign-in names).
    public var createdBy: String?
    public var createdAt: MariaDBDateTime
    public var updatedAt: MariaDBDateTime
    public var submittedAt: MariaDBDateTime?
    public var reviewedBy: Int?
    public var reviewedAt: MariaDBDateTime?
    public var rejectionReason: String?
    public var audio: Audio?
    public var form: OpenEMRForm?
    public var version: Int
    public var segments: [TranscriptionSegment]?

    public struct Audio: Sendable, Equatable {
        public var file: String
        public var contentType: String
        public var bytes: Int
        public var sha256: String
        public var uploadedAt: MariaDBDateTime?
    }

    /// Where the approved text went in OpenEMR.
    public struct OpenEMRForm: Sendable, Equatable {
        /// `clinical_notes` or `soap` (OpenEMR's `formdir`).
        public var formdir: String
        /// `form_clinical_notes.form_id` or `form_soap.id`.
        public var formId: Int
        /// `forms.id`.
        public var formsId: Int
        /// `form_clinical_notes.uuid` (FHIR DocumentReference), nil for SOAP.
        public var uuid: String?
        public var noteType: String?
        public var integratedBy: Int?
        public var integratedAt: MariaDBDateTime?
    }

    static let columns = """
        id, pid, encounter, provider_id, language, duration_ms, status, full_text, segment_count, created_by, created_at, updated_at, submitted_at, \
        reviewed_by, reviewed_at, rejection_reason, audio_file, audio_content_type, audio_bytes, audio_sha256, audio_uploaded_at, form_dir, form_id, \
        forms_id, form_uuid, note_type, integrated_by, integrated_at, version
        """
    /// `columns` with an empty `full_text`.
    static let columnsWithoutText = columns.replacing("full_text", with: "'' AS full_text")

    init(row: MariaDBRow) throws {
        id = try row.decode("id", as: Int.self)
        pid = try row.decode("pid", as: Int.self)
        encounter = try row.decode("encounter", as: Int.self)
        providerId = try row.decode("provider_id", as: Int.self)
        language = try row.decode("language", as: String.self)
        durationMs = try row.decode("duration_ms", as: Int?.self)
        guard let status = TranscriptionStatus(rawValue: try row.decode("status", as: String.self)) else {
            throw OpenEMRError.inconsistent("unknown transcription status")
        }
        self.status = status
        fullText = try row.decode("full_text", as: String.self)
        segmentCount = try row.decode("segment_count", as: Int.self)
        createdBy = try row.decode("created_by", as: String.self)
        createdAt = try row.decode("created_at", as: MariaDBDateTime.self)
        updatedAt = try row.decode("updated_at", as: MariaDBDateTime.self)
        submittedAt = try row.decode("submitted_at", as: MariaDBDateTime?.self)
        reviewedBy = try row.decode("reviewed_by", as: Int?.self)
        reviewedAt = try row.decode("reviewed_at", as: MariaDBDateTime?.self)
        rejectionReason = try row.decode("rejection_reason", as: String?.self)
        if let file = try row.decode("audio_file", as: String?.self) {
            audio = Audio(
                file: file, contentType: try row.decode("audio_content_type", as: String?.self) ?? "application/octet-stream",
                bytes: try row.decode("audio_bytes", as: Int?.self) ?? 0, sha256: try row.decode("audio_sha256", as: String?.self) ?? "",
                uploadedAt: try row.decode("audio_uploaded_at", as: MariaDBDateTime?.self)
            )
        }
        if let formdir = try row.decode("form_dir", as: String?.self) {
            form = OpenEMRForm(
                formdir: formdir, formId: try row.decode("form_id", as: Int?.self) ?? 0, formsId: try row.decode("forms_id", as: Int?.self) ?? 0,
                uuid: OpenEMRUUID.string(try row.decode("form_uuid", as: [UInt8]?.self)), noteType: try row.decode("note_type", as: String?.self),
                integratedBy: try row.decode("integrated_by", as: Int?.self), integratedAt: try row.decode("integrated_at", as: MariaDBDateTime?.self)
            )
        }
        version = try row.decode("version", as: Int.self)
    }

    /// What a caller of this role may see: patients and guests get no usernames.
    func shown(to identity: Identity) -> Transcription {
        guard identity.role == .patient || identity.role == .guest else { return self }
        var copy = self
        copy.createdBy = nil
        return copy
    }

    /// Strong validator: the row's id and version (the version moves on every change, segments and audio included).
    public var etag: String { "\"t\(id)-v\(version)\"" }

    /// The JSON representation (DRF keys), written straight into bytes: a transcription with 3,000 segments is the
    /// largest read of the API.
    public var json: [UInt8] {
        var w = JSONWriter(capacity: 512 + fullText.utf8.count * 2 + (segments?.count ?? 0) * 96)
        write(into: &w)
        return w.bytes
    }

    public func write(into w: inout JSONWriter) {
        w.raw("{\"id\":"); w.int(id)
        w.raw(",\"pid\":"); w.int(pid)
        w.raw(",\"encounter\":"); w.int(encounter)
        w.raw(",\"provider_id\":"); w.int(providerId)
        w.raw(",\"language\":"); w.string(language)
        w.raw(",\"duration_ms\":"); w.int(durationMs)
        w.raw(",\"status\":"); w.string(status.rawValue)
        w.raw(",\"full_text\":"); w.string(fullText)
        w.raw(",\"segment_count\":"); w.int(segmentCount)
        w.raw(",\"created_by\":"); w.string(createdBy)
        w.raw(",\"created_at\":"); w.string(Self.iso(createdAt))
        w.raw(",\"updated_at\":"); w.string(Self.iso(updatedAt))
        w.raw(",\"submitted_at\":"); w.string(Self.iso(submittedAt))
        w.raw(",\"reviewed_by\":"); w.int(reviewedBy)
        w.raw(",\"reviewed_at\":"); w.string(Self.iso(reviewedAt))
        w.raw(",\"rejection_reason\":"); w.string(rejectionReason)
        w.raw(",\"audio\":")
        if let audio {
            w.raw("{\"content_type\":"); w.string(audio.contentType)
            w.raw(",\"size\":"); w.int(audio.bytes)
            w.raw(",\"sha256\":"); w.string(audio.sha256)
            w.raw(",\"uploaded_at\":"); w.string(Self.iso(audio.uploadedAt))
            w.raw("}")
        } else {
            w.raw("null")
        }
        w.raw(",\"openemr_form\":")
        if let form {
            w.raw("{\"formdir\":"); w.string(form.formdir)
            w.raw(",\"form_id\":"); w.int(form.formId)
            w.raw(",\"forms_id\":"); w.int(form.formsId)
            w.raw(",\"uuid\":"); w.string(form.uuid)
            w.raw(",\"note_type\":"); w.string(form.noteType)
            w.raw(",\"integrated_by\":"); w.int(form.integratedBy)
            w.raw(",\"integrated_at\":"); w.string(Self.iso(form.integratedAt))
            w.raw("}")
        } else {
            w.raw("null")
        }
        w.raw(",\"version\":"); w.int(version)
        if let segments {
            w.raw(",\"segments\":[")
            for (index, segment) in segments.enumerated() {
                if index > 0 { w.raw(",") }
                segment.write(into: &w)
            }
            w.raw("]")
        }
        w.raw("}")
    }

    /// A UTC `DATETIME(6)` as ISO 8601 (`2026-12-05T09:30:00.123456Z`), as DRF prints an aware datetime.
    static func iso(_ value: MariaDBDateTime?) -> String? {
        guard let value, !value.isZero else { return nil }
        var text = value.dateString + "T"
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        text += two(value.hour) + ":" + two(value.minute) + ":" + two(value.second)
        if value.microsecond > 0 {
            let digits = String(value.microsecond)
            text += "." + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
        }
        return text + "Z"
    }
}

/// Filters and ordering of `GET /api/transcriptions/`.
public struct TranscriptionFilter: Sendable {
    var pid: Int?
    var encounter: Int?
    var statuses: [TranscriptionStatus] = []
    var provider: Int?
    var dateFrom: MariaDBDateTime?
    var dateTo: MariaDBDateTime?
    /// Words for the FULLTEXT index (at least `minimumTokenLength` long) and shorter ones matched as whole words.
    var indexedWords: [String] = []
    var shortWords: [String] = []
    var ordering = "created_at DESC, id DESC"
    /// A patient's own transcriptions only, approved or integrated.
    var onlyPID: Int?

    /// InnoDB's `innodb_ft_min_token_size` default: shorter words are not in the FULLTEXT index.
    static let minimumTokenLength = 3
    static let orderable = ["created": "created_at", "updated": "updated_at", "status": "status", "pid": "pid"]

    /// Reads the query parameters; dates are days in the clinic's time zone (`timeZone`, OpenEMR's `gbl_time_zone`).
    public init(query: [String: String], timeZone: String, onlyPID: Int? = nil) throws {
        var details: [String: String] = [:]
        func int(_ key: String) -> Int? {
            guard let text = query[key], !text.isEmpty else { return nil }
            guard let value = Int(text), value > 0 else {
                details[key] = "A valid integer is required."
                return nil
            }
            return value
        }
        func day(_ key: String, next: Bool) -> MariaDBDateTime? {
            guard let text = query[key], !text.isEmpty else { return nil }
            guard let value = MariaDBDateTime(parsing: text), value.isValid, !value.hasTime, !value.isZero else {
                details[key] = "Date has wrong format. Use YYYY-MM-DD."
                return nil
            }
            return Self.utcStart(ofDay: value, plusOneDay: next, timeZone: timeZone)
        }
        pid = int("patient")
        encounter = int("encounter")
        provider = int("provider")
        dateFrom = day("date_from", next: false)
        dateTo = day("date_to", next: true)
        if let text = query["status"], !text.isEmpty {
            for name in text.split(separator: ",") {
                if let status = TranscriptionStatus(rawValue: String(name)) {
                    statuses.append(status)
                } else {
                    details["status"] = "Must be one of \(TranscriptionStatus.allCases.map(\.rawValue).joined(separator: ", "))."
                }
            }
        }
        if let text = query["search"] {
            var words: [String] = []
            var current = ""
            for scalar in text.unicodeScalars {
                if CharacterSet.alphanumerics.contains(scalar) {
                    current.unicodeScalars.append(scalar)
                } else if !current.isEmpty {
                    words.append(current)
                    current = ""
                }
            }
            if !current.isEmpty { words.append(current) }
            // Only the first 20 words count (as the patient search takes the first five): a longer text is not refused.
            for word in words.prefix(20) {
                if word.count >= Self.minimumTokenLength { indexedWords.append(word) } else { shortWords.append(word) }
            }
        }
        if let text = query["ordering"], !text.isEmpty {
            var parts: [String] = []
            for field in text.split(separator: ",") {
                let descending = field.hasPrefix("-")
                let name = String(descending ? field.dropFirst() : field[...])
                guard let column = Self.orderable[name] else {
                    details["ordering"] = "Unknown ordering field \"\(name)\"; use one of \(Self.orderable.keys.sorted().joined(separator: ", "))."
                    continue
                }
                parts.append(column + (descending ? " DESC" : " ASC"))
            }
            parts.append("id DESC")
            ordering = parts.joined(separator: ", ")
        }
        if !details.isEmpty { throw OpenEMRError.validation(details) }
        self.onlyPID = onlyPID
    }

    /// The UTC instant where the clinic's day `day` (or the next day) begins.
    static func utcStart(ofDay day: MariaDBDateTime, plusOneDay: Bool, timeZone identifier: String) -> MariaDBDateTime {
        var local = Calendar(identifier: .gregorian)
        local.timeZone = TimeZone(identifier: identifier.isEmpty ? "UTC" : identifier) ?? TimeZone(identifier: "UTC") ?? .current
        var components = DateComponents(year: day.year, month: day.month, day: day.day)
        if plusOneDay { components.day = day.day + 1 }
        let instant = local.date(from: components) ?? Date(timeIntervalSince1970: 0)
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: instant)
        return MariaDBDateTime(year: c.year ?? 1970, month: c.month ?? 1, day: c.day ?? 1, hour: c.hour ?? 0, minute: c.minute ?? 0, second: c.second ?? 0)
    }

    var whereClause: MariaDBQuery {
        var clause: MariaDBQuery = "1 = 1"
        if let onlyPID {
            // A patient asking for someone else's sees none (no existence leak).
            if let pid, pid != onlyPID { clause.append(" AND 1 = 0") }
            clause.append(" AND pid = \(onlyPID) AND status IN ('approved', 'integrated')")
        } else if let pid {
            clause.append(" AND pid = \(pid)")
        }
        if let encounter { clause.append(" AND encounter = \(encounter)") }
        if let provider { clause.append(" AND provider_id = \(provider)") }
        if !statuses.isEmpty { clause.append(" AND status IN (\(list: statuses.map(\.rawValue)))") }
        if let dateFrom { clause.append(" AND created_at >= \(dateFrom)") }
        if let dateTo { clause.append(" AND created_at < \(dateTo)") }
        if !indexedWords.isEmpty {
            // Every word required; the words hold letters and digits only, so no boolean-mode operator gets through.
            let expression = indexedWords.map { "+" + $0 }.joined(separator: " ")
            clause.append(" AND MATCH(full_text) AGAINST (\(expression) IN BOOLEAN MODE)")
        }
        for word in shortWords {
            // Too short for the index: a whole-word match on the rows the other conditions leave.
            clause.append(" AND full_text REGEXP \("(?i)\\b" + word + "\\b")")
        }
        return clause
    }
}
