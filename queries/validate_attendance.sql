-- Attendance validation. Each row of raw_attendance gets one outcome:
--   loaded      the mark kept for its pupil, date and session;
--   duplicate   an exact repeat of the kept mark, collapsed;
--   quarantined the first failing check below, or conflicting_mark when the
--               same pupil and session has another mark that the best-mark
--               rule keeps: present > approved educational activity >
--               authorised > unauthorised > not possible > pending, then the
--               earliest line. Against marks already loaded from other
--               attendance files (kept_sessions) the loaded mark stands: an
--               identical mark is a duplicate, a different one conflicting_mark.
-- A session is possible when its code's category is P, AEA, AUTH or UNAUTH
-- (DfE: possible = present + AEA + authorised + unauthorised).
CREATE OR REPLACE TEMP TABLE checked_attendance AS
WITH upn_keys AS (
    -- A few thousand distinct UPNs: resolve each to its pupil once, then join
    -- the millions of marks to this small table. A pupil who has left keeps
    -- the key an earlier roster gave them (pupil_keys): their marks still count.
    SELECT u.raw, u.status, coalesce(p.pupil_key, k.pupil_key) AS pupil_key
    FROM upn_tokens u
    LEFT JOIN staged_pupils p ON p.upn_token = u.token
    LEFT JOIN pupil_keys k ON k.upn_token = u.token
),
cleaned AS (
    SELECT r.file, r.file_id, r.line,
           nullif(trim(r.school_urn), '')   AS school_urn,
           nullif(trim(r.upn), '')          AS upn_text,
           nullif(trim(r.session_date), '') AS date_text,
           nullif(upper(trim(r.session)), '') AS session,
           nullif(trim(r.mark), '')         AS mark,
           k.status AS upn_status,
           k.pupil_key
    FROM raw_attendance r
    LEFT JOIN upn_keys k ON k.raw = r.upn
),
typed AS (
    SELECT c.*, parse_input_date(c.file_id, c.date_text) AS session_date, -- in the file's date_format
           k.category, k.best_mark_rank, sc.urn AS known_school
    FROM cleaned c
    LEFT JOIN cfg_codes k ON k.code = c.mark
    LEFT JOIN cfg_schools sc ON sc.urn = c.school_urn
),
-- cfg_dates lists every date of every term (terms never overlap), so each
-- mark finds its term by a hash join on the date.
termed AS (
    SELECT ty.*, t.term_id
    FROM typed ty
    LEFT JOIN cfg_dates t USING (session_date)
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
),
within_files AS (
    SELECT file, file_id, line, 'loaded' AS outcome, NULL AS failed,
           pupil_key, school_urn, session_date, session, mark, category
    FROM reasoned r
    ANTI JOIN repeated USING (pupil_key, session_date, session)
    WHERE r.failed IS NULL
    UNION ALL
    SELECT file, file_id, line,
           CASE WHEN nth = 1 THEN 'loaded' WHEN mark = kept_mark THEN 'duplicate' ELSE 'quarantined' END,
           CASE WHEN nth > 1 AND mark <> kept_mark THEN 'conflicting_mark' END,
           pupil_key, school_urn, session_date, session, mark, category
    FROM ranked
),
-- Marks already in the warehouse from files this run does not replace.
kept_sessions AS (
    SELECT pupil_key, session_date, session, mark AS kept_mark
    FROM sessions
    WHERE file_id NOT IN (SELECT file_id FROM replaced_files)
)
SELECT w.file, w.file_id, w.line,
       CASE WHEN w.outcome <> 'loaded' OR k.kept_mark IS NULL THEN w.outcome
            WHEN k.kept_mark = w.mark THEN 'duplicate' ELSE 'quarantined' END AS outcome,
       CASE WHEN w.outcome = 'loaded' AND k.kept_mark IS NOT NULL AND k.kept_mark <> w.mark THEN 'conflicting_mark'
            ELSE w.failed END AS failed,
       w.pupil_key, w.school_urn, w.session_date, w.session, w.mark, w.category
FROM within_files w
LEFT JOIN kept_sessions k USING (pupil_key, session_date, session)
UNION ALL
SELECT file, file_id, line, 'quarantined', failed, NULL, school_urn, session_date, session, mark, NULL
FROM reasoned
WHERE failed IS NOT NULL;
