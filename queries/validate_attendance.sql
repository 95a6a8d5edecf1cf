-- Attendance validation. Each row of attendance_codes gets one outcome:
--   loaded      the mark kept for its pupil, date and session;
--   duplicate   an exact repeat of the kept mark, collapsed;
--   quarantined the first failing check below, or conflicting_mark when the
--               same pupil and session has another mark that the best-mark
--               rule keeps (resolve_attendance.sql, which runs next).
-- A session is possible when its code's category is P, AEA, AUTH or UNAUTH
-- (DfE: possible = present + AEA + authorised + unauthorised).
-- This query applies the checks; every row that passes them is 'loaded' here
-- until resolve_attendance.sql has looked for repeated sessions.
--
-- Cost: a file has millions of marks but only a few dozen distinct values in
-- each column other than the UPN (20 schools, 195 dates, AM and PM, 17 codes).
-- The marks arrive as dictionary codes (ingest: attendance_codes, one row per
-- mark with an integer per column, and attendance_dict, each file's distinct
-- raw values per column). Each distinct raw value is cleaned, parsed and
-- looked up once, in a small table, and every mark is then hash-joined to
-- those tables on integers: no text is read, trimmed, parsed or compared
-- per mark (each lookup carries its checks' results as booleans).
-- Code 0 is an empty field, with raw NULL: every looked-up column is then
-- NULL, a missing value (as it would be for a code with no dictionary row).
--
-- Columns as written to checked_attendance: school_urn is the URN as a
-- number (six digits, so lpad(school_urn, 6, '0') gives it back), as the
-- sessions table stores it.
CREATE OR REPLACE TEMP TABLE checked_attendance AS
WITH upn_keys AS (
    -- upn_tokens holds every distinct raw UPN (tokenise): resolve each to its
    -- pupil once. A pupil who has left keeps the key an earlier roster gave
    -- them (pupil_keys): their marks still count.
    SELECT d.file_id, d.id, nullif(trim(d.raw), '') IS NULL AS missing, u.status = 'invalid' AS invalid,
           coalesce(p.pupil_key, k.pupil_key) AS pupil_key
    FROM attendance_dict d
    LEFT JOIN upn_tokens u ON u.raw = d.raw
    LEFT JOIN staged_pupils p ON p.upn_token = u.token
    LEFT JOIN pupil_keys k ON k.upn_token = u.token
    WHERE d.col = 'upn'
),
schools AS (
    SELECT d.file_id, d.id, nullif(trim(d.raw), '') AS school_urn, sc.urn IS NOT NULL AS known, sc.urn::INTEGER AS school
    FROM attendance_dict d
    LEFT JOIN cfg_schools sc ON sc.urn = nullif(trim(d.raw), '')
    WHERE d.col = 'school_urn'
),
-- Dates are read in their file's date_format, so per file. cfg_dates lists
-- every date of every term (terms never overlap): a hash join finds the term.
dates AS (
    SELECT d.file_id, d.id, d.date_text, d.session_date, t.term_id
    FROM (
        SELECT file_id, id, nullif(trim(raw), '') AS date_text,
               parse_input_date(file_id, nullif(trim(raw), '')) AS session_date
        FROM attendance_dict
        WHERE col = 'session_date'
    ) d
    LEFT JOIN cfg_dates t USING (session_date)
),
-- session and mark as text, as written (trimmed), and as the warehouse's
-- enums, NULL unless valid.
sessions_text AS (
    SELECT file_id, id, session, CASE WHEN session IN ('AM', 'PM') THEN session::session_half END AS half,
           session NOT IN ('AM', 'PM') AS invalid
    FROM (SELECT file_id, id, nullif(upper(trim(raw)), '') AS session FROM attendance_dict WHERE col = 'session')
),
marks AS (
    SELECT d.file_id, d.id, nullif(trim(d.raw), '') AS mark, k.code::attendance_mark AS code,
           k.category::attendance_category AS category
    FROM attendance_dict d
    LEFT JOIN cfg_codes k ON k.code = nullif(trim(d.raw), '')
    WHERE d.col = 'mark'
),
reasoned AS (
    SELECT r.file_id, r.line, s.school, d.session_date, se.half, m.code, m.category, u.pupil_key,
           r.school_urn AS school_code, r.session AS session_code, r.mark AS mark_code,
           CASE
               WHEN s.school_urn IS NULL THEN 'missing_value:school_urn'
               WHEN u.missing IS DISTINCT FROM false THEN 'missing_value:upn'
               WHEN d.date_text IS NULL THEN 'missing_value:session_date'
               WHEN se.session IS NULL THEN 'missing_value:session'
               WHEN m.mark IS NULL THEN 'missing_value:mark'
               WHEN u.invalid THEN 'invalid_upn'
               WHEN NOT s.known THEN 'unknown_school'
               WHEN d.session_date IS NULL THEN 'invalid_date:session_date'
               WHEN se.invalid THEN 'invalid_session'
               WHEN m.category IS NULL THEN 'unknown_mark'
               WHEN u.pupil_key IS NULL THEN 'pupil_not_on_roster'
               WHEN d.term_id IS NULL THEN 'date_outside_terms'
           END AS failed
    FROM attendance_codes r
    LEFT JOIN upn_keys u ON u.file_id = r.file_id AND u.id = r.upn
    LEFT JOIN schools s ON s.file_id = r.file_id AND s.id = r.school_urn
    LEFT JOIN dates d ON d.file_id = r.file_id AND d.id = r.session_date
    LEFT JOIN sessions_text se ON se.file_id = r.file_id AND se.id = r.session
    LEFT JOIN marks m ON m.file_id = r.file_id AND m.id = r.mark
)
-- session, mark and category are typed as the sessions table has them, so
-- loading needs no cast. outcome and failed are enums: a byte per mark, not
-- a string (failed lists every reason this query and resolve_attendance.sql
-- give). A failed row keeps the codes of its school, session and mark, for
-- its quarantine file to show them as written (quarantine_attendance.sql);
-- text per row, even NULL, would cost 16 bytes a column.
SELECT file_id, line,
       -- Each branch a typed constant: casting the CASE's text would cast
       -- every row (90 ms a trust's year).
       CASE WHEN failed IS NULL THEN 'loaded'::row_outcome ELSE 'quarantined'::row_outcome END AS outcome,
       failed::ENUM('missing_value:school_urn', 'missing_value:upn', 'missing_value:session_date', 'missing_value:session',
                    'missing_value:mark', 'invalid_upn', 'unknown_school', 'invalid_date:session_date', 'invalid_session',
                    'unknown_mark', 'pupil_not_on_roster', 'date_outside_terms', 'conflicting_mark') AS failed,
       CASE WHEN failed IS NULL THEN pupil_key END AS pupil_key,
       school AS school_urn,
       session_date,
       half AS session,
       code AS mark,
       CASE WHEN failed IS NULL THEN category END AS category,
       CASE WHEN failed IS NOT NULL THEN school_code END AS school_code,
       CASE WHEN failed IS NOT NULL THEN session_code END AS session_code,
       CASE WHEN failed IS NOT NULL THEN mark_code END AS mark_code
FROM reasoned;
