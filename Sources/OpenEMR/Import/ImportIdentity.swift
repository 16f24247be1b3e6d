public import Logging
public import MariaDB

extension EncounterImporter {
    /// Who a command-line import acts as: the active OpenEMR user `username` (its role, group, facility: the
    /// defaults OpenEMR's own screens would apply), or, without one, `emr-bridge` in the `Default` group with no
    /// default provider or facility (rows then name their provider; the facility defaults to the primary service
    /// facility). Throws `OpenEMRError` `not_found` for an unknown or inactive user.
    public static func actingUser(_ username: String?, database: MariaDBClient, logger: Logger) async throws -> Identity {
        guard let username else {
            return Identity(
                role: .staff, userID: nil, username: "emr-bridge", groupName: "Default", pid: nil, fname: "", lname: "", facilityID: nil, tokenHash: []
            )
        }
        guard let row = try await database.query(LoginService.accountQuery(username), logger: logger).first,
            try row.decode("active", as: Int?.self) == 1
        else { throw OpenEMRError.notFound("No active OpenEMR user with that username.") }
        return Identity(
            role: try LoginService.role(row), userID: try row.decode("id", as: Int.self), username: try row.decode("username", as: String.self),
            groupName: try row.decode("groupname", as: String?.self) ?? "Default", pid: nil, fname: try row.decode("fname", as: String?.self) ?? "",
            lname: try row.decode("lname", as: String?.self) ?? "", facilityID: try row.decode("facility_id", as: Int?.self), tokenHash: []
        )
    }
}
