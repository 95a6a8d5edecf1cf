-- Roster validation. Each row of raw_roster gets one outcome:
--   loaded      a valid pupil (the first valid row of each UPN);
--   duplicate   an exact repeat of a loaded row, collapsed;
--   quarantined the first failing check, in the order below.
-- Identifiers arrive only as tokens (upn_tokens, nhs_tokens and the match-key
-- tokens of name, date of birth and postcode in demo_tokens, made once per
-- distinct value in Go); an invalid NHS number is dropped (nhs_token NULL)
-- and counted, since the pupil's attendance is still valid.
CREATE OR REPLACE TEMP TABLE checked_roster AS
WITH cleaned AS (
    SELECT r.file, r.file_id, r.line,
           nullif(trim(r.school_urn), '')        AS school_urn,
           nullif(trim(r.upn), '')               AS upn_text,
           nullif(upper(trim(r.year_group)), '') AS year_group_text,
           nullif(upper(trim(r.fsm)), '')        AS fsm,
           nullif(upper(trim(r.sen)), '')        AS sen,
           nullif(upper(trim(r.gender)), '')     AS gender,
           nullif(trim(r.nhs_number), '') IS NOT NULL AS has_nhs,
           u.status AS upn_status, u.token AS upn_token,
           n.status AS nhs_status, n.token AS nhs_token,
           u.link_token AS link_upn, n.link_token AS link_nhs,
           d.* EXCLUDE (raw)
    FROM raw_roster r
    LEFT JOIN upn_tokens u ON u.raw = r.upn
    LEFT JOIN nhs_tokens n ON n.raw = r.nhs_number
    LEFT JOIN demo_tokens d ON d.raw = demographics(r.forename, r.surname, r.date_of_birth, r.postcode, r.gender)
),
checked AS (
    SELECT *,
           CASE WHEN year_group_text = 'R' THEN 0 ELSE try_cast(year_group_text AS INTEGER) END AS year_group,
    FROM cleaned
),
reasoned AS (
    SELECT *,
           CASE
               WHEN school_urn IS NULL THEN 'missing_value:school_urn'
               WHEN upn_text IS NULL THEN 'missing_value:upn'
               WHEN year_group_text IS NULL THEN 'missing_value:year_group'
               WHEN upn_status = 'invalid' THEN 'invalid_upn'
               WHEN school_urn NOT IN (SELECT urn FROM cfg_schools) THEN 'unknown_school'
               WHEN year_group IS NULL OR year_group NOT BETWEEN 0 AND 14 THEN 'invalid_year_group'
               WHEN fsm IS NOT NULL AND fsm NOT IN ('Y', 'N') THEN 'invalid_fsm'
               WHEN sen IS NOT NULL AND sen NOT IN ('N', 'K', 'E') THEN 'invalid_sen'
               WHEN gender IS NOT NULL AND gender NOT IN ('F', 'M', 'U', 'X') THEN 'invalid_gender'
           END AS failed
    FROM checked
),
ranked AS (
    SELECT *,
           row_number() OVER w AS nth,
           first_value(struct_pack(school_urn, year_group, fsm, sen, gender, nhs_token)) OVER w AS kept
    FROM reasoned
    WHERE failed IS NULL
    WINDOW w AS (PARTITION BY upn_token ORDER BY file, line)
)
SELECT file, file_id, line,
       CASE WHEN nth = 1 THEN 'loaded'
            WHEN kept = struct_pack(school_urn, year_group, fsm, sen, gender, nhs_token) THEN 'duplicate'
            ELSE 'quarantined' END AS outcome,
       CASE WHEN nth > 1 AND kept <> struct_pack(school_urn, year_group, fsm, sen, gender, nhs_token)
            THEN 'conflicting_roster_row' END AS failed,
       upn_token,
       CASE WHEN nhs_status = 'valid' THEN nhs_token END AS nhs_token,
       has_nhs AND coalesce(nhs_status, 'invalid') <> 'valid' AS nhs_ignored,
       school_urn, year_group, fsm = 'Y' AS fsm, sen, gender,
       link_upn, CASE WHEN nhs_status = 'valid' THEN link_nhs END AS link_nhs,
       tok_names_dob_postcode, tok_initial_dob_district, tok_names_dob, tok_phonetic_dob_sex, tok_forename_dob_postcode
FROM ranked
UNION ALL
SELECT file, file_id, line, 'quarantined', failed, NULL, NULL, false, school_urn, year_group, NULL, sen, gender,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM reasoned
WHERE failed IS NOT NULL;
