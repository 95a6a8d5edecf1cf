-- Attendance validation. Each row of attendance_codes gets one outcome:
--   loaded      the mark kept for its pupil, date and session;
--   duplicate   an exact repeat of the kept mark, collapsed;
--   quarantined the first failing check below, or conflicting_mark when the
--               same pupil and session has another mark that the best-mark
--               rule keeps (resolve_attendance.sql, which runs next).
-- A session is possible when its code's category is P, AEA, AUTH or UNAUTH
-- (DfE: possible = present + AEA + authorised + unauthorised).
-- This query applies the checks: a row that passes them is loaded
-- (loaded_attendance) unless resolve_attendance.sql finds it repeats a
-- session; a row that fails one is in failed_attendance, with its reason.
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
-- NULL, a missing value. Every code has a dictionary row; a mark whose code
-- had none would be in neither view at the end, and Commit, which checks
-- that every mark counted as loaded is loaded, would refuse the run.
--
-- Nothing is stored per mark: every column DuckDB stores costs memory per
-- row (a 256 KB validity block per 122,880 rows besides the values), which
-- costs more to touch than the joins cost to repeat. The checks are stored
-- once per UPN (checked_upns) and per session mark (checked_session_marks),
-- and the views at the end join them to each mark.
-- school_urn is the URN as a number (six digits, so lpad(school_urn, 6, '0')
-- gives it back), as the sessions table stores it.

-- Why a row was quarantined: every reason this query and
-- resolve_attendance.sql give. An enum, so that each reason below is a typed
-- constant: a CASE of text would be cast row by row.
DROP TYPE IF EXISTS temp.attendance_failure;
CREATE TEMP TYPE attendance_failure AS ENUM ('missing_value:school_urn', 'missing_value:upn', 'missing_value:session_date',
    'missing_value:session', 'missing_value:mark', 'invalid_upn', 'unknown_school', 'invalid_date:session_date',
    'invalid_session', 'unknown_mark', 'pupil_not_on_roster', 'date_outside_terms', 'conflicting_mark');

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
-- The first check a session mark fails: the reasons are listed in the order
-- a row's reason is chosen (attendance_failure), so a row's reason is the
-- lesser of its session mark's and its UPN's (checked_upns).
SELECT sm.file_id, sm.id,
       s.school AS school_urn, d.session_date, se.half AS session, m.code AS mark, m.category,
       CASE
           WHEN s.school_urn IS NULL THEN 'missing_value:school_urn'::attendance_failure
           WHEN d.date_text IS NULL THEN 'missing_value:session_date'::attendance_failure
           WHEN se.session IS NULL THEN 'missing_value:session'::attendance_failure
           WHEN m.mark IS NULL THEN 'missing_value:mark'::attendance_failure
           WHEN NOT s.known THEN 'unknown_school'::attendance_failure
           WHEN d.session_date IS NULL THEN 'invalid_date:session_date'::attendance_failure
           WHEN se.invalid THEN 'invalid_session'::attendance_failure
           WHEN m.category IS NULL THEN 'unknown_mark'::attendance_failure
           WHEN d.term_id IS NULL THEN 'date_outside_terms'::attendance_failure
       END AS failed,
       -- the codes as read, for a quarantined row's file to show them
       sm.school_urn AS school_code, sm.session AS session_code, sm.mark AS mark_code
FROM attendance_session_marks sm
LEFT JOIN schools s ON s.file_id = sm.file_id AND s.id = sm.school_urn
LEFT JOIN dates d ON d.file_id = sm.file_id AND d.id = sm.session_date
LEFT JOIN sessions_text se ON se.file_id = sm.file_id AND se.id = sm.session
LEFT JOIN marks m ON m.file_id = sm.file_id AND m.id = sm.mark;

-- Each distinct UPN of a file, resolved to its pupil once: upn_tokens holds
-- every distinct raw UPN (tokenise). A pupil who has left keeps the key an
-- earlier roster gave them (pupil_keys): their marks still count.
CREATE OR REPLACE TEMP TABLE checked_upns AS
SELECT file_id, id, pupil_key,
       CASE
           WHEN missing THEN 'missing_value:upn'::attendance_failure
           WHEN invalid THEN 'invalid_upn'::attendance_failure
           WHEN pupil_key IS NULL THEN 'pupil_not_on_roster'::attendance_failure
       END AS failed
FROM (
    SELECT d.file_id, d.id, nullif(trim(d.raw), '') IS NULL AS missing, u.status = 'invalid' AS invalid,
           coalesce(p.pupil_key, k.pupil_key) AS pupil_key
    FROM attendance_dict d
    LEFT JOIN upn_tokens u ON u.raw = d.raw
    LEFT JOIN staged_pupils p ON p.upn_token = u.token
    LEFT JOIN pupil_keys k ON k.upn_token = u.token
    WHERE d.col = 'upn'
);

-- What resolve_attendance.sql decides for marks that passed the checks but
-- repeat a session: a duplicate, or quarantined as conflicting_mark.
CREATE OR REPLACE TEMP TABLE resolved_attendance (row_id BIGINT, file_id INTEGER, outcome row_outcome);

-- The marks that passed, typed as the sessions table has them, so loading
-- needs no cast (load_sessions.sql, the summary, resolve_attendance.sql).
-- A mark's outcome follows from its UPN and its session mark alone, so it is
-- not stored: this view joins them wherever it is read (about 100 ms a
-- trust's year), which costs less than writing a row per mark (40 bytes or
-- more each, 300 MB a trust's year). The checks are written as join
-- conditions so that DuckDB filters the small tables before the join.
CREATE OR REPLACE TEMP VIEW loaded_attendance AS
SELECT r.rowid AS row_id, r.file_id, r.line, u.pupil_key, m.school_urn, m.session_date, m.session, m.mark, m.category
FROM attendance_codes r
JOIN checked_upns u ON u.file_id = r.file_id AND u.id = r.upn AND u.failed IS NULL
JOIN checked_session_marks m ON m.file_id = r.file_id AND m.id = r.session_mark AND m.failed IS NULL
ANTI JOIN resolved_attendance x ON x.row_id = r.rowid;

-- The marks that failed a check, with the first check each failed: the
-- lesser reason of its UPN's and its session mark's. One branch per side,
-- so that each starts from the few UPNs or session marks that failed.
CREATE OR REPLACE TEMP VIEW failed_attendance AS
SELECT r.rowid AS row_id, r.file_id, r.line, u.failed, m.session_date, m.school_urn, m.session, m.mark,
       m.school_code, m.session_code, m.mark_code
FROM attendance_codes r
JOIN checked_upns u ON u.file_id = r.file_id AND u.id = r.upn AND u.failed IS NOT NULL
JOIN checked_session_marks m ON m.file_id = r.file_id AND m.id = r.session_mark
WHERE m.failed IS NULL OR m.failed > u.failed
UNION ALL
SELECT r.rowid, r.file_id, r.line, m.failed, m.session_date, m.school_urn, m.session, m.mark,
       m.school_code, m.session_code, m.mark_code
FROM attendance_codes r
JOIN checked_session_marks m ON m.file_id = r.file_id AND m.id = r.session_mark AND m.failed IS NOT NULL
JOIN checked_upns u ON u.file_id = r.file_id AND u.id = r.upn
WHERE u.failed IS NULL OR u.failed > m.failed;
