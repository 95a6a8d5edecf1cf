-- impact: each programme's change in attendance rate from the six school
-- weeks before each participant's first session to the six after, for
-- participants and for the matched comparison group, and the difference
-- (difference-in-differences), in percentage points with 95% intervals that
-- cover sampling and noise. The impact table is trust level only, so
-- $school gives no rows; $programme narrows to one programme id.
SELECT time_period, time_identifier, programme, breakdown, breakdown_value,
       participants, comparison_pupils,
       participants_change, participants_change_lower95, participants_change_upper95,
       comparison_change, comparison_change_lower95, comparison_change_upper95,
       difference, difference_lower95, difference_upper95
FROM impact
WHERE $school IS NULL
  AND ($programme IS NULL OR programme_id = $programme)
ORDER BY programme, time_period, time_identifier, breakdown <> 'Total', breakdown, breakdown_value;
