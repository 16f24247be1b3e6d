-- Patient search at scale (issue 18), second step: the first three characters of each searched name column, as an
-- indexed virtual column of the search copy. An index on (prefix, pid) reads the patients whose column starts with
-- a word's first three characters in pid order, so a search whose words are each common but rarely together
-- ("smith j") walks only the rows of that prefix in the page's order instead of the whole copy
-- (PatientSearch's prefix streams). Each column keeps its base column's collation, so `prefix = LEFT(word, 3)`
-- compares as the LIKE on the base column does (PatientSearch uses these columns only for collations that compare
-- one character at a time: the `_general_` ones and `_bin`). Virtual: nothing is stored in the table's rows, and
-- PatientSearchIndex.refresh writes only the base columns.
ALTER TABLE mmt_patient_search
  ADD COLUMN IF NOT EXISTS fname3 VARCHAR(3) COLLATE {{collation:patient_data.fname}} AS (LEFT(fname, 3)) VIRTUAL,
  ADD COLUMN IF NOT EXISTS lname3 VARCHAR(3) COLLATE {{collation:patient_data.lname}} AS (LEFT(lname, 3)) VIRTUAL,
  ADD COLUMN IF NOT EXISTS mname3 VARCHAR(3) COLLATE {{collation:patient_data.mname}} AS (LEFT(mname, 3)) VIRTUAL,
  ADD COLUMN IF NOT EXISTS pubpid3 VARCHAR(3) COLLATE {{collation:patient_data.pubpid}} AS (LEFT(pubpid, 3)) VIRTUAL,
  ADD COLUMN IF NOT EXISTS email3 VARCHAR(3) COLLATE {{collation:patient_data.email}} AS (LEFT(email, 3)) VIRTUAL,
  ADD KEY IF NOT EXISTS mmt_patient_search_fname3 (fname3),
  ADD KEY IF NOT EXISTS mmt_patient_search_lname3 (lname3),
  ADD KEY IF NOT EXISTS mmt_patient_search_mname3 (mname3),
  ADD KEY IF NOT EXISTS mmt_patient_search_pubpid3 (pubpid3),
  ADD KEY IF NOT EXISTS mmt_patient_search_email3 (email3);
