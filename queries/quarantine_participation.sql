-- Quarantined participation rows: file, line, column, reason code and a plain-English
-- message, then the row's non-identifying fields, each shown only when it is an
-- expected code (dates only inside the configured terms: a date of birth
-- is a date too): a mis-mapped column can hold a
-- name or a number, so an unexpected value is never copied. Identifier
-- columns are never selected. Malformed rows
-- (wrong number of fields) come from the CSV reader's rejects.
SELECT q.file, q.line,
       coalesce(nullif(split_part(q.failed, ':', 2), ''), r.column_name) AS "column",
       split_part(q.failed, ':', 1) AS reason,
       r.message,
       shown(programme, programme IN (SELECT programme_id FROM cfg_programmes)) AS programme,
       shown(event_date::VARCHAR, EXISTS (SELECT 1 FROM cfg_terms t WHERE event_date BETWEEN t.start_date AND t.end_date)) AS event_date,
       shown(event, event IN ('referral', 'session', 'completed')) AS event
FROM checked_participation q
JOIN cfg_reasons r ON r.code = split_part(q.failed, ':', 1)
WHERE q.outcome = 'quarantined'
UNION ALL
SELECT m.file, m.line, m.column_name, 'malformed_row', r.message || ' (' || lower(m.error_type) || ')',
       NULL, NULL, NULL
FROM malformed m
JOIN cfg_reasons r ON r.code = 'malformed_row'
WHERE m.source = 'participation'
ORDER BY 1, 2;
