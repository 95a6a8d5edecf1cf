-- Quarantined roster rows: file, line, column, reason code and a plain-English
-- message, then the row's non-identifying fields, each shown only when it is an
-- expected code (dates only when they parse): a mis-mapped column can hold a
-- name or a number, so an unexpected value is never copied. Identifier
-- columns are never selected. Malformed rows
-- (wrong number of fields) come from the CSV reader's rejects.
SELECT q.file, q.line,
       coalesce(nullif(split_part(q.failed, ':', 2), ''), r.column_name) AS "column",
       split_part(q.failed, ':', 1) AS reason,
       r.message,
       shown(school_urn, regexp_full_match(school_urn, '[0-9]{6}')) AS school_urn, year_group,
       shown(sen, sen IN ('N', 'K', 'E')) AS sen, shown(gender, gender IN ('F', 'M', 'U', 'X')) AS gender
FROM checked_roster q
JOIN cfg_reasons r ON r.code = split_part(q.failed, ':', 1)
WHERE q.outcome = 'quarantined'
UNION ALL
SELECT m.file, m.line, m.column_name, 'malformed_row', r.message || ' (' || lower(m.error_type) || ')',
       NULL, NULL, NULL, NULL
FROM malformed m
JOIN cfg_reasons r ON r.code = 'malformed_row'
WHERE m.source = 'roster'
ORDER BY 1, 2;
