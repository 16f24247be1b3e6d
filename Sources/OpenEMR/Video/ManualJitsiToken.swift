public import Foundation
public import Logging
import PasswordCrypt

/// A Jitsi token minted by hand (`emr-bridge mint-token ROOM NAME EMAIL`, the old PHP and Python scripts' job): an
/// admin testing a Jitsi server, or a room outside the visit workflow. Like every other mint it is written to
/// OpenEMR's audit log (`AuditLogger`, the API's own writer), and the row is committed BEFORE the token is handed
/// out: when the audit row cannot be written (no database configured or reachable), no token is minted.
public enum ManualJitsiToken {
    public struct Minted: Sendable {
        public var token: String
        public var meetingURL: String
        public var claims: JitsiClaims
    }

    /// The claims of a hand-minted token: `nbf` a minute back (Prosody allows no clock skew), `exp` `ttl` seconds
    /// from now, features as the visits give them (recording only for a moderator, when `JITSI_RECORDING_ENABLED`).
    public static func claims(room: String, name: String, email: String?, moderator: Bool, ttl: Int, settings: JitsiSettings, now: Int) -> JitsiClaims {
        JitsiClaims(
            room: room, user: JitsiUser(id: "emr-bridge-cli", name: name, email: email, moderator: moderator),
            issuedAt: now, notBefore: now - 60, expiresAt: now + ttl, features: JitsiClaims.features(moderator: moderator, recording: settings.recordingEnabled)
        )
    }

    /// The audit row: event `video-token-mint`, category `Video Visit`, by `identity` (the `--user`, else
    /// `emr-bridge`), naming the room, the kind of token, for whom, its expiry, the operating-system account that ran
    /// the command, and the first 16 hex digits of the token's SHA-256 (to match a token to its row; the token itself
    /// is never stored). The e-mail put in the token is not copied into the log (only that there was one).
    public static func auditEvent(_ claims: JitsiClaims, token: String, by identity: Identity, osUser: String) -> AuditEvent {
        let fingerprint = String(Digest.sha256Hex(token).prefix(16))
        let expires = UTCTime.iso(Date(timeIntervalSince1970: TimeInterval(claims.expiresAt))) ?? String(claims.expiresAt)
        let comments =
            "emr-bridge mint-token: \(claims.user.moderator ? "moderator" : "participant") token for room \(claims.room), name \"\(claims.user.name)\""
            + "\(claims.user.email == nil ? "" : ", with e-mail"), expires \(expires), token sha256 \(fingerprint)…, os user \(osUser)"
        return AuditEvent("video-token-mint", category: "Video Visit", by: identity, patientID: nil, comments: comments)
    }

    /// Mints the token, writes its audit row in its own transaction, and only then returns the token. Throws (and
    /// returns no token) when the row cannot be written.
    public static func mint(
        room: String, name: String, email: String?, moderator: Bool, ttl: Int, signer: JitsiSigner, audit: AuditLogger, by identity: Identity,
        osUser: String, now: Int = Int(Date().timeIntervalSince1970), logger: Logger
    ) async throws -> Minted {
        let claims = claims(room: room, name: name, email: email, moderator: moderator, ttl: ttl, settings: signer.settings, now: now)
        let token = try signer.mint(claims)
        try await audit.record([auditEvent(claims, token: token, by: identity, osUser: osUser)], logger: logger)
        return Minted(token: token, meetingURL: signer.settings.meetingURL(room: room, token: token), claims: claims)
    }
}
