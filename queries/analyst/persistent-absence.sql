-- persistent-absence: pupils missing 10% or more of their own possible
-- sessions in the term (DfE's persistent absence), as a count and a rate of
-- the term's pupils, for all pupils and each programme's groups. Trust level
-- unless $school names a school URN; $programme narrows to one programme id.
SELECT time_period, time_identifier, geographic_level, school_urn, programme, pupil_group,
       pupils, persistent_absentees, persistent_absence_rate,
       persistent_absence_rate_lower95, persistent_absence_rate_upper95
FROM attendance
WHERE (CASE WHEN $school IS NULL THEN geographic_level = 'MAT' ELSE school_urn = $school END)
  AND ($programme IS NULL OR programme_id = $programme OR programme_id = 'total')
ORDER BY programme_id = 'total' DESC, programme, pupil_group, time_period,
         CASE time_identifier WHEN 'Autumn term' THEN 1 WHEN 'Spring term' THEN 2 ELSE 3 END;
