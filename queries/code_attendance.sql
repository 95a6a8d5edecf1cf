-- Codes the attendance rows staged as text (raw_attendance: irregular CSV
-- files, wide files and Parquet files) as the rows of regular CSV files are
-- coded while read (pipeline/ingest/codes.go), so validate_attendance.sql
-- reads one form: attendance_dict gets each file's distinct raw values per
-- column, numbered from 1, plus code 0 with raw NULL for an empty field;
-- attendance_session_marks and attendance_codes as below (ingest/codes.go
-- says why session marks).
INSERT INTO attendance_dict
SELECT file_id, col, 0, NULL
FROM (SELECT DISTINCT file_id FROM raw_attendance)
CROSS JOIN (VALUES ('school_urn'), ('upn'), ('session_date'), ('session'), ('mark')) c(col)
UNION ALL
SELECT file_id, col, (row_number() OVER (PARTITION BY file_id, col ORDER BY raw))::INTEGER, raw
FROM (
    SELECT DISTINCT file_id, 'school_urn' AS col, school_urn AS raw FROM raw_attendance WHERE school_urn IS NOT NULL
    UNION ALL SELECT DISTINCT file_id, 'upn', upn FROM raw_attendance WHERE upn IS NOT NULL
    UNION ALL SELECT DISTINCT file_id, 'session_date', session_date FROM raw_attendance WHERE session_date IS NOT NULL
    UNION ALL SELECT DISTINCT file_id, 'session', session FROM raw_attendance WHERE session IS NOT NULL
    UNION ALL SELECT DISTINCT file_id, 'mark', mark FROM raw_attendance WHERE mark IS NOT NULL
);

-- Each distinct session mark (the codes of school, date, session and mark)
-- is numbered per file, from 1, and each row keeps its line, the code of its
-- UPN and the number of its session mark.
CREATE OR REPLACE TEMP TABLE coded_raw_attendance AS
SELECT r.file_id, r.line, coalesce(s.id, 0) AS school_urn, coalesce(u.id, 0) AS upn, coalesce(d.id, 0) AS session_date,
       coalesce(se.id, 0) AS session, coalesce(m.id, 0) AS mark
FROM raw_attendance r
LEFT JOIN (SELECT file_id, id, raw FROM attendance_dict WHERE col = 'school_urn') s ON s.file_id = r.file_id AND s.raw = r.school_urn
LEFT JOIN (SELECT file_id, id, raw FROM attendance_dict WHERE col = 'upn') u ON u.file_id = r.file_id AND u.raw = r.upn
LEFT JOIN (SELECT file_id, id, raw FROM attendance_dict WHERE col = 'session_date') d ON d.file_id = r.file_id AND d.raw = r.session_date
LEFT JOIN (SELECT file_id, id, raw FROM attendance_dict WHERE col = 'session') se ON se.file_id = r.file_id AND se.raw = r.session
LEFT JOIN (SELECT file_id, id, raw FROM attendance_dict WHERE col = 'mark') m ON m.file_id = r.file_id AND m.raw = r.mark;

INSERT INTO attendance_session_marks
SELECT file_id, (row_number() OVER (PARTITION BY file_id ORDER BY school_urn, session_date, session, mark))::INTEGER,
       school_urn, session_date, session, mark
FROM (SELECT DISTINCT file_id, school_urn, session_date, session, mark FROM coded_raw_attendance);

-- Lines are INTEGERs in attendance_codes (pipeline/ingest/codes.go); a file
-- with more lines was refused when it was staged.
INSERT INTO attendance_codes
SELECT c.file_id, c.line::INTEGER, c.upn, sm.id
FROM coded_raw_attendance c
JOIN attendance_session_marks sm USING (file_id, school_urn, session_date, session, mark);

DROP TABLE coded_raw_attendance;
