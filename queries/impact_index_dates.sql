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
SELECT pupil_key, programme_idx, index_date
FROM (
    SELECT *, row_number() OVER (PARTITION BY pupil_key ORDER BY hash(pupil_key, programme_idx, $1)) AS pick
    FROM participants
)
WHERE pick <= $2
ORDER BY programme_idx, index_date
