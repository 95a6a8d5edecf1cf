-- Participation: every loaded record, linked (pupil_key set, with the match
-- key it linked on) or not (conflicting, ambiguous or unmatched records keep
-- no key and contribute nothing).
INSERT INTO participation
SELECT programme, pupil_key, CASE WHEN pupil_key IS NOT NULL THEN linked_by END,
       event_date, event, attended
FROM checked_participation
WHERE outcome = 'loaded';
