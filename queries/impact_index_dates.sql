-- Impact, step 1: each participant's index date per programme, the input to
-- the differentially private histogram of index months from which the
-- comparison group's pseudo index dates are drawn.
--
-- Definitions:
--   participant   a roster pupil with at least one linked record of the
--                 programme with event 'session' or 'completed' and
--                 attended Y (as in contributions.sql);
--   index date    the date of the pupil's first such record: their first
--                 attended session (a completion is after every session, so
--                 it is the index date only when no session is recorded as
--                 attended).
-- Bounding, explicit and before noise: each pupil keeps at most $2
-- (max_programmes_per_pupil) programmes, chosen at random by a hash salted
-- with the release's salt ($1), never by a data value; one row per pupil and
-- kept programme.
WITH participants AS (
    SELECT pa.pupil_key, cp.idx AS programme_idx, min(pa.event_date) AS index_date
    FROM participation pa
    JOIN cfg_programmes cp ON cp.programme_id = pa.programme
    JOIN pupils p ON p.pupil_key = pa.pupil_key
    WHERE pa.attended AND pa.event IN ('session', 'completed')
    GROUP BY pa.pupil_key, cp.idx
)
-- The $2 programmes with the smallest salted hashes: arg_min keeps them as a
-- row_number window ordered by the hash would (contributions.sql says why),
-- as neither the hash nor the kept values can be NULL.
SELECT pupil_key, kept.programme_idx AS programme_idx, kept.index_date AS index_date
FROM (
    SELECT pupil_key, unnest(arg_min({'programme_idx': programme_idx, 'index_date': index_date},
                                     hash(pupil_key, programme_idx, $1), $2)) AS kept
    FROM participants
    GROUP BY pupil_key
)
ORDER BY programme_idx, index_date
