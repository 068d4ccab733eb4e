DELETE FROM event_alerts WHERE alert LIKE 'complaint.%';
DELETE FROM events WHERE subject_type = 'complaint';
ALTER TABLE events DROP CONSTRAINT events_subject_type_check;
ALTER TABLE events ADD CONSTRAINT events_subject_type_check
    CHECK (subject_type IN ('ticket', 'loan', 'pickup', 'stock_level', 'part', 'store'));
DROP TABLE complaint_remedies;
DROP TABLE complaint_events;
DROP TABLE complaints;
