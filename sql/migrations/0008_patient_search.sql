-- Patient search at scale (issue 18): the bridge's own search index, a narrow copy of the searched columns of
-- OpenEMR's patient_data. OpenEMR's table is not changed by this file (see `migrate --help` for the one optional
-- index on patient_data.last_updated that keeps the copy fresh cheaply).
--
-- The copy keeps each text column's value byte for byte, in the collation patient_data's own column has
-- (each collation placeholder is replaced by `migrate` with that column's collation), so LIKE and ORDER BY on the copy answer exactly
-- as on patient_data: same case and accent folding. Phones are kept as their digits, computed by the same
-- expression the search matches them with; every suffix of 3+ digits is a row of mmt_patient_phone_suffixes, so a
-- "digits anywhere in the phone" match is an index prefix range there.
-- The rows are written by one definition, PatientSearchIndex.refresh (Sources/OpenEMR/Search), called by the API's
-- own patient writes (same transaction), by the catch-up reader (patients OpenEMR changed) and by the rebuild.
CREATE TABLE IF NOT EXISTS mmt_patient_search (
  pid BIGINT NOT NULL,
  fname VARCHAR(255) COLLATE {{collation:patient_data.fname}} NOT NULL DEFAULT '',
  lname VARCHAR(255) COLLATE {{collation:patient_data.lname}} NOT NULL DEFAULT '',
  mname VARCHAR(255) COLLATE {{collation:patient_data.mname}} NOT NULL DEFAULT '',
  pubpid VARCHAR(255) COLLATE {{collation:patient_data.pubpid}} NOT NULL DEFAULT '',
  email VARCHAR(255) COLLATE {{collation:patient_data.email}} NOT NULL DEFAULT '',
  phone_home VARCHAR(255) COLLATE {{collation:patient_data.phone_home}} NOT NULL DEFAULT '' COMMENT 'digits only',
  phone_cell VARCHAR(255) COLLATE {{collation:patient_data.phone_cell}} NOT NULL DEFAULT '' COMMENT 'digits only',
  DOB DATE NULL,
  sex VARCHAR(255) COLLATE {{collation:patient_data.sex}} NOT NULL DEFAULT '',
  date_created DATETIME NULL COMMENT 'patient_data.date',
  PRIMARY KEY (pid),
  KEY mmt_patient_search_fname (fname),
  KEY mmt_patient_search_lname (lname),
  KEY mmt_patient_search_mname (mname),
  KEY mmt_patient_search_pubpid (pubpid),
  KEY mmt_patient_search_email (email),
  KEY mmt_patient_search_dob (DOB),
  KEY mmt_patient_search_date (date_created)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS mmt_patient_phone_suffixes (
  suffix VARCHAR(255) COLLATE {{collation:patient_data.phone_home}} NOT NULL,
  pid BIGINT NOT NULL,
  PRIMARY KEY (suffix, pid),
  KEY mmt_patient_phone_suffixes_pid (pid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- 1..255: the start positions of the phone suffixes (a phone column holds at most 255 characters).
CREATE TABLE IF NOT EXISTS mmt_search_positions (
  n SMALLINT NOT NULL PRIMARY KEY
) ENGINE=InnoDB;

INSERT IGNORE INTO mmt_search_positions (n)
WITH RECURSIVE positions (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM positions WHERE n < 255)
SELECT n FROM positions;

-- One row: whether the copy is complete (built_at) and up to when OpenEMR's changes were read into it.
CREATE TABLE IF NOT EXISTS mmt_patient_search_state (
  id TINYINT NOT NULL PRIMARY KEY,
  built_at DATETIME NULL COMMENT 'database time the last full build finished; NULL = not usable yet',
  synced_until DATETIME NULL COMMENT 'database time of the last catch-up read that finished',
  reconciled_at DATETIME NULL COMMENT 'database time deleted patients were last looked for'
) ENGINE=InnoDB;

INSERT IGNORE INTO mmt_patient_search_state (id) VALUES (1);
