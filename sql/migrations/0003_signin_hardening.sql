-- Sign-in hardening (issue 13).
--
-- Tokens follow what they were issued for:
--   credential_sha  SHA-256 (hex) of the stored password hash (users_secure.password, or patient_access_onsite.portal_pwd)
--                   when the token was issued: a changed password ends the token on the next request.
--   session_id      for tokens bridged from an OpenEMR session: that session's id, so every request can check that the
--                   session file still exists (OpenEMR's logout deletes it) and is fresh.
--   session_tracker_uuid  for core sessions: OpenEMR's session_tracker row, checked against the global `timeout`.
ALTER TABLE mmt_api_tokens
  ADD COLUMN IF NOT EXISTS credential_sha CHAR(64) NULL AFTER source,
  ADD COLUMN IF NOT EXISTS session_id VARCHAR(255) NULL AFTER credential_sha,
  ADD COLUMN IF NOT EXISTS session_tracker_uuid BINARY(16) NULL AFTER session_id,
  ADD KEY IF NOT EXISTS mmt_api_tokens_revoked (revoked_at);

-- Failure counters for the patient portal, which has none in OpenEMR: per portal account (subject = pid) and per
-- client address (subject = the IP). Updated atomically before a password is checked, like users_secure and
-- ip_tracking for core users.
CREATE TABLE IF NOT EXISTS mmt_login_throttle (
  scope ENUM('portal_account','portal_ip') NOT NULL,
  subject VARCHAR(255) NOT NULL,
  fail_counter INT NOT NULL DEFAULT 0,
  total_fail_counter BIGINT NOT NULL DEFAULT 0,
  last_fail DATETIME NULL,
  PRIMARY KEY (scope, subject),
  KEY mmt_login_throttle_last_fail (last_fail)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
