-- Quarantined attendance rows: file, line, column, reason code and a plain-English
-- message, then the row's non-identifying fields, each shown only when it is an
-- expected code (dates only inside the configured terms: a date of birth
-- is a date too): a mis-mapped column can hold a
-- name or a number, so an unexpected value is never copied. Identifier
-- columns are never selected. Malformed rows
-- (wrong number of fields) come from the CSV reader's rejects.
SELECT f.file, q.line,
       coalesce(nullif(split_part(q.failed, ':', 2), ''), r.column_name) AS "column",
       split_part(q.failed, ':', 1) AS reason,
       r.message,
       shown(written_school, regexp_full_match(written_school, '[0-9]{6}')) AS school_urn,
       shown(session_date::VARCHAR, EXISTS (SELECT 1 FROM cfg_terms t WHERE session_date BETWEEN t.start_date AND t.end_date)) AS session_date,
       shown(written_session, written_session IN ('AM', 'PM')) AS session,
       shown(written_mark, written_mark IN (SELECT code FROM cfg_codes)) AS mark
FROM (
    -- School, session and mark as written (trimmed) for a row that failed a
    -- check, from its session mark's codes' raw values; a conflicting mark
    -- passed the checks, so its typed values are what was written (the URN
    -- stored as a number, six digits).
    SELECT c.file_id, c.line, c.failed, c.session_date,
           CASE WHEN c.failed <> 'conflicting_mark' THEN nullif(trim(ds.raw), '') ELSE lpad(c.school_urn::VARCHAR, 6, '0') END AS written_school,
           CASE WHEN c.failed <> 'conflicting_mark' THEN nullif(upper(trim(dse.raw)), '') ELSE c.session::VARCHAR END AS written_session,
           CASE WHEN c.failed <> 'conflicting_mark' THEN nullif(trim(dm.raw), '') ELSE c.mark::VARCHAR END AS written_mark
    FROM quarantined_attendance c
    LEFT JOIN attendance_dict ds ON ds.file_id = c.file_id AND ds.col = 'school_urn' AND ds.id = c.school_code
    LEFT JOIN attendance_dict dse ON dse.file_id = c.file_id AND dse.col = 'session' AND dse.id = c.session_code
    LEFT JOIN attendance_dict dm ON dm.file_id = c.file_id AND dm.col = 'mark' AND dm.id = c.mark_code
) q
JOIN staged_files f USING (file_id)
JOIN cfg_reasons r ON r.code = split_part(q.failed, ':', 1)
UNION ALL
SELECT m.file, m.line, m.column_name, 'malformed_row', r.message || ' (' || lower(m.error_type) || ')',
       NULL, NULL, NULL, NULL
FROM malformed m
JOIN cfg_reasons r ON r.code = 'malformed_row'
WHERE m.source = 'attendance'
ORDER BY 1, 2;
