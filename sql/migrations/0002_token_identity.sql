-- Keep the identity shown to the API with the token, so each request needs one indexed lookup:
-- users.active (and users.authorized) are still read from OpenEMR on every request.
ALTER TABLE mmt_api_tokens
  ADD COLUMN IF NOT EXISTS groupname VARCHAR(255) NOT NULL DEFAULT '' AFTER role,
  ADD COLUMN IF NOT EXISTS fname VARCHAR(255) NOT NULL DEFAULT '' AFTER groupname,
  ADD COLUMN IF NOT EXISTS lname VARCHAR(255) NOT NULL DEFAULT '' AFTER fname,
  ADD COLUMN IF NOT EXISTS facility_id BIGINT NULL AFTER lname;
