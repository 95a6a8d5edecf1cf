-- Adds sessions to pupil_terms, each pupil's possible sessions per school and
-- term. It reads the temp view summary_input (ingest.Commit: every session
-- when pupil_terms is rebuilt, otherwise only the marks this run loads).
--
-- Definitions (DfE's, as in contributions.sql):
--   possible session   a half day coded P, AEA, AUTH or UNAUTH on a date of a
--                      configured term (cfg_dates); other sessions are left out;
--   possible           the pupil's possible sessions at the school in the term;
--   authorised         those coded AUTH; unauthorised: those coded UNAUTH;
--   possible_days      a bitstring of term_slots() bits: bit day_in_term x 2
--                      (+ 1 for PM) is set for each possible session;
--   attended_days      the same for the sessions attended (P or AEA).
-- Adding is exact: sessions are unique per pupil, date and half day
-- (resolve_attendance.sql), and a mark a run loads is never one already
-- loaded, so counts add and bitstrings OR without overlap. The bitstrings
-- of one calendar have one length, which `|` needs; a change of terms
-- rebuilds the table.
CREATE OR REPLACE TEMP TABLE pupil_terms_delta AS
SELECT d.pupil_key, lpad(d.school_urn::VARCHAR, 6, '0') AS school_urn, t.term_id, d.possible, d.authorised, d.unauthorised, d.possible_days, d.attended_days
FROM (
    -- Grouped by the term's number, not its name, and by the URN as the
    -- number sessions store: grouping millions of sessions on a string key
    -- took twice as long.
    SELECT s.pupil_key, s.school_urn, c.term_idx,
           count(*) AS possible,
           count(*) FILTER (WHERE s.category = 'AUTH'::attendance_category) AS authorised,
           count(*) FILTER (WHERE s.category = 'UNAUTH'::attendance_category) AS unauthorised,
           bitstring_agg(c.day_in_term * 2 + CASE WHEN s.session = 'PM'::session_half THEN 1 ELSE 0 END, 0, term_slots() - 1) AS possible_days,
           coalesce(bitstring_agg(c.day_in_term * 2 + CASE WHEN s.session = 'PM'::session_half THEN 1 ELSE 0 END, 0, term_slots() - 1)
                        FILTER (WHERE s.category IN ('P'::attendance_category, 'AEA'::attendance_category)),
                    bitstring('0', term_slots())) AS attended_days
    FROM summary_input s
    JOIN cfg_dates c USING (session_date)
    WHERE s.category IN ('P'::attendance_category, 'AEA'::attendance_category, 'AUTH'::attendance_category, 'UNAUTH'::attendance_category)
    GROUP BY s.pupil_key, s.school_urn, c.term_idx
) d
JOIN cfg_terms t ON t.idx = d.term_idx;

UPDATE pupil_terms p
SET possible = p.possible + d.possible,
    authorised = p.authorised + d.authorised,
    unauthorised = p.unauthorised + d.unauthorised,
    possible_days = p.possible_days | d.possible_days,
    attended_days = p.attended_days | d.attended_days
FROM pupil_terms_delta d
WHERE p.pupil_key = d.pupil_key AND p.school_urn = d.school_urn AND p.term_id = d.term_id;

INSERT INTO pupil_terms
SELECT d.*
FROM pupil_terms_delta d
ANTI JOIN pupil_terms p ON p.pupil_key = d.pupil_key AND p.school_urn = d.school_urn AND p.term_id = d.term_id;

DROP TABLE pupil_terms_delta;
