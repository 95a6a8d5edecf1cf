-- Sessions: one row per pupil, date and session with the kept mark.
INSERT INTO sessions
SELECT pupil_key, session_date, session, mark, category
FROM checked_attendance
WHERE outcome = 'loaded';
