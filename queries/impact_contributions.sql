-- Impact, step 3: the per-pupil contributions to the impact table's
-- differentially private sums, one row per pupil, programme and breakdown
-- cell, from impact_windows (impact_windows.sql gives every definition).
--
-- Measures, per pupil (the sums the release publishes noisy):
--   change_bp    post-window minus pre-window attendance rate, in hundredths
--                of a percentage point, clamped to [-max, max];
--   change_sq    its square (for the sampling variance), bounded likewise;
--   pa_change    persistent absentee after (1/0) minus before (1/0).
-- Breakdown cells: 'total' (every pupil), and 'fsm' (Y/N), 'sen' (N/K/E),
-- 'year_group' (the roster year group). A pupil whose value is unknown is in
-- no cell of that breakdown; cells the configuration does not list
-- (cfg_impact_breakdowns) join nothing, so partitions come from
-- configuration. Cells leave as cell_idx, their position in that list.
-- A pupil reaches one cell per breakdown per kept programme: at most
-- max_programmes_per_pupil x (1 + breakdowns) partitions per measure.
SELECT c.pupil_key, c.programme_idx, c.period_idx, b.cell_idx, c.participant, c.stratum, c.change_bp, c.change_sq, c.pa_change
FROM (
    SELECT pupil_key, programme_idx, period_idx, 'total' AS breakdown, 'Total' AS breakdown_value,
           participant, stratum, change_bp, change_sq, pa_change
    FROM impact_windows
    UNION ALL
    SELECT pupil_key, programme_idx, period_idx, 'fsm', CASE WHEN fsm THEN 'Y' ELSE 'N' END,
           participant, stratum, change_bp, change_sq, pa_change
    FROM impact_windows WHERE fsm IS NOT NULL
    UNION ALL
    SELECT pupil_key, programme_idx, period_idx, 'sen', sen,
           participant, stratum, change_bp, change_sq, pa_change
    FROM impact_windows WHERE sen IS NOT NULL
    UNION ALL
    SELECT pupil_key, programme_idx, period_idx, 'year_group', CAST(year_group AS VARCHAR),
           participant, stratum, change_bp, change_sq, pa_change
    FROM impact_windows WHERE year_group IS NOT NULL
) c
JOIN cfg_impact_breakdowns b ON b.breakdown = c.breakdown AND b.breakdown_value = c.breakdown_value
