import Foundation
public import Logging
public import MariaDB
import Synchronization

/// OpenEMR's option lists (`list_options`), read from the database and cached briefly: the values OpenEMR's own forms
/// offer for a list-backed field (`sex` on the demographics form), so the API accepts exactly those.
public final class OpenEMRLists: Sendable {
    /// The lists the API checks values against.
    public enum List: String, Sendable, CaseIterable {
        /// `patient_data.sex` (the DEM layout's "Birth Sex" uses list `sex`).
        case sex
        /// `patient_data.title` (the DEM layout's "Title" uses list `titles`; empty: none chosen).
        case titles
    }

    private let database: MariaDBClient
    private let refreshInterval: Duration
    private let state = Mutex<[List: (values: [String], fetched: ContinuousClock.Instant)]>([:])

    public init(database: MariaDBClient, refreshInterval: Duration = .seconds(30)) {
        self.database = database
        self.refreshInterval = refreshInterval
    }

    /// The active options' `option_id`s of `list`, in OpenEMR's order (`seq`). Empty when the list has no active
    /// option (a database without the list): then the field is not restricted. Never call while holding a connection.
    public func options(_ list: List, logger: Logger) async throws -> [String] {
        if let cached = state.withLock({ $0[list] }), ContinuousClock.now - cached.fetched < refreshInterval { return cached.values }
        let rows = try await database.query(
            "SELECT option_id FROM list_options WHERE list_id = \(list.rawValue) AND activity = 1 ORDER BY seq, option_id", logger: logger
        )
        let values = try rows.rows.map { try $0.decode("option_id", as: String.self) }
        state.withLock { $0[list] = (values, ContinuousClock.now) }
        return values
    }

    /// Field errors for the list-backed fields of a patient input: a sent `sex` must be an active option of list `sex`;
    /// a sent, non-empty `title` an active option of list `titles` (OpenEMR's form leaves it empty when none is chosen).
    public func check(_ input: PatientInput, logger: Logger) async throws -> [String: String] {
        var details: [String: String] = [:]
        if let sex = input.sex, !sex.trimmingCharacters(in: .whitespaces).isEmpty {
            let allowed = try await options(.sex, logger: logger)
            if !allowed.isEmpty, !allowed.contains(sex) { details["sex"] = "Not a valid choice; use one of: \(allowed.joined(separator: ", "))." }
        }
        if let title = input.title, !title.isEmpty {
            let allowed = try await options(.titles, logger: logger)
            if !allowed.isEmpty, !allowed.contains(title) {
                details["title"] = "Not a valid choice; use one of: \(allowed.joined(separator: ", ")), or an empty string."
            }
        }
        return details
    }
}
