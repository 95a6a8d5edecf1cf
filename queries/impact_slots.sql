-- Impact, step 2a: the slots, one row per pupil and programme whose windows
-- windowcounts.go measures: each participant at their index date, and
-- each comparison pupil at a pseudo index date (temp table impact_slots).
-- Participants come from impact_participants, impact_index_dates.sql's rows
-- as step 1 kept them (pipeline.stageParticipants).
--
-- Definitions:
--   index date            participants: their first attended session of the
--                         programme (impact_index_dates.sql); comparison
--                         pupils: a pseudo index date drawn from the noisy
--                         histogram of participants' index months
--                         (cfg_impact_months), by a salted hash;
--   comparison pupil      a roster pupil with no participation (attended
--                         session or completion) in any configured programme,
--                         whose roster school and year group are among those
--                         where the programme runs (cfg_impact_cells, from
--                         the programme's configured schools and year_groups;
--                         NULL there matches any).
-- Only index dates in a configured period (cfg_impact_periods) make a slot.
-- Bounding, explicit and before noise: participants keep at most $2
-- programmes (chosen by the salted hash $1 in step 1); every participant
-- keeps at least one (max_programmes_per_pupil is at least 1), so
-- impact_participants names every pupil a comparison must exclude. Each
-- comparison pupil serves at most $2 programmes, chosen the same way; so a
-- pupil has at most $2 slots.
WITH participants AS (
    SELECT pupil_key, programme_idx, index_date, true AS participant
    FROM impact_participants
),
comparison_slots AS (
    SELECT pupil_key, programme_idx,
           hash(pupil_key, programme_idx, $1, 'month') / 18446744073709551616.0 AS u_month,
           hash(pupil_key, programme_idx, $1, 'day') / 18446744073709551616.0 AS u_day
    -- The $2 with the smallest salted hashes, as in impact_index_dates.sql.
    FROM (
        SELECT p.pupil_key, unnest(arg_min(ce.programme_idx, hash(p.pupil_key, ce.programme_idx, $1), $2)) AS programme_idx
        FROM pupils p
        JOIN cfg_impact_cells ce
          ON coalesce(ce.school_urn, p.school_urn) = p.school_urn
         AND coalesce(ce.year_group, p.year_group) = p.year_group
        WHERE p.pupil_key NOT IN (SELECT pupil_key FROM impact_participants)
        GROUP BY p.pupil_key
    )
),
comparison AS (
    SELECT c.pupil_key, c.programme_idx,
           CAST(m.month_start + CAST(floor(c.u_day * m.month_days) AS INTEGER) AS DATE) AS index_date,
           false AS participant
    FROM comparison_slots c
    JOIN cfg_impact_months m ON m.programme_idx = c.programme_idx AND c.u_month >= m.cum_lo AND c.u_month < m.cum_hi
),
slots AS (
    SELECT i.*, pr.period_idx
    FROM (SELECT * FROM participants UNION ALL SELECT * FROM comparison) i
    JOIN cfg_impact_periods pr ON i.index_date BETWEEN pr.start_date AND pr.end_date
)
SELECT pupil_key, programme_idx, participant, period_idx, index_date
FROM slots
