-- Pupils: the staged roster, one row per UPN token.
INSERT INTO pupils
SELECT pupil_key, upn_token, nhs_token, school_urn, year_group, fsm, sen, gender
FROM staged_pupils;
