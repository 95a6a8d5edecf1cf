-- Participation: every loaded record, linked (pupil_key set) or not. A
-- conflicting link is stored unlinked so it contributes nothing.
INSERT INTO participation
SELECT programme, pupil_key, CASE WHEN linked_by = 'conflict' THEN NULL ELSE linked_by END,
       event_date, event, attended
FROM checked_participation
WHERE outcome = 'loaded';
