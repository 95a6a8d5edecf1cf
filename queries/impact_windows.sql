-- Impact, step 2: one row per pupil and programme with the pupil's pre and
-- post windows around an index date (temp table impact_windows), for the
-- pupils of one batch ((pupil_key % $8 + $8) % $8 = $9, which is in
-- [0, $8) whatever the key's sign; a hash() there took three times as long):
-- impact.go runs it batch by batch, so memory follows the batch, not the
-- region (a pupil's rows depend on that pupil's records alone, so batches
-- never interact).
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
--                         session or completion) in any configured programme,
--                         whose roster school and year group are among those
--                         where the programme runs (cfg_impact_cells, from
--                         the programme's configured schools and year_groups;
--                         NULL there matches any);
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
        SELECT p.pupil_key, ce.programme_idx,
               row_number() OVER (PARTITION BY p.pupil_key ORDER BY hash(p.pupil_key, ce.programme_idx, $1)) AS pick
        FROM pupils p
        JOIN cfg_impact_cells ce
          ON coalesce(ce.school_urn, p.school_urn) = p.school_urn
         AND coalesce(ce.year_group, p.year_group) = p.year_group
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
    WHERE (i.pupil_key % $8 + $8) % $8 = $9
),
possible AS (
    SELECT s.pupil_key, s.session_date, s.session, s.category
    FROM sessions s
    JOIN cfg_dates USING (session_date)
    WHERE s.category IN ('P', 'AEA', 'AUTH', 'UNAUTH') AND (s.pupil_key % $8 + $8) % $8 = $9
),
-- Each slot's possible sessions before and after its index date, and the
-- absences before it: the baseline is what precedes the pre window.
sides AS (
    SELECT sl.pupil_key, sl.programme_idx,
           count(*) FILTER (WHERE s.session_date < sl.index_date) AS before_possible,
           count(*) FILTER (WHERE s.session_date < sl.index_date AND s.category IN ('AUTH', 'UNAUTH')) AS before_absent,
           count(*) FILTER (WHERE s.session_date > sl.index_date) AS after_possible
    FROM slots sl
    JOIN possible s ON s.pupil_key = sl.pupil_key
    GROUP BY sl.pupil_key, sl.programme_idx
),
-- Ranking every session of the year by its distance from the index date is
-- the expensive step, so it first ranks only sessions within $7 days of it
-- (impact.go sets the radius well beyond a window's usual span). Ranks are
-- by distance outwards, so within the radius they equal the full ranks; a
-- side is complete when it has $3 sessions within the radius or no
-- sessions beyond it. Slots with an incomplete side are ranked again over
-- the whole year (pupils with long absences, not-possible codes or
-- holidays inside a window): the result is the same as ranking every
-- session (testdata/impact_windows_reference.sql), which
-- impact_ranking_test.go checks. The two passes aggregate separately so the
-- near pass is read once.
near AS (
    SELECT sl.pupil_key, sl.programme_idx, sl.participant, sl.period_idx, s.category,
           s.session_date < sl.index_date AS before,
           row_number() OVER (
               PARTITION BY sl.pupil_key, sl.programme_idx, s.session_date < sl.index_date
               ORDER BY session_distance(s.session_date, s.session, sl.index_date)
           ) AS rk
    FROM slots sl
    JOIN possible s ON s.pupil_key = sl.pupil_key AND s.session_date <> sl.index_date
     AND s.session_date BETWEEN sl.index_date - CAST($7 AS INTEGER) AND sl.index_date + CAST($7 AS INTEGER)
),
near_windows AS (
    SELECT n.*,
           (n.pre_possible < $3 AND sd.before_possible > n.pre_possible)
             OR (n.post_possible < $3 AND sd.after_possible > n.post_possible) AS incomplete,
           sd.before_possible, sd.before_absent
    FROM (
        SELECT pupil_key, programme_idx, participant, period_idx,
               count(*) FILTER (WHERE before AND rk <= $3) AS pre_possible,
               count(*) FILTER (WHERE before AND rk <= $3 AND category IN ('P', 'AEA')) AS pre_attended,
               count(*) FILTER (WHERE before AND rk <= $3 AND category IN ('AUTH', 'UNAUTH')) AS pre_absent,
               count(*) FILTER (WHERE NOT before AND rk <= $3) AS post_possible,
               count(*) FILTER (WHERE NOT before AND rk <= $3 AND category IN ('P', 'AEA')) AS post_attended
        FROM near
        GROUP BY pupil_key, programme_idx, participant, period_idx
    ) n
    JOIN sides sd USING (pupil_key, programme_idx)
),
-- Slots with no session at all within the radius are not in near_windows:
-- they too are ranked over the whole year.
far_slots AS (
    SELECT sl.*
    FROM slots sl
    LEFT JOIN near_windows n USING (pupil_key, programme_idx)
    WHERE n.pupil_key IS NULL OR n.incomplete
),
far AS (
    SELECT sl.pupil_key, sl.programme_idx, sl.participant, sl.period_idx, s.category,
           s.session_date < sl.index_date AS before,
           row_number() OVER (
               PARTITION BY sl.pupil_key, sl.programme_idx, s.session_date < sl.index_date
               ORDER BY session_distance(s.session_date, s.session, sl.index_date)
           ) AS rk
    FROM far_slots sl
    JOIN possible s ON s.pupil_key = sl.pupil_key AND s.session_date <> sl.index_date
),
windows AS (
    SELECT pupil_key, programme_idx, participant, period_idx, pre_possible, pre_attended, post_possible, post_attended,
           before_possible - pre_possible AS base_possible,
           before_absent - pre_absent AS base_absent
    FROM near_windows
    WHERE NOT incomplete
    UNION ALL
    SELECT pupil_key, programme_idx, participant, period_idx,
           count(*) FILTER (WHERE before AND rk <= $3) AS pre_possible,
           count(*) FILTER (WHERE before AND rk <= $3 AND category IN ('P', 'AEA')) AS pre_attended,
           count(*) FILTER (WHERE NOT before AND rk <= $3) AS post_possible,
           count(*) FILTER (WHERE NOT before AND rk <= $3 AND category IN ('P', 'AEA')) AS post_attended,
           count(*) FILTER (WHERE before AND rk > $3) AS base_possible,
           count(*) FILTER (WHERE before AND rk > $3 AND category IN ('AUTH', 'UNAUTH')) AS base_absent
    FROM far
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
