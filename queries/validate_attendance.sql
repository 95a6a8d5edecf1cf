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
-- each column other than the UPN (20 schools, 195 dates, AM and PM, 17
-- codes), and a few thousand session marks (a school's mark for a date and
-- session, without the pupil). The marks arrive coded (ingest/codes.go):
-- attendance_codes has a row per mark with its UPN's code and its session
-- mark's number, attendance_session_marks the codes of each session mark,
-- attendance_dict each file's distinct raw values per column. Each distinct
-- raw value is cleaned, parsed and looked up once, in a small table, each
-- session mark checked once (checked_session_marks), and every mark is then
-- hash-joined to two small tables on integers: no text is read, trimmed,
-- parsed or compared per mark.
-- Code 0 is an empty field, with raw NULL: every looked-up column is then
-- NULL, a missing value (as it would be for a code with no dictionary row).
--
-- What is stored per mark is kept narrow (checked_attendance: file, line,
-- outcome, reason, pupil and session mark): every column DuckDB stores costs
-- memory per row, and the typed school, date, session, mark and category
-- are in checked_session_marks, once per session mark (loaded_attendance
-- joins them back). school_urn is the URN as a number (six digits, so
-- lpad(school_urn, 6, '0') gives it back), as the sessions table stores it.
CREATE OR REPLACE TEMP TABLE checked_session_marks AS
WITH schools AS (
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
)
-- The checks on a session mark, in the order the row's reason is chosen
-- (below): the UPN's own checks fall between them.
SELECT sm.file_id, sm.id,
       s.school AS school_urn, d.session_date, se.half AS session, m.code AS mark, m.category,
       s.school_urn IS NULL AS missing_school,
       CASE
           WHEN d.date_text IS NULL THEN 'missing_value:session_date'
           WHEN se.session IS NULL THEN 'missing_value:session'
           WHEN m.mark IS NULL THEN 'missing_value:mark'
       END AS missing,
       CASE
           WHEN NOT s.known THEN 'unknown_school'
           WHEN d.session_date IS NULL THEN 'invalid_date:session_date'
           WHEN se.invalid THEN 'invalid_session'
           WHEN m.category IS NULL THEN 'unknown_mark'
       END AS invalid,
       d.term_id IS NULL AS outside_terms,
       -- the codes as read, for a quarantined row's file to show them
       sm.school_urn AS school_code, sm.session AS session_code, sm.mark AS mark_code
FROM attendance_session_marks sm
LEFT JOIN schools s ON s.file_id = sm.file_id AND s.id = sm.school_urn
LEFT JOIN dates d ON d.file_id = sm.file_id AND d.id = sm.session_date
LEFT JOIN sessions_text se ON se.file_id = sm.file_id AND se.id = sm.session
LEFT JOIN marks m ON m.file_id = sm.file_id AND m.id = sm.mark;

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
reasoned AS (
    SELECT r.file_id, r.line, r.session_mark, u.pupil_key,
           CASE
               WHEN m.missing_school THEN 'missing_value:school_urn'
               WHEN u.missing IS DISTINCT FROM false THEN 'missing_value:upn'
               WHEN m.missing IS NOT NULL THEN m.missing
               WHEN u.invalid THEN 'invalid_upn'
               WHEN m.invalid IS NOT NULL THEN m.invalid
               WHEN u.pupil_key IS NULL THEN 'pupil_not_on_roster'
               WHEN m.outside_terms THEN 'date_outside_terms'
           END AS failed
    FROM attendance_codes r
    LEFT JOIN upn_keys u ON u.file_id = r.file_id AND u.id = r.upn
    -- every session mark has a row (both come from the same read)
    JOIN checked_session_marks m ON m.file_id = r.file_id AND m.id = r.session_mark
)
-- outcome and failed are enums: a byte per mark, not a string (failed lists
-- every reason this query and resolve_attendance.sql give).
SELECT file_id, line,
       -- Each branch a typed constant: casting the CASE's text would cast
       -- every row (90 ms a trust's year).
       CASE WHEN failed IS NULL THEN 'loaded'::row_outcome ELSE 'quarantined'::row_outcome END AS outcome,
       failed::ENUM('missing_value:school_urn', 'missing_value:upn', 'missing_value:session_date', 'missing_value:session',
                    'missing_value:mark', 'invalid_upn', 'unknown_school', 'invalid_date:session_date', 'invalid_session',
                    'unknown_mark', 'pupil_not_on_roster', 'date_outside_terms', 'conflicting_mark') AS failed,
       CASE WHEN failed IS NULL THEN pupil_key END AS pupil_key,
       session_mark
FROM reasoned;

-- The codes are not read again: dropping them now lets the load reuse
-- their memory.
DROP TABLE attendance_codes;

-- The marks that passed, typed as the sessions table has them, so loading
-- needs no cast (load_sessions.sql, the summary, resolve_attendance.sql).
CREATE OR REPLACE TEMP VIEW loaded_attendance AS
SELECT c.rowid AS row_id, c.file_id, c.line, c.pupil_key, m.school_urn, m.session_date, m.session, m.mark, m.category
FROM checked_attendance c
JOIN checked_session_marks m ON m.file_id = c.file_id AND m.id = c.session_mark
WHERE c.outcome = 'loaded'::row_outcome;
