-- Pids of patients deleted through the bridge (DELETE /api/patients/{pid}/, BRIDGE_ALLOW_PATIENT_DELETE=1).
-- OpenEMR allocates pid = MAX(patient_data.pid) + 1, so deleting the highest pid would hand it to the next patient,
-- and the audit log, backups and other systems would then mix two people under one pid. The bridge allocates
-- GREATEST(MAX(patient_data.pid), MAX(mmt_deleted_patients.pid)) + 1 instead; the row is written in the delete's
-- transaction.
CREATE TABLE IF NOT EXISTS mmt_deleted_patients (
  pid BIGINT NOT NULL,
  deleted_at DATETIME NOT NULL COMMENT 'UTC',
  deleted_by VARCHAR(255) NOT NULL COMMENT 'OpenEMR username of the admin who deleted',
  PRIMARY KEY (pid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
