-- Batch import of encounters (issue 17).
--
-- mmt_encounter_imports: (source, external_id) → the encounter made for it. Written in the same transaction as the
-- encounter itself, so a run killed halfway and run again creates each encounter once. content_sha (SHA-256 of the
-- row's fields) tells an unchanged row (already imported) from a changed one (a conflict, reported, not changed);
-- run_id and line tell a duplicate within one run.
CREATE TABLE IF NOT EXISTS mmt_encounter_imports (
  source VARCHAR(64) NOT NULL COMMENT 'the feed''s name (--source, ?source=)',
  external_id VARCHAR(255) NOT NULL,
  encounter BIGINT NOT NULL COMMENT 'form_encounter.encounter',
  pid BIGINT NOT NULL,
  content_sha BINARY(32) NOT NULL,
  run_id BIGINT NOT NULL COMMENT 'mmt_import_runs.id of the run that imported it',
  line BIGINT NOT NULL COMMENT 'line of the row in that run''s input',
  imported_at DATETIME NOT NULL COMMENT 'UTC',
  PRIMARY KEY (source, external_id),
  KEY mmt_encounter_imports_encounter (encounter)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per import run (command line or POST /api/encounters/import/), so any replica can show its progress.
CREATE TABLE IF NOT EXISTS mmt_import_runs (
  id BIGINT NOT NULL AUTO_INCREMENT,
  source VARCHAR(64) NOT NULL,
  format VARCHAR(16) NOT NULL,
  origin ENUM('api','cli') NOT NULL,
  state ENUM('queued','running','finished','failed') NOT NULL,
  dry_run TINYINT(1) NOT NULL DEFAULT 0,
  strict TINYINT(1) NOT NULL DEFAULT 0,
  created_by VARCHAR(255) NOT NULL COMMENT 'OpenEMR username (or emr-bridge)',
  created_at DATETIME NOT NULL COMMENT 'UTC',
  started_at DATETIME NULL,
  updated_at DATETIME NULL,
  finished_at DATETIME NULL,
  bytes_total BIGINT NULL,
  bytes_read BIGINT NOT NULL DEFAULT 0,
  rows_read BIGINT NOT NULL DEFAULT 0,
  imported BIGINT NOT NULL DEFAULT 0,
  already_imported BIGINT NOT NULL DEFAULT 0,
  conflicts BIGINT NOT NULL DEFAULT 0,
  rejected BIGINT NOT NULL DEFAULT 0,
  error VARCHAR(255) NULL COMMENT 'why a failed run failed (never patient data)',
  PRIMARY KEY (id),
  KEY mmt_import_runs_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- The rejected rows of a run (the first 1,000; the counts in mmt_import_runs are complete).
CREATE TABLE IF NOT EXISTS mmt_import_rejections (
  run_id BIGINT NOT NULL,
  seq INT NOT NULL,
  line BIGINT NOT NULL,
  status ENUM('rejected','conflict') NOT NULL,
  field VARCHAR(64) NULL,
  reason VARCHAR(255) NOT NULL,
  external_id VARCHAR(255) NULL,
  PRIMARY KEY (run_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
