-- Repeated sessions among the marks validate_attendance.sql loaded
-- (loaded_attendance): when the same pupil, date and session has more than
-- one mark, the best-mark rule keeps one: present > approved educational
-- activity > authorised > unauthorised > not possible > pending, then the
-- earliest file (by name) and line. Each other mark becomes a duplicate when
-- it is the kept mark, otherwise it is quarantined as conflicting_mark.
-- Against marks already loaded from other attendance files (sessions, less
-- replaced_files) the loaded mark stands: an identical mark is a duplicate, a
-- different one conflicting_mark. Only the rows that change are recorded, in
-- resolved_attendance, which loaded_attendance then leaves out.
--
-- Finding the repeats must not cost a grouping of every mark by its session
-- (millions of groups of one). Within a term a pupil's half-days are numbered
-- h = day_in_term x 2 (+ 1 for PM), and set as bit 63 - h % 64 of 64-bit word
-- h / 64 (cfg_dates holds each date's word and am_bit), as in
-- summarise_sessions.sql; the words of a pupil and term have as
-- many bits set as the pupil has distinct sessions, so a pupil whose count of
-- marks in a word is higher has a repeat. (A bitstring per pupil and term,
-- bitstring_agg, took 0.38 s of a trust's full load; the words about half.)
-- Only those pupils' marks are then grouped by
-- session_key: pupil_key x 2^20 + days since 1900-01-01 x 2 (+ 1 for PM).
-- Dates are years 1900 to 2999 (parse_input_date), so the day part stays
-- below 2^20 and keys of different sessions never collide.
INSERT INTO resolved_attendance
SELECT rid, file_id, CASE WHEN mark = kept_mark THEN 'duplicate'::row_outcome ELSE 'quarantined'::row_outcome END
FROM (
    WITH loaded AS NOT MATERIALIZED (
        SELECT row_id AS rid, file_id, line, pupil_key, session_date, session, mark,
               (session = 'PM'::session_half)::UTINYINT AS pm
        FROM loaded_attendance
    ),
    repeating_pupils AS (
        SELECT DISTINCT pupil_key
        FROM (
            SELECT l.pupil_key
            FROM loaded l
            JOIN cfg_dates t USING (session_date)
            GROUP BY l.pupil_key, t.term_idx, t.word
            HAVING count(*) > bit_count(bit_or(t.am_bit >> l.pm))
        )
    ),
    candidates AS (
        SELECT l.*, l.pupil_key * 1048576 + (l.session_date - DATE '1900-01-01') * 2 + l.pm AS session_key
        FROM loaded l
        SEMI JOIN repeating_pupils USING (pupil_key)
    ),
    repeated AS (
        SELECT session_key FROM candidates GROUP BY session_key HAVING count(*) > 1
    ),
    later AS (
        SELECT rid, file_id, mark, kept_mark
        FROM (
            SELECT l.rid, l.file_id, l.mark, row_number() OVER w AS nth, first_value(l.mark) OVER w AS kept_mark
            FROM candidates l
            SEMI JOIN repeated USING (session_key)
            JOIN staged_files f USING (file_id)
            JOIN cfg_codes k ON k.code = l.mark
            WINDOW w AS (PARTITION BY l.session_key ORDER BY k.best_mark_rank, f.file, l.line, l.file_id)
        )
        WHERE nth > 1
    ),
    -- Marks already in the warehouse from files this run does not replace.
    kept_sessions AS (
        SELECT pupil_key, session_date, session, mark AS kept_mark
        FROM sessions
        WHERE file_id NOT IN (SELECT file_id FROM replaced_files)
    )
    SELECT rid, file_id, mark, kept_mark FROM later
    UNION ALL
    SELECT l.rid, l.file_id, l.mark, k.kept_mark
    FROM loaded l
    JOIN kept_sessions k USING (pupil_key, session_date, session)
    ANTI JOIN later USING (rid)
) r;

-- Every mark set aside (failed a check, a conflicting mark): a few rows,
-- kept as a table for the counts and the quarantine file to read.
CREATE OR REPLACE TEMP TABLE quarantined_attendance AS
SELECT file_id, line, failed, session_date, school_urn, session, mark, school_code, session_code, mark_code
FROM failed_attendance
UNION ALL
SELECT r.file_id, r.line, 'conflicting_mark'::attendance_failure, m.session_date, m.school_urn, m.session, m.mark,
       m.school_code, m.session_code, m.mark_code
FROM resolved_attendance x
JOIN attendance_codes r ON r.rowid = x.row_id
JOIN checked_session_marks m ON m.file_id = r.file_id AND m.id = r.session_mark
WHERE x.outcome = 'quarantined'::row_outcome;
