-- Batch import (issue 17): the mapping table keeps only the index its one reader uses.
-- mmt_encounter_imports is read by (source, external_id) alone (its primary key); the secondary index on
-- `encounter` had no reader and cost one more index write per imported row (about 5-9 us of mariadbd CPU per row,
-- a tenth of the import's database time). "Which feed row made encounter N" is still answerable by a scan:
--   SELECT source, external_id, line, run_id FROM mmt_encounter_imports WHERE encounter = N;
ALTER TABLE mmt_encounter_imports DROP INDEX IF EXISTS mmt_encounter_imports_encounter;
