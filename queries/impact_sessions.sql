-- Impact, step 2b: the possible sessions of every pupil with a slot
-- (impact_slots.sql), one row per pupil and term in date order, for
-- windowcounts.go to find the pre and post windows in.
--
-- Definitions (summarise_sessions.sql): a possible session is a half day
-- coded P, AEA, AUTH or UNAUTH on a date of a configured term, at any
-- school; possible_days has bit day_in_term x 2 (+ 1 for PM) set for each,
-- attended_days for those coded P or AEA. A pupil with two schools in a
-- term has a row for each, which Go ORs together (grouping here with bit_or
-- doubled the query's time): a pupil has at most one mark per half day, so
-- no session is lost or counted twice. The bitstrings leave as BLOBs: their
-- bits in order, big-endian, padded with zeros at the front to whole bytes;
-- possible and attended, the counts of each, let Go check that it read them
-- whole.
SELECT pt.pupil_key, t.start_date,
       CAST(pt.possible_days AS BLOB) AS possible_days,
       CAST(pt.attended_days AS BLOB) AS attended_days,
       pt.possible,
       pt.possible - pt.authorised - pt.unauthorised AS attended
FROM pupil_terms pt
JOIN cfg_terms t USING (term_id)
SEMI JOIN impact_slots s ON s.pupil_key = pt.pupil_key
ORDER BY pt.pupil_key, t.start_date
