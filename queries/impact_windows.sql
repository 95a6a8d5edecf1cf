-- Impact, step 2c: one row per slot (impact_slots.sql) with the change in
-- attendance between the pupil's pre and post windows (temp table
-- impact_windows). windowcounts.go has found the windows and counted
-- their sessions into impact_window_counts; this applies the thresholds,
-- the clamps and the strata.
--
-- Definitions (attendance measures are DfE's, over the window's sessions):
--   possible session      a half day coded P, AEA, AUTH or UNAUTH on a date
--                         of a configured term (summarise_sessions.sql);
--   attendance rate       (P + AEA) / possible sessions;
--   persistent absentee   AUTH + UNAUTH >= 10% of the pupil's own possible
--                         sessions in the window;
--   pre window            the impact.window_sessions possible sessions
--                         closest before the index date (pre_possible of
--                         them, pre_attended attended);
--   post window           the same number closest after it; sessions on the
--                         index date itself are in neither (the programme
--                         session may be before or after them);
--   baseline              every possible session before the pre window
--                         (base_possible, base_absent absent); its absence
--                         rate places the pupil in a band (cfg_impact_bands);
--                         fewer than $3 baseline sessions puts them in the
--                         last, "no baseline" band;
--   stratum               baseline band x free school meals (FSM Y, or not
--                         Y: N and unknown together).
-- A slot is kept when both windows hold at least $1
-- (impact.min_window_sessions) possible sessions.
-- Bounding, explicit and before noise: a pupil has at most
-- max_programmes_per_pupil slots (impact_slots.sql), so as many rows here.
-- change_bp, the change in attendance rate in hundredths of a percentage
-- point, is clamped to [-$2, $2]; change_sq is its square (in 1e-4 of a
-- rate squared), so within [0, $2^2 / 10000]; pa_change is -1, 0 or 1.
WITH measured AS (
    SELECT w.*,
           CAST(round(10000 * (post_attended / post_possible - pre_attended / pre_possible)) AS BIGINT) AS raw_change_bp,
           CAST((post_possible - post_attended) * 10 >= post_possible AS INTEGER)
             - CAST((pre_possible - pre_attended) * 10 >= pre_possible AS INTEGER) AS pa_change,
           CASE WHEN base_possible >= $3 THEN base_absent / base_possible END AS base_absence
    FROM impact_window_counts w
    WHERE pre_possible >= $1 AND post_possible >= $1
)
SELECT m.pupil_key, m.programme_idx, m.period_idx, m.participant,
       greatest(-$2, least($2, m.raw_change_bp)) AS change_bp,
       CAST(round(greatest(-$2, least($2, m.raw_change_bp)) ^ 2 / 10000) AS BIGINT) AS change_sq,
       CAST(m.pa_change AS BIGINT) AS pa_change,
       b.band_idx * 2 + CASE WHEN p.fsm THEN 1 ELSE 0 END AS stratum,
       p.fsm, p.sen, p.year_group
FROM measured m
JOIN pupils p USING (pupil_key)
JOIN cfg_impact_bands b
  ON (m.base_absence IS NULL AND b.no_baseline)
  OR (m.base_absence IS NOT NULL AND NOT b.no_baseline AND m.base_absence >= b.lower AND m.base_absence < b.upper)
