/// Who is calling: a core OpenEMR user or a portal patient, with a role.
public struct Identity: Sendable, Equatable {
    public enum Role: String, Sendable, Codable, CaseIterable {
        /// Member of OpenEMR's phpGACL `admin` group.
        case admin
        /// `users.authorized = 1`.
        case provider
        /// Any other active core user.
        case staff
        /// A portal patient, bound to one pid.
        case patient
        /// The demo guest (demo mode only, read-only).
        case guest

        /// A core user's role as OpenEMR decides it: admin (phpGACL `admin` group), provider (`users.authorized = 1`,
        /// or `see_auth` above 2 as OpenEMR counts it), else staff. The one derivation used at sign-in, by the session
        /// bridge and on every request.
        public static func coreUser(admin: Bool, authorized: Int?, seeAuth: Int?) -> Role {
            admin ? .admin : (authorized == 1 || (seeAuth ?? 0) > 2 ? .provider : .staff)
        }
    }

    public var role: Role
    /// `users.id` for core users; nil for patients.
    public var userID: Int?
    /// `users.username`, or the portal login name for patients.
    public var username: String
    /// `groups.name` (OpenEMR's `authProvider`), used as `groupname` in audit rows.
    public var groupName: String
    /// The patient a patient token is bound to.
    public var pid: Int?
    public var fname: String
    public var lname: String
    public var facilityID: Int?
    /// SHA-256 of the bearer token (for logout).
    public var tokenHash: [UInt8]

    public init(
        role: Role, userID: Int?, username: String, groupName: String, pid: Int?, fname: String, lname: String, facilityID: Int?,
        tokenHash: [UInt8]
    ) {
        self.role = role
        self.userID = userID
        self.username = username
        self.groupName = groupName
        self.pid = pid
        self.fname = fname
        self.lname = lname
        self.facilityID = facilityID
        self.tokenHash = tokenHash
    }

    /// May create and update clinical data.
    public var canWriteClinical: Bool { role == .admin || role == .provider }
    public var isAdmin: Bool { role == .admin }
}
