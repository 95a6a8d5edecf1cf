-- Sessions: one row per pupil, date and session with the kept mark, tagged
-- with the attendance file it came from so a changed file can replace its rows.
INSERT INTO sessions
SELECT file_id, pupil_key, school_urn, session_date, session, mark, category
FROM loaded_attendance;
