-- schools: each school's attendance and overall absence rates, all pupils,
-- term by term. Overall absence rate = (authorised + unauthorised absence) /
-- possible sessions (DfE). $school narrows to one school URN; $programme is
-- not used.
SELECT time_period, time_identifier, school_urn, school_name, pupils,
       attendance_rate, attendance_rate_lower95, attendance_rate_upper95, overall_absence_rate
FROM attendance
WHERE geographic_level = 'School' AND programme_id = 'total'
  AND ($school IS NULL OR school_urn = $school)
  AND ($programme IS NULL OR $programme IS NOT NULL)
ORDER BY school_urn, time_period,
         CASE time_identifier WHEN 'Autumn term' THEN 1 WHEN 'Spring term' THEN 2 ELSE 3 END;
