-- Attendance validation. Each row of raw_attendance gets one outcome:
--   loaded      the mark kept for its pupil, date and session;
--   duplicate   an exact repeat of the kept mark, collapsed;
--   quarantined the first failing check below, or conflicting_mark when the
--               same pupil and session has another mark that the best-mark
--               rule keeps: present > approved educational activity >
--               authorised > unauthorised > not possible > pending, then the
--               earliest line.
-- A session is possible when its code's category is P, AEA, AUTH or UNAUTH
-- (DfE: possible = present + AEA + authorised + unauthorised).
CREATE OR REPLACE TEMP TABLE checked_attendance AS
WITH cleaned AS (
    SELECT r.file, r.line,
           nullif(trim(r.school_urn), '')   AS school_urn,
           nullif(trim(r.upn), '')          AS upn_text,
           nullif(trim(r.session_date), '') AS date_text,
           nullif(upper(trim(r.session)), '') AS session,
           nullif(trim(r.mark), '')         AS mark,
           u.status AS upn_status,
           p.pupil_key
    FROM raw_attendance r
    LEFT JOIN upn_tokens u ON u.raw = r.upn
    LEFT JOIN staged_pupils p ON p.upn_token = u.token
),
typed AS (
    SELECT c.*, try_strptime(c.date_text, '%Y-%m-%d')::DATE AS session_date,
           k.category, k.best_mark_rank, sc.urn AS known_school
    FROM cleaned c
    LEFT JOIN cfg_codes k ON k.code = c.mark
    LEFT JOIN cfg_schools sc ON sc.urn = c.school_urn
),
-- Terms never overlap (the configuration checks), so this range join finds
-- at most one term per row.
termed AS (
    SELECT ty.*, t.term_id
    FROM typed ty
    LEFT JOIN cfg_terms t ON ty.session_date BETWEEN t.start_date AND t.end_date
),
reasoned AS (
    SELECT *,
           CASE
               WHEN school_urn IS NULL THEN 'missing_value:school_urn'
               WHEN upn_text IS NULL THEN 'missing_value:upn'
               WHEN date_text IS NULL THEN 'missing_value:session_date'
               WHEN session IS NULL THEN 'missing_value:session'
               WHEN mark IS NULL THEN 'missing_value:mark'
               WHEN upn_status = 'invalid' THEN 'invalid_upn'
               WHEN known_school IS NULL THEN 'unknown_school'
               WHEN session_date IS NULL THEN 'invalid_date:session_date'
               WHEN session NOT IN ('AM', 'PM') THEN 'invalid_session'
               WHEN category IS NULL THEN 'unknown_mark'
               WHEN pupil_key IS NULL THEN 'pupil_not_on_roster'
               WHEN term_id IS NULL THEN 'date_outside_terms'
           END AS failed
    FROM termed
),
-- Almost every pupil and session has one mark; only the rest need ranking.
repeated AS (
    SELECT pupil_key, session_date, session
    FROM reasoned
    WHERE failed IS NULL
    GROUP BY pupil_key, session_date, session
    HAVING count(*) > 1
),
ranked AS (
    SELECT r.*,
           row_number() OVER w AS nth,
           first_value(r.mark) OVER w AS kept_mark
    FROM reasoned r
    SEMI JOIN repeated USING (pupil_key, session_date, session)
    WHERE r.failed IS NULL
    WINDOW w AS (PARTITION BY r.pupil_key, r.session_date, r.session ORDER BY r.best_mark_rank, r.file, r.line)
)
SELECT file, line, 'loaded' AS outcome, NULL AS failed,
       pupil_key, school_urn, session_date, session, mark, category
FROM reasoned r
ANTI JOIN repeated USING (pupil_key, session_date, session)
WHERE r.failed IS NULL
UNION ALL
SELECT file, line,
       CASE WHEN nth = 1 THEN 'loaded' WHEN mark = kept_mark THEN 'duplicate' ELSE 'quarantined' END,
       CASE WHEN nth > 1 AND mark <> kept_mark THEN 'conflicting_mark' END,
       pupil_key, school_urn, session_date, session, mark, category
FROM ranked
UNION ALL
SELECT file, line, 'quarantined', failed, NULL, school_urn, session_date, session, mark, NULL
FROM reasoned
WHERE failed IS NOT NULL;
