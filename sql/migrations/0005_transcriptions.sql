-- Transcriptions (issue 15): a recorded visit turned into timed segments, reviewed by a provider, and written back
-- into the OpenEMR encounter as a Clinical Notes or SOAP form. Table names are the Django bridge's, so a clinic can
-- switch.
--
-- Times are UTC (`UTC_TIMESTAMP(6)`); the API prints them as ISO 8601 with `Z` and filters dates in the clinic's time
-- zone (gbl_time_zone), as Django with USE_TZ does.
--
-- `full_text` is always the segments' text joined in order with a newline (the bridge writes both in one
-- transaction), and carries the FULLTEXT index that `?search=` uses. The index is built without a stopword list
-- (clinical text needs "no", "not", "with", …): InnoDB reads `innodb_ft_user_stopword_table` when the index is created,
-- so it points at an empty table for this session.
CREATE TABLE IF NOT EXISTS mmt_fulltext_stopwords (
  value VARCHAR(30) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

SET SESSION innodb_ft_user_stopword_table = CONCAT(DATABASE(), '/mmt_fulltext_stopwords');

CREATE TABLE IF NOT EXISTS mmt_transcriptions (
  id BIGINT NOT NULL AUTO_INCREMENT,
  pid BIGINT NOT NULL COMMENT 'patient_data.pid',
  encounter BIGINT NOT NULL COMMENT 'form_encounter.encounter',
  provider_id BIGINT NOT NULL COMMENT 'users.id of the provider the visit was with',
  language VARCHAR(35) NOT NULL DEFAULT 'en' COMMENT 'BCP 47 tag',
  duration_ms BIGINT NULL,
  status ENUM('draft','pending_review','approved','rejected','integrated') NOT NULL DEFAULT 'draft',
  full_text MEDIUMTEXT NOT NULL,
  segment_count INT NOT NULL DEFAULT 0,
  created_by VARCHAR(255) NOT NULL COMMENT 'OpenEMR username',
  created_at DATETIME(6) NOT NULL COMMENT 'UTC',
  updated_at DATETIME(6) NOT NULL COMMENT 'UTC',
  submitted_at DATETIME(6) NULL COMMENT 'UTC',
  reviewed_by BIGINT NULL COMMENT 'users.id of who approved or rejected',
  reviewed_at DATETIME(6) NULL COMMENT 'UTC',
  rejection_reason TEXT NULL,
  audio_file VARCHAR(255) NULL COMMENT 'file name inside BRIDGE_AUDIO_DIR',
  audio_content_type VARCHAR(100) NULL,
  audio_bytes BIGINT NULL,
  audio_sha256 CHAR(64) NULL,
  audio_uploaded_at DATETIME(6) NULL COMMENT 'UTC',
  form_dir VARCHAR(20) NULL COMMENT 'clinical_notes or soap, once integrated',
  form_id BIGINT NULL COMMENT 'form_clinical_notes.form_id (group id) or form_soap.id',
  forms_id BIGINT NULL COMMENT 'forms.id of the row that shows the form in the encounter',
  form_uuid BINARY(16) NULL COMMENT 'form_clinical_notes.uuid (FHIR DocumentReference id)',
  note_type VARCHAR(100) NULL COMMENT 'Clinical_Note_Type option_id',
  integrated_by BIGINT NULL COMMENT 'users.id',
  integrated_at DATETIME(6) NULL COMMENT 'UTC',
  version INT NOT NULL DEFAULT 1 COMMENT 'optimistic locking: +1 on every change',
  PRIMARY KEY (id),
  KEY mmt_transcriptions_pid (pid, created_at),
  KEY mmt_transcriptions_encounter (encounter, created_at),
  KEY mmt_transcriptions_status (status, created_at),
  KEY mmt_transcriptions_provider (provider_id, created_at),
  KEY mmt_transcriptions_created (created_at),
  KEY mmt_transcriptions_updated (updated_at),
  FULLTEXT KEY mmt_transcriptions_text (full_text)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- One row per segment, clustered by transcription and order, so a transcription's segments are one range read.
CREATE TABLE IF NOT EXISTS mmt_transcription_segments (
  transcription_id BIGINT NOT NULL,
  seq INT NOT NULL COMMENT 'the segment''s order (JSON: order)',
  start_ms BIGINT NOT NULL,
  end_ms BIGINT NOT NULL,
  speaker VARCHAR(64) NOT NULL COMMENT 'provider, patient, other or a free label',
  text TEXT NOT NULL,
  confidence DOUBLE NULL COMMENT '0 to 1',
  PRIMARY KEY (transcription_id, seq),
  CONSTRAINT mmt_transcription_segments_parent FOREIGN KEY (transcription_id) REFERENCES mmt_transcriptions (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

SET SESSION innodb_ft_user_stopword_table = DEFAULT;
