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
-- The one school per pupil and term: most possible sessions, ties broken by
-- the salted hash. arg_min over (-possible, hash) picks the row a row_number
-- window ordered that way would (queries/testdata/contributions_reference.sql
-- keeps that form, and a test compares the two); an aggregate costs a nightly
-- run less than a window, which first sorts every pupil's rows into
-- partitions, each a new block of memory touched for the first time. The two
-- agree only because nothing here is NULL: arg_min skips a row whose value or
-- key is NULL, where a window would keep it.
school_level AS (
    SELECT pupil_key, r.school_idx, term_idx, r.max_sessions, r.possible, r.authorised, r.unauthorised
    FROM (
        SELECT pupil_key, term_idx,
               arg_min({'school_idx': school_idx, 'max_sessions': max_sessions, 'possible': possible, 'authorised': authorised, 'unauthorised': unauthorised},
                       (-possible, hash(pupil_key, school_idx, $1))) AS r
        FROM per_school
        GROUP BY pupil_key, term_idx
    )
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
-- The $2 programmes with the smallest salted hashes, by the same aggregate.
kept_programmes AS (
    SELECT pupil_key, unnest(arg_min(programme_idx, hash(pupil_key, programme_idx, $1), $2)) AS programme_idx
    FROM participants
    GROUP BY pupil_key
)
SELECT pupil_key, school_idx, term_idx, -1 AS programme_idx, possible, authorised, unauthorised, persistent
FROM bounded
UNION ALL
SELECT b.pupil_key, b.school_idx, b.term_idx, k.programme_idx, b.possible, b.authorised, b.unauthorised, b.persistent
FROM bounded b
JOIN kept_programmes k USING (pupil_key);
