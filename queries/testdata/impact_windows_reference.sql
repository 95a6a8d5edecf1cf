-- The plain definition of the impact windows in SQL (impact_windows.sql at
-- commit 01c017c), kept as the reference for
-- pipeline/impact_reference_test.go: rank every possible session of the year
-- by its distance from each index date. Not run by the pipeline, which finds
-- the windows in Go (impact_slots.sql, impact_sessions.sql, transforms/windows,
-- impact_windows.sql).
-- Impact, step 2: one row per pupil and programme with the pupil's pre and
-- post windows around an index date (temp table impact_windows).
--
-- Definitions (attendance measures are DfE's, over the window's sessions):
--   possible session      a half day coded P, AEA, AUTH or UNAUTH (holidays,
--                         weekends and not-possible codes do not count);
--   attendance rate       (P + AEA) / possible sessions;
--   persistent absentee   AUTH + UNAUTH >= 10% of the pupil's own possible
--                         sessions in the window;
--   index date            participants: their first attended session of the
--                         programme (impact_index_dates.sql); comparison
--                         pupils: a pseudo index date drawn from the noisy
--                         histogram of participants' index months
--                         (cfg_impact_months), by a salted hash;
--   pre window            the $3 (impact.window_sessions) possible sessions
--                         closest before the index date;
--   post window           the $3 possible sessions closest after it; sessions
--                         on the index date itself are in neither (the
--                         programme session may be before or after them);
--   baseline              every possible session before the pre window; its
--                         absence rate places the pupil in a band
--                         (cfg_impact_bands); fewer than $6 baseline sessions
--                         puts them in the last, "no baseline" band;
--   comparison pupil      a roster pupil with no participation (attended
--                         session or completion) in any configured programme;
--   stratum               baseline band x free school meals (FSM Y, or not
--                         Y: N and unknown together).
-- A pupil is kept when both windows hold at least $4
-- (impact.min_window_sessions) possible sessions and the index date lies in
-- a configured period (cfg_impact_periods).
-- Bounding, explicit and before noise: participants keep at most $2
-- programmes (chosen by the salted hash, as in step 1); each comparison
-- pupil serves at most $2 programmes, chosen the same way; so a pupil has at
-- most $2 rows. change_bp, the change in attendance rate in hundredths of a
-- percentage point, is clamped to [-$5, $5]; change_sq is its square (in
-- 1e-4 of a rate squared), so within [0, $5^2 / 10000]; pa_change is -1, 0
-- or 1.
CREATE OR REPLACE TEMP TABLE impact_windows AS
WITH participant_rows AS (
    SELECT pa.pupil_key, cp.idx AS programme_idx, min(pa.event_date) AS index_date
    FROM participation pa
    JOIN cfg_programmes cp ON cp.programme_id = pa.programme
    JOIN pupils p ON p.pupil_key = pa.pupil_key
    WHERE pa.attended AND pa.event IN ('session', 'completed')
    GROUP BY pa.pupil_key, cp.idx
),
participants AS (
    SELECT pupil_key, programme_idx, index_date, true AS participant
    FROM (
        SELECT *, row_number() OVER (PARTITION BY pupil_key ORDER BY hash(pupil_key, programme_idx, $1)) AS pick
        FROM participant_rows
    )
    WHERE pick <= $2
),
comparison_slots AS (
    SELECT pupil_key, programme_idx,
           hash(pupil_key, programme_idx, $1, 'month') / 18446744073709551616.0 AS u_month,
           hash(pupil_key, programme_idx, $1, 'day') / 18446744073709551616.0 AS u_day
    FROM (
        SELECT p.pupil_key, cp.idx AS programme_idx,
               row_number() OVER (PARTITION BY p.pupil_key ORDER BY hash(p.pupil_key, cp.idx, $1)) AS pick
        FROM pupils p
        CROSS JOIN cfg_programmes cp
        WHERE p.pupil_key NOT IN (SELECT pupil_key FROM participant_rows)
    )
    WHERE pick <= $2
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
),
possible AS (
    SELECT s.pupil_key, s.session_date, s.session, s.category
    FROM sessions s
    JOIN cfg_dates USING (session_date)
    WHERE s.category IN ('P', 'AEA', 'AUTH', 'UNAUTH')
),
ranked AS (
    -- distance orders sessions outwards from the index date: the closest
    -- session on each side has rank 1.
    SELECT sl.pupil_key, sl.programme_idx, sl.participant, sl.period_idx, s.category,
           s.session_date < sl.index_date AS before,
           row_number() OVER (
               PARTITION BY sl.pupil_key, sl.programme_idx, s.session_date < sl.index_date
               ORDER BY abs(2 * (s.session_date - sl.index_date) + CASE WHEN s.session = 'PM' THEN 1 ELSE 0 END)
           ) AS rk
    FROM slots sl
    JOIN possible s ON s.pupil_key = sl.pupil_key AND s.session_date <> sl.index_date
),
windows AS (
    SELECT pupil_key, programme_idx, participant, period_idx,
           count(*) FILTER (WHERE before AND rk <= $3) AS pre_possible,
           count(*) FILTER (WHERE before AND rk <= $3 AND category IN ('P', 'AEA')) AS pre_attended,
           count(*) FILTER (WHERE NOT before AND rk <= $3) AS post_possible,
           count(*) FILTER (WHERE NOT before AND rk <= $3 AND category IN ('P', 'AEA')) AS post_attended,
           count(*) FILTER (WHERE before AND rk > $3) AS base_possible,
           count(*) FILTER (WHERE before AND rk > $3 AND category IN ('AUTH', 'UNAUTH')) AS base_absent
    FROM ranked
    GROUP BY pupil_key, programme_idx, participant, period_idx
),
measured AS (
    SELECT w.*,
           CAST(round(10000 * (post_attended / post_possible - pre_attended / pre_possible)) AS BIGINT) AS raw_change_bp,
           CAST((post_possible - post_attended) * 10 >= post_possible AS INTEGER)
             - CAST((pre_possible - pre_attended) * 10 >= pre_possible AS INTEGER) AS pa_change,
           CASE WHEN base_possible >= $6 THEN base_absent / base_possible END AS base_absence
    FROM windows w
    WHERE pre_possible >= $4 AND post_possible >= $4
)
SELECT m.pupil_key, m.programme_idx, m.period_idx, m.participant,
       greatest(-$5, least($5, m.raw_change_bp)) AS change_bp,
       CAST(round(greatest(-$5, least($5, m.raw_change_bp)) ^ 2 / 10000) AS BIGINT) AS change_sq,
       CAST(m.pa_change AS BIGINT) AS pa_change,
       b.band_idx * 2 + CASE WHEN p.fsm THEN 1 ELSE 0 END AS stratum,
       p.fsm, p.sen, p.year_group
FROM measured m
JOIN pupils p USING (pupil_key)
JOIN cfg_impact_bands b
  ON (m.base_absence IS NULL AND b.no_baseline)
  OR (m.base_absence IS NOT NULL AND NOT b.no_baseline AND m.base_absence >= b.lower AND m.base_absence < b.upper)
