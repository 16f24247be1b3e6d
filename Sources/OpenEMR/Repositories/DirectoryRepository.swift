public import Logging
public import MariaDB

/// OpenEMR's reference lists the apps show: providers (`users.authorized = 1`) and facilities.
public struct DirectoryRepository: Sendable {
    let database: MariaDBClient

    public init(database: MariaDBClient) { self.database = database }

    /// An active provider. `username` (the OpenEMR sign-in name) is only for staff: nil for patients and guests.
    public struct Provider: Encodable, Sendable, Equatable {
        public var id: Int
        public var uuid: String?
        public var username: String?
        public var fname: String
        public var lname: String
        public var facilityId: Int?
        public var specialty: String
    }

    public struct Facility: Encodable, Sendable, Equatable {
        public var id: Int
        public var uuid: String?
        public var name: String
        public var phone: String
        public var street: String
        public var city: String
        public var state: String
        public var postalCode: String
        public var posCode: Int?
        public var serviceLocation: Bool
        public var billingLocation: Bool
    }

    /// Active users with `authorized = 1`, by name. Patients and guests get what a patient screen shows (names,
    /// specialty, facility), not the providers' OpenEMR usernames.
    public func providers(page: PageRequest, for identity: Identity, logger: Logger) async throws -> PagedQuery.Result<Provider> {
        let showUsernames = identity.role != .patient && identity.role != .guest
        return try await PagedQuery.run(
            database: database, logger: logger, columns: "id, uuid, username, fname, lname, facility_id, specialty",
            from: "users WHERE active = 1 AND authorized = 1 AND username IS NOT NULL AND username <> ''", orderBy: "lname, fname, id",
            page: page
        ) { row in
            Provider(
                id: try row.decode("id", as: Int.self), uuid: OpenEMRUUID.string(try row.decode("uuid", as: [UInt8]?.self)),
                username: showUsernames ? try row.decode("username", as: String?.self) ?? "" : nil, fname: try row.decode("fname", as: String?.self) ?? "",
                lname: try row.decode("lname", as: String?.self) ?? "", facilityId: try row.decode("facility_id", as: Int?.self),
                specialty: try row.decode("specialty", as: String?.self) ?? ""
            )
        }
    }

    /// Every facility, by name.
    public func facilities(page: PageRequest, logger: Logger) async throws -> PagedQuery.Result<Facility> {
        try await PagedQuery.run(
            database: database, logger: logger,
            columns: "id, uuid, name, phone, street, city, state, postal_code, pos_code, service_location, billing_location", from: "facility",
            orderBy: "name, id", page: page
        ) { row in
            Facility(
                id: try row.decode("id", as: Int.self), uuid: OpenEMRUUID.string(try row.decode("uuid", as: [UInt8]?.self)),
                name: try row.decode("name", as: String?.self) ?? "", phone: try row.decode("phone", as: String?.self) ?? "",
                street: try row.decode("street", as: String?.self) ?? "", city: try row.decode("city", as: String?.self) ?? "",
                state: try row.decode("state", as: String?.self) ?? "", postalCode: try row.decode("postal_code", as: String?.self) ?? "",
                posCode: try row.decode("pos_code", as: Int?.self), serviceLocation: try row.decode("service_location", as: Int?.self) == 1,
                billingLocation: try row.decode("billing_location", as: Int?.self) == 1
            )
        }
    }

    /// Whether MariaDB answers (for health checks): false when it is unreachable or refuses.
    public func databaseAnswers(logger: Logger) async -> Bool {
        do {
            try await database.query("SELECT 1", logger: logger)
            return true
        } catch {
            return false
        }
    }
}
