import Foundation
import MariaDB
import Testing

@testable import App
@testable import OpenEMR

/// Issue 15: the pure parts of transcriptions (validation, filters, ranges, ETags, JSON).
@Suite struct TranscriptionUnitTests {
    static func input(_ json: String) throws -> TranscriptionInput {
        try JSONCoding.keyedDecoder.decode(TranscriptionInput.self, from: Data(json.utf8))
    }

    static func details(_ body: () throws -> Void) -> [String: String] {
        do {
            try body()
            return [:]
        } catch let error as OpenEMRError {
            return error.details
        } catch {
            return ["unexpected": "\(error)"]
        }
    }

    @Test func segmentsAreValidatedAllAtOnceAndSorted() throws {
        let valid = try Self.input(
            #"{"pid":1,"encounter":2,"segments":[{"order":5,"start_ms":10,"end_ms":10,"text":"b"},{"order":1,"start_ms":0,"end_ms":5,"text":"a","speaker":" patient ","confidence":0}]}"#
        )
        let segments = try #require(try valid.validated(requireAll: true))
        #expect(segments.map(\.order) == [1, 5])
        #expect(segments[0].speaker == "patient")
        #expect(segments[1].speaker == "other")
        #expect(TranscriptionInput.fullText(of: segments) == "a\nb")

        let bad = try Self.input(
            #"{"pid":0,"segments":[{"order":-1,"start_ms":5,"end_ms":4,"text":" ","confidence":1.01},{"start_ms":0,"end_ms":1,"text":"x","speaker":""},{"order":1,"end_ms":1}]}"#
        )
        let found = Self.details { _ = try bad.validated(requireAll: true) }
        #expect(
            Set(found.keys) == [
                "pid", "encounter", "segments.0.order", "segments.0.end_ms", "segments.0.text", "segments.0.confidence", "segments.1.speaker",
                "segments.2.order", "segments.2.start_ms", "segments.2.text",
            ],
            "\(found)"
        )
        // PATCH: nothing required, and `duration_ms: null` is a sent null.
        let patch = try Self.input(#"{"duration_ms":null}"#)
        #expect(try patch.validated(requireAll: false) == nil)
        #expect(patch.sentDuration && patch.durationMs == nil)
        #expect(!(try Self.input("{}")).sentDuration)
        let language = Self.details { _ = try Self.input(#"{"language":"en_US"}"#).validated(requireAll: false) }
        #expect(language.keys.sorted() == ["language"])
    }

    @Test func filtersParseAndRefuse() throws {
        let filter = try TranscriptionFilter(
            query: ["patient": "4", "status": "approved,integrated", "search": "chest-pain at 3am; +x*", "ordering": "-updated,pid", "date_from": "2026-03-29"],
            timeZone: "Europe/Berlin"
        )
        #expect(filter.pid == 4)
        #expect(filter.statuses == [.approved, .integrated])
        #expect(filter.indexedWords == ["chest", "pain", "3am"])
        #expect(filter.shortWords == ["at", "x"])
        #expect(filter.ordering == "updated_at DESC, pid ASC, id DESC")
        // Midnight in Berlin on the day summer time starts is 23:00 UTC the day before.
        #expect(filter.dateFrom == MariaDBDateTime(year: 2026, month: 3, day: 28, hour: 23))
        let sql = filter.whereClause.sql
        #expect(sql.contains("MATCH(full_text) AGAINST (? IN BOOLEAN MODE)"))
        #expect(filter.whereClause.binds.contains(.text("+chest +pain +3am")))
        for (key, value) in [("status", "done"), ("patient", "-1"), ("date_to", "2026-13-01"), ("ordering", "name")] {
            let found = Self.details { _ = try TranscriptionFilter(query: [key: value], timeZone: "") }
            #expect(found.keys.sorted() == [key], "\(key)=\(value)")
        }
        // A patient's filter is pinned to their own approved ones.
        let own = try TranscriptionFilter(query: ["patient": "9"], timeZone: "", onlyPID: 3)
        #expect(own.whereClause.sql.contains("1 = 0"))
        #expect(own.whereClause.sql.contains("status IN ('approved', 'integrated')"))
    }

    @Test func transitionsAreTheFiveLegalMoves() {
        let moves = TranscriptionAction.allCases.map { "\($0.move.from.rawValue)>\($0.move.to.rawValue)" }
        #expect(Set(moves) == ["draft>pending_review", "pending_review>approved", "pending_review>rejected", "rejected>draft"])
        #expect(TranscriptionStatus.allCases.filter(\.isEditable) == [.draft, .pendingReview, .rejected])
        #expect(TranscriptionStatus.allCases.filter(\.isVisibleToPatient) == [.approved, .integrated])
    }

    @Test func ifMatchVersions() {
        #expect(TranscriptionRepository.versions(in: #""t7-v3", W/"t7-v4", "t8-v9", "x""#, id: 7) == [3, 4])
        #expect(TranscriptionRepository.versions(in: "*", id: 7).isEmpty)
    }

    @Test func byteRanges() {
        #expect(ByteRange.parse(nil, size: 100) == .whole)
        #expect(ByteRange.parse("bytes=0-9", size: 100) == .range(0...9))
        #expect(ByteRange.parse("bytes=90-", size: 100) == .range(90...99))
        #expect(ByteRange.parse("bytes=-10", size: 100) == .range(90...99))
        #expect(ByteRange.parse("bytes=-1000", size: 100) == .range(0...99))
        #expect(ByteRange.parse("bytes=50-5000", size: 100) == .range(50...99))
        #expect(ByteRange.parse("bytes=100-", size: 100) == .unsatisfiable)
        #expect(ByteRange.parse("bytes=-0", size: 100) == .unsatisfiable)
        #expect(ByteRange.parse("bytes=9-1", size: 100) == .whole)
        #expect(ByteRange.parse("bytes=0-1,5-6", size: 100) == .whole)
        #expect(ByteRange.parse("items=0-1", size: 100) == .whole)
        #expect(ByteRange.parse("bytes=x-1", size: 100) == .whole)
    }

    @Test func audioMediaTypes() throws {
        #expect(try AudioStore.mediaType("audio/webm;codecs=opus") == "audio/webm")
        #expect(try AudioStore.mediaType("Audio/MPEG") == "audio/mpeg")
        for bad in [nil, "", "video/webm", "audio/", "audio/a b", "application/octet-stream", "audio/x/y"] {
            #expect(throws: OpenEMRError.self, "\(bad ?? "nil")") { try AudioStore.mediaType(bad) }
        }
    }

    @Test func isoTimesAndJSON() throws {
        #expect(Transcription.iso(MariaDBDateTime(year: 2026, month: 12, day: 5, hour: 9, minute: 3, second: 7, microsecond: 1200)) == "2026-12-05T09:03:07.001200Z")
        #expect(Transcription.iso(MariaDBDateTime(year: 2026, month: 1, day: 2)) == "2026-01-02T00:00:00Z")
        var writer = JSONWriter(capacity: 64)
        TranscriptionSegment(order: 1, startMs: 2, endMs: 3, speaker: "a\"b", text: "x\ny", confidence: 0.25).write(into: &writer)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String: Any])
        #expect(object["speaker"] as? String == "a\"b")
        #expect(object["text"] as? String == "x\ny")
        #expect(object["confidence"] as? Double == 0.25)
        var nullWriter = JSONWriter(capacity: 8)
        nullWriter.double(.nan)
        #expect(String(decoding: nullWriter.bytes, as: UTF8.self) == "null")
    }
}
