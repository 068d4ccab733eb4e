-- Lists and look-ups that grow with the data (seen at a million tickets). Each index serves a query both with the
-- values at hand and as PostgreSQL's generic plan of the prepared statement: the filter's columns come first and
-- the list's order (id, the cursor) last, so the plan is an index range read in order, whatever the values.
-- A ticket's pickups: read by every ticket view, tracking view and part reservation.
CREATE INDEX pickups_ticket ON pickups (ticket_id, id);
-- Tickets by status across stores (GET /tickets?status=...).
CREATE INDEX tickets_status ON tickets (status, id);
-- The audit log by entity type (GET /audit-log?entity_type=...).
CREATE INDEX audit_log_type ON audit_log (entity_type, id);
-- The audit log of one record, with or without its type (GET /audit-log?entity_id=...).
CREATE INDEX audit_log_record ON audit_log (entity_id, id);
-- Loans by state across stores (waiting, overdue), and the loans of a store or of a key's stores.
CREATE INDEX loans_state ON loans (state, id);
CREATE INDEX loans_store ON loans (store_id, id);
-- A partner's pickups in list order, and those changed since a time.
CREATE INDEX pickups_partner_list ON pickups (partner_id, id);
CREATE INDEX pickups_partner_updated ON pickups (partner_id, updated_at);
-- Pickups by status across partners (an admin's view of the courier list).
CREATE INDEX pickups_status ON pickups (status, id);
-- Stock movements of a location, of a part, or of one stock level, in list order (the ledger check sums by level
-- through the last one too, so it replaces the index by level and time).
DROP INDEX stock_movements_level;
CREATE INDEX stock_movements_level ON stock_movements (location_id, part_id, id);
CREATE INDEX stock_movements_location ON stock_movements (location_id, id);
CREATE INDEX stock_movements_part ON stock_movements (part_id, id);
