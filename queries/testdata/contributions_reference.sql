-- The per-pupil contributions as contributions.sql computed them up to the
-- tenth session: one window function (row_number) per choice, the school a
-- pupil counts at in a term and the programmes a pupil keeps. Kept as the
-- reference for pipeline/contributions_reference_test.go; contributions.sql
-- now makes the same choices with arg_min aggregates, which cost a nightly
-- run less. Not run by the pipeline.
--
-- Per-pupil contributions, the input to differential privacy: one row per
-- pupil x term x level x cell, where a cell is "total" (all pupils) or a
-- programme whose participants the pupil is among, and the level is the
-- trust (school_idx -1) or the school where the sessions were recorded.
--
-- Definitions (DfE's, per term):
--   possible sessions     sessions coded P, AEA, AUTH or UNAUTH;
--   authorised absence    sessions coded AUTH; unauthorised absence: UNAUTH;
--   persistent absentee   authorised + unauthorised >= 10% of the pupil's
--                         own possible sessions (in the school, at school
--                         level; in the trust, at trust level) in the term;
--   a pupil is counted in a term when they have at least one possible session;
--   sessions count at the school that recorded them (the enrolment), and
--   for pupils who have since left the roster;
--   participant           at least one linked record of the programme with
--                         event session or completed and attended Y, at any
--                         date in the data (a participant for every term).
-- Bounding, explicit and before noise: values are clamped to
-- [0, max_sessions of the term] (2 x school days); at school level a pupil
-- counts at one school per term, the one with most possible sessions (the
-- rare other school's sessions in that term are left out there, not at trust
-- level); each pupil keeps at most $2 (max_programmes_per_pupil)
-- programmes, chosen at random by a hash salted with the release's random
-- salt ($1), never by a data value. So a pupil reaches at most
-- 2 levels x terms x (1 + $2) cells.
-- Keys leave as integers, the positions in the configured lists: school_idx
-- (-1 for the trust), term_idx, and programme_idx (-1 for all pupils).
WITH per_school AS (
    -- pupil_terms holds each pupil's possible, authorised and unauthorised
    -- sessions per school and term (summarise_sessions.sql), so this reads
    -- one row per pupil, school and term rather than every session.
    SELECT pt.pupil_key, sc.idx AS school_idx, t.idx AS term_idx, t.max_sessions,
           pt.possible, pt.authorised, pt.unauthorised
    FROM pupil_terms pt
    JOIN cfg_schools sc ON sc.urn = pt.school_urn
    JOIN cfg_terms t USING (term_id)
    WHERE pt.possible > 0
),
school_level AS (
    SELECT pupil_key, school_idx, term_idx, max_sessions, possible, authorised, unauthorised
    FROM (
        SELECT *, row_number() OVER (PARTITION BY pupil_key, term_idx
                                     ORDER BY possible DESC, hash(pupil_key, school_idx, $1)) AS pick
        FROM per_school
    )
    WHERE pick = 1
),
trust_level AS (
    SELECT pupil_key, -1 AS school_idx, term_idx, any_value(max_sessions) AS max_sessions,
           sum(possible)::BIGINT AS possible, sum(authorised)::BIGINT AS authorised,
           sum(unauthorised)::BIGINT AS unauthorised
    FROM per_school
    GROUP BY pupil_key, term_idx
),
bounded AS (
    SELECT pupil_key, school_idx, term_idx,
           least(possible, max_sessions) AS possible,
           least(authorised, max_sessions) AS authorised,
           least(unauthorised, max_sessions) AS unauthorised,
           (authorised + unauthorised) * 10 >= possible AS persistent
    FROM (SELECT * FROM school_level UNION ALL SELECT * FROM trust_level)
),
participants AS (
    SELECT DISTINCT pa.pupil_key, cp.idx AS programme_idx
    FROM participation pa
    JOIN cfg_programmes cp ON cp.programme_id = pa.programme
    WHERE pa.pupil_key IS NOT NULL AND pa.attended AND pa.event IN ('session', 'completed')
),
kept_programmes AS (
    SELECT pupil_key, programme_idx
    FROM (
        SELECT pupil_key, programme_idx,
               row_number() OVER (PARTITION BY pupil_key ORDER BY hash(pupil_key, programme_idx, $1)) AS pick
        FROM participants
    )
    WHERE pick <= $2
)
SELECT pupil_key, school_idx, term_idx, -1 AS programme_idx, possible, authorised, unauthorised, persistent
FROM bounded
UNION ALL
SELECT b.pupil_key, b.school_idx, b.term_idx, k.programme_idx, b.possible, b.authorised, b.unauthorised, b.persistent
FROM bounded b
JOIN kept_programmes k USING (pupil_key);
