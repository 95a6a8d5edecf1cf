-- Staged pupils when the roster is not read again (its file, the
-- participation files and what they are checked against are unchanged:
-- ingest.rosterUnchanged): the warehouse's pupils, as stage_pupils.sql
-- would stage them from the same roster. The new marks are checked against
-- them; nothing here is loaded, and no participation record is linked this
-- run, so the match-key tokens are empty. A view: copying 20,000 pupils into
-- a temp table cost more than the one join that reads them.
DROP TABLE IF EXISTS staged_pupils;
CREATE OR REPLACE TEMP VIEW staged_pupils AS
SELECT pupil_key, false AS new_pupil, upn_token, nhs_token, school_urn, year_group, fsm, sen, gender,
       NULL::VARCHAR AS link_upn, NULL::VARCHAR AS link_nhs,
       NULL::VARCHAR AS tok_names_dob_postcode, NULL::VARCHAR AS tok_initial_dob_district, NULL::VARCHAR AS tok_names_dob,
       NULL::VARCHAR AS tok_phonetic_dob_sex, NULL::VARCHAR AS tok_forename_dob_postcode
FROM pupils;
