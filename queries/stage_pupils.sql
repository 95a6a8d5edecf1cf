-- Staged pupils: the loaded roster rows with their surrogate key, a dense
-- number in token order (so it reveals nothing about file order). Attendance
-- and participation link to these before anything is written to the warehouse.
CREATE OR REPLACE TEMP TABLE staged_pupils AS
SELECT row_number() OVER (ORDER BY upn_token) AS pupil_key,
       upn_token, nhs_token, school_urn, year_group, fsm, sen, gender
FROM checked_roster
WHERE outcome = 'loaded';
