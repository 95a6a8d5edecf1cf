-- Staged pupils: the loaded roster rows with their surrogate key. A pupil
-- keeps the key pupil_keys gave their UPN token in an earlier run, so marks
-- loaded from earlier files still point at them; a new pupil gets the next
-- free key, in token order (which reveals nothing about file order).
CREATE OR REPLACE TEMP TABLE staged_pupils AS
WITH loaded AS (
    SELECT r.upn_token, r.nhs_token, r.school_urn, r.year_group, r.fsm, r.sen, r.gender, k.pupil_key AS known_key,
           r.link_upn, r.link_nhs, tok_names_dob_postcode, tok_initial_dob_district, tok_names_dob, tok_phonetic_dob_sex, tok_forename_dob_postcode
    FROM checked_roster r
    LEFT JOIN pupil_keys k USING (upn_token)
    WHERE r.outcome = 'loaded'
),
top AS (SELECT coalesce(max(pupil_key), 0) AS top_key FROM pupil_keys)
SELECT coalesce(known_key, top_key + row_number() OVER (PARTITION BY known_key IS NULL ORDER BY upn_token)) AS pupil_key,
       known_key IS NULL AS new_pupil,
       upn_token, nhs_token, school_urn, year_group, fsm, sen, gender,
       -- match-key tokens under the linkage key, for linking participation
       -- records; this run only, never loaded into the warehouse
       link_upn, link_nhs, tok_names_dob_postcode, tok_initial_dob_district, tok_names_dob, tok_phonetic_dob_sex, tok_forename_dob_postcode
FROM loaded, top;
