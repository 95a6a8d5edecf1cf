-- Each attendance file's marks by outcome (and reason), for the run's counts:
-- file_id, outcome, failed, n. The marks set aside (quarantined_attendance,
-- resolved_attendance's duplicates) are few and counted as they are; every
-- other mark read is loaded. That the loaded ones reach the sessions table
-- is checked when they are loaded (ingest.Commit compares the rows inserted
-- with this count), so a mark cannot go missing between the two unnoticed.
WITH set_aside AS (
    SELECT file_id, 'quarantined' AS outcome, failed::VARCHAR AS failed, count(*) AS n
    FROM quarantined_attendance
    GROUP BY ALL
    UNION ALL
    SELECT file_id, 'duplicate', NULL, count(*)
    FROM resolved_attendance
    WHERE outcome = 'duplicate'::row_outcome
    GROUP BY ALL
),
read AS (
    SELECT file_id, count(*) AS n FROM attendance_codes GROUP BY ALL
)
SELECT file_id, outcome, failed, n FROM set_aside
UNION ALL
SELECT r.file_id, 'loaded', NULL, r.n - coalesce((SELECT sum(s.n) FROM set_aside s WHERE s.file_id = r.file_id), 0)
FROM read r
