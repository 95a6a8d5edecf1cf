-- Quarantined participation rows: file, line, column, reason code and a plain-English
-- message, then the row's non-identifying fields passed through
-- mask_identifiers. Identifier columns are never selected. Malformed rows
-- (wrong number of fields) come from the CSV reader's rejects.
SELECT q.file, q.line,
       coalesce(nullif(split_part(q.failed, ':', 2), ''), r.column_name) AS "column",
       split_part(q.failed, ':', 1) AS reason,
       r.message,
       mask_identifiers(programme) AS programme, event_date, event
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
