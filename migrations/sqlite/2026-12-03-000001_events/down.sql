DROP TABLE event_consumers;
DROP TABLE events;
