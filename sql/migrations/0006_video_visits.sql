-- Jitsi video visits (issue 16).
--
-- One row per encounter that has been looked at for video: its room (128+ random bits, lowercase [a-z0-9-], never
-- derived from pid or encounter number), its state (scheduled -> live -> ended), whether the provider disabled video,
-- and `version`, the change number the event pollers read. Times are UTC.
CREATE TABLE IF NOT EXISTS mmt_video_visits (
  encounter BIGINT NOT NULL COMMENT 'form_encounter.encounter',
  room VARCHAR(64) NOT NULL,
  state ENUM('scheduled','live','ended') NOT NULL DEFAULT 'scheduled',
  enabled TINYINT(1) NOT NULL DEFAULT 1,
  started_at DATETIME NULL,
  started_by VARCHAR(255) NULL,
  auto_end_at DATETIME NULL COMMENT 'started_at + max duration: a live visit ends by itself then',
  ended_at DATETIME NULL,
  ended_by VARCHAR(255) NULL,
  appointment_eid INT UNSIGNED NULL COMMENT 'openemr_postcalendar_events.pc_eid moved to "in exam room" at start',
  version BIGINT NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  PRIMARY KEY (encounter),
  UNIQUE KEY mmt_video_visits_room (room),
  KEY mmt_video_visits_version (version),
  KEY mmt_video_visits_live (state, auto_end_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The one change counter. Every state change takes the next number with
-- `UPDATE mmt_video_version SET version = LAST_INSERT_ID(version + 1)` as the last statement of its transaction: the
-- row lock is held until commit, so numbers become visible in the order they were taken and a poller that has seen
-- number N has seen every change below N (no change is skipped, on any replica).
CREATE TABLE IF NOT EXISTS mmt_video_version (
  id TINYINT NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
INSERT IGNORE INTO mmt_video_version (id, version) VALUES (1, 0);

-- Per-facility overrides of the JITSI_* environment (NULL: use the environment). app_secret and private_key are
-- write-only through the API.
CREATE TABLE IF NOT EXISTS mmt_video_settings (
  facility_id INT NOT NULL,
  domain VARCHAR(255) NULL,
  app_id VARCHAR(255) NULL,
  app_secret VARCHAR(1024) NULL,
  audience VARCHAR(255) NULL,
  sub VARCHAR(255) NULL,
  algorithm VARCHAR(16) NULL,
  key_id VARCHAR(255) NULL,
  private_key TEXT NULL,
  recording_enabled TINYINT(1) NULL,
  window_before INT NULL,
  window_after INT NULL,
  token_ttl INT NULL,
  max_duration INT NULL,
  updated_at DATETIME NOT NULL,
  updated_by VARCHAR(255) NOT NULL,
  PRIMARY KEY (facility_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Single-use tickets for a browser's EventSource (which cannot send Authorization): 256 random bits handed out once,
-- stored as SHA-256, valid 60 s for one encounter's stream, tied to the bridge token that asked for it.
CREATE TABLE IF NOT EXISTS mmt_video_event_tickets (
  ticket_hash BINARY(32) NOT NULL,
  encounter BIGINT NOT NULL,
  token_hash BINARY(32) NOT NULL,
  expires_at DATETIME NOT NULL,
  used_at DATETIME NULL,
  PRIMARY KEY (ticket_hash),
  KEY mmt_video_event_tickets_expires (expires_at)
) ENGINE=InnoDB;
