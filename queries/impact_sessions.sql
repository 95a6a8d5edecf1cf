-- Impact, step 2b: the possible sessions of every pupil with a slot
-- (impact_slots.sql), one row per pupil and term in date order, for
-- windowcounts.go to find the pre and post windows in.
--
-- Definitions (summarise_sessions.sql): a possible session is a half day
-- coded P, AEA, AUTH or UNAUTH on a date of a configured term, at any
-- school; possible_w0..w5 hold the term's half days from its start, 64 to a
-- word, most significant bit first, with a bit set for each; attended_w0..w5
-- for those coded P or AEA. A pupil with two schools in a term has a row for
-- each, which Go ORs together (grouping here with bit_or doubled the query's
-- time): a pupil has at most one mark per half day, so no session is lost or
-- counted twice. possible and attended, the counts, let Go check that it
-- read the words whole.
SELECT pt.pupil_key, t.start_date,
       pt.possible_w0, pt.possible_w1, pt.possible_w2, pt.possible_w3, pt.possible_w4, pt.possible_w5,
       pt.attended_w0, pt.attended_w1, pt.attended_w2, pt.attended_w3, pt.attended_w4, pt.attended_w5,
       pt.possible,
       pt.possible - pt.authorised - pt.unauthorised AS attended
FROM pupil_terms pt
JOIN cfg_terms t USING (term_id)
SEMI JOIN impact_slots s ON s.pupil_key = pt.pupil_key
ORDER BY pt.pupil_key, t.start_date
