-- New pupils' surrogate keys, kept for later runs.
INSERT INTO pupil_keys
SELECT upn_token, pupil_key
FROM staged_pupils
WHERE new_pupil;
