DROP TABLE event_alerts;
DROP TABLE event_consumers;
DROP TABLE events;
