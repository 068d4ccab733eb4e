DROP INDEX events_occurred;
