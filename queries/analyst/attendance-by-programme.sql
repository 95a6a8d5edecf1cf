-- attendance-by-programme: attendance rate of each programme's participants
-- and of the other pupils, term by term, with the 95% interval for the noise.
-- Attendance rate = (present + approved educational activity) / possible
-- sessions (DfE). Trust level unless $school names a school URN; $programme
-- narrows to one programme id.
SELECT time_period, time_identifier, geographic_level, school_urn, programme, pupil_group,
       pupils, attendance_rate, attendance_rate_lower95, attendance_rate_upper95
FROM attendance
WHERE programme_id <> 'total'
  AND (CASE WHEN $school IS NULL THEN geographic_level = 'MAT' ELSE school_urn = $school END)
  AND ($programme IS NULL OR programme_id = $programme)
ORDER BY programme, pupil_group, time_period,
         CASE time_identifier WHEN 'Autumn term' THEN 1 WHEN 'Spring term' THEN 2 ELSE 3 END;
