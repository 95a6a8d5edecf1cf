-- Adds sessions to pupil_terms, each pupil's possible sessions per school and
-- term. It reads the temp view summary_input (ingest.Commit: every session
-- when pupil_terms is rebuilt, otherwise only the marks this run loads).
--
-- Definitions (DfE's, as in contributions.sql):
--   possible session   a half day coded P, AEA, AUTH or UNAUTH on a date of a
--                      configured term (cfg_dates); other sessions are left out;
--   possible           the pupil's possible sessions at the school in the term;
--   authorised         those coded AUTH; unauthorised: those coded UNAUTH;
--   possible_w0..w5    the term's half days as six 64-bit words: half day
--                      h = day_in_term x 2 (+ 1 for PM) is bit 63 - h % 64 of
--                      word h / 64, set for each possible session (so the
--                      words read in order, most significant bit first);
--   attended_w0..w5    the same for the sessions attended (P or AEA).
-- A term spans at most 192 days (config checks), so six words hold it; a
-- half day past them would leave its bit out, and the count check in
-- ingest.Commit would then refuse the summary.
-- Adding is exact: sessions are unique per pupil, date and half day
-- (resolve_attendance.sql), and a mark a run loads is never one already
-- loaded, so counts add and words OR without overlap. Bits are numbered from
-- each term's start; a change of terms rebuilds the table.
-- One MERGE adds each pupil, school and term's new marks to its row, or
-- inserts the row: a temp table of them, then an UPDATE and an INSERT, took
-- half as long again on a nightly run.
MERGE INTO pupil_terms p
USING (
    WITH marks AS (
        -- cfg_dates holds each date's word and its morning's bit; the
        -- afternoon's is the next bit down. (Shifting a UBIGINT by an
        -- INTEGER here made DuckDB widen both to HUGEINT for every mark:
        -- 0.34 s of a trust's 0.82 s full load.)
        SELECT s.pupil_key, s.school_urn, c.term_idx, c.word, s.category,
               c.am_bit >> (s.session = 'PM'::session_half)::UTINYINT AS bit
        FROM summary_input s
        JOIN cfg_dates c USING (session_date)
        WHERE s.category IN ('P'::attendance_category, 'AEA'::attendance_category, 'AUTH'::attendance_category, 'UNAUTH'::attendance_category)
    ),
    -- Grouped by word first, then the words set side by side: twelve filtered
    -- bit_or aggregates over millions of marks took a third longer.
    -- Grouped by the term's number, not its name, and by the URN as the number
    -- sessions store: grouping on a string key took twice as long.
    words AS (
        SELECT pupil_key, school_urn, term_idx, word,
               count(*) AS possible,
               count(*) FILTER (WHERE category = 'AUTH'::attendance_category) AS authorised,
               count(*) FILTER (WHERE category = 'UNAUTH'::attendance_category) AS unauthorised,
               bit_or(bit) AS possible_bits,
               coalesce(bit_or(bit) FILTER (WHERE category IN ('P'::attendance_category, 'AEA'::attendance_category)), 0) AS attended_bits
        FROM marks
        GROUP BY pupil_key, school_urn, term_idx, word
    )
    SELECT w.pupil_key, lpad(w.school_urn::VARCHAR, 6, '0') AS school_urn, t.term_id,
           sum(w.possible)::BIGINT AS possible, sum(w.authorised)::BIGINT AS authorised, sum(w.unauthorised)::BIGINT AS unauthorised,
           coalesce(max(w.possible_bits) FILTER (WHERE w.word = 0), 0) AS possible_w0,
           coalesce(max(w.possible_bits) FILTER (WHERE w.word = 1), 0) AS possible_w1,
           coalesce(max(w.possible_bits) FILTER (WHERE w.word = 2), 0) AS possible_w2,
           coalesce(max(w.possible_bits) FILTER (WHERE w.word = 3), 0) AS possible_w3,
           coalesce(max(w.possible_bits) FILTER (WHERE w.word = 4), 0) AS possible_w4,
           coalesce(max(w.possible_bits) FILTER (WHERE w.word = 5), 0) AS possible_w5,
           coalesce(max(w.attended_bits) FILTER (WHERE w.word = 0), 0) AS attended_w0,
           coalesce(max(w.attended_bits) FILTER (WHERE w.word = 1), 0) AS attended_w1,
           coalesce(max(w.attended_bits) FILTER (WHERE w.word = 2), 0) AS attended_w2,
           coalesce(max(w.attended_bits) FILTER (WHERE w.word = 3), 0) AS attended_w3,
           coalesce(max(w.attended_bits) FILTER (WHERE w.word = 4), 0) AS attended_w4,
           coalesce(max(w.attended_bits) FILTER (WHERE w.word = 5), 0) AS attended_w5
    FROM words w
    JOIN cfg_terms t ON t.idx = w.term_idx
    GROUP BY w.pupil_key, w.school_urn, t.term_id
) d
ON p.pupil_key = d.pupil_key AND p.school_urn = d.school_urn AND p.term_id = d.term_id
WHEN MATCHED THEN UPDATE SET
    possible = p.possible + d.possible,
    authorised = p.authorised + d.authorised,
    unauthorised = p.unauthorised + d.unauthorised,
    possible_w0 = p.possible_w0 | d.possible_w0,
    possible_w1 = p.possible_w1 | d.possible_w1,
    possible_w2 = p.possible_w2 | d.possible_w2,
    possible_w3 = p.possible_w3 | d.possible_w3,
    possible_w4 = p.possible_w4 | d.possible_w4,
    possible_w5 = p.possible_w5 | d.possible_w5,
    attended_w0 = p.attended_w0 | d.attended_w0,
    attended_w1 = p.attended_w1 | d.attended_w1,
    attended_w2 = p.attended_w2 | d.attended_w2,
    attended_w3 = p.attended_w3 | d.attended_w3,
    attended_w4 = p.attended_w4 | d.attended_w4,
    attended_w5 = p.attended_w5 | d.attended_w5
WHEN NOT MATCHED THEN INSERT VALUES (d.pupil_key, d.school_urn, d.term_id, d.possible, d.authorised, d.unauthorised,
            d.possible_w0, d.possible_w1, d.possible_w2, d.possible_w3, d.possible_w4, d.possible_w5,
            d.attended_w0, d.attended_w1, d.attended_w2, d.attended_w3, d.attended_w4, d.attended_w5);
