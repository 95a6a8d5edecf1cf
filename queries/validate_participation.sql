-- Participation validation and linkage. Each row gets one outcome: loaded
-- (linked to a roster pupil or not), duplicate (an exact repeat, collapsed) or
-- quarantined with the first failing check. Linkage tries the NHS number, then
-- the UPN, and accepts a key only where it names exactly one roster pupil; a
-- record whose keys name two different pupils links to nobody. An unlinked
-- record is kept (and counted) but contributes to no published number.
CREATE OR REPLACE TEMP TABLE checked_participation AS
WITH nhs_unique AS (
    SELECT nhs_token, any_value(pupil_key) AS pupil_key
    FROM staged_pupils
    WHERE nhs_token IS NOT NULL
    GROUP BY nhs_token
    HAVING count(*) = 1
),
cleaned AS (
    SELECT r.file, r.file_id, r.line,
           nullif(lower(trim(r.programme)), '')  AS programme,
           nullif(trim(r.nhs_number), '')        AS nhs_text,
           nullif(trim(r.upn), '')               AS upn_text,
           nullif(trim(r.event_date), '')        AS date_text,
           nullif(lower(trim(r.event)), '')      AS event,
           nullif(upper(trim(r.attended)), '')   AS attended,
           n.status AS nhs_status, n.token AS nhs_token,
           u.status AS upn_status, u.token AS upn_token
    FROM raw_participation r
    LEFT JOIN nhs_tokens n ON n.raw = r.nhs_number
    LEFT JOIN upn_tokens u ON u.raw = r.upn
),
reasoned AS (
    SELECT *,
           parse_input_date(file_id, date_text) AS event_date,
           CASE
               WHEN programme IS NULL THEN 'missing_value:programme'
               WHEN date_text IS NULL THEN 'missing_value:event_date'
               WHEN event IS NULL THEN 'missing_value:event'
               WHEN attended IS NULL THEN 'missing_value:attended'
               WHEN nhs_text IS NULL AND upn_text IS NULL THEN 'missing_identifier'
               WHEN nhs_text IS NOT NULL AND nhs_status <> 'valid' THEN 'invalid_nhs_number'
               WHEN upn_text IS NOT NULL AND upn_status = 'invalid' THEN 'invalid_upn'
               WHEN programme NOT IN (SELECT programme_id FROM cfg_programmes) THEN 'unknown_programme'
               WHEN parse_input_date(file_id, date_text) IS NULL THEN 'invalid_date:event_date'
               WHEN event NOT IN ('referral', 'session', 'completed') THEN 'invalid_event'
               WHEN attended NOT IN ('Y', 'N') THEN 'invalid_attended'
           END AS failed
    FROM cleaned
),
linked AS (
    SELECT r.*,
           nu.pupil_key AS by_nhs,
           pu.pupil_key AS by_upn
    FROM reasoned r
    LEFT JOIN nhs_unique nu ON nu.nhs_token = r.nhs_token
    LEFT JOIN staged_pupils pu ON pu.upn_token = r.upn_token
    WHERE r.failed IS NULL
),
decided AS (
    SELECT *,
           CASE WHEN by_nhs IS NOT NULL AND by_upn IS NOT NULL AND by_nhs <> by_upn THEN NULL
                ELSE coalesce(by_nhs, by_upn) END AS pupil_key,
           CASE WHEN by_nhs IS NOT NULL AND by_upn IS NOT NULL AND by_nhs <> by_upn THEN 'conflict'
                WHEN by_nhs IS NOT NULL THEN 'nhs_number'
                WHEN by_upn IS NOT NULL THEN 'upn' END AS linked_by
    FROM linked
),
ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY programme, nhs_token, upn_token, event_date, event, attended ORDER BY file, line) AS nth
    FROM decided
)
SELECT file, file_id, line,
       CASE WHEN nth = 1 THEN 'loaded' ELSE 'duplicate' END AS outcome,
       NULL AS failed,
       programme, pupil_key, linked_by, event_date, event, attended = 'Y' AS attended
FROM ranked
UNION ALL
SELECT file, file_id, line, 'quarantined', failed, programme, NULL, NULL, event_date, event, NULL
FROM reasoned
WHERE failed IS NOT NULL;
