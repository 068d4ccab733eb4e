-- A partner's open pickups, in list order ("open first" in the partner's list). The list walked the partner's
-- index by id and threw away its whole history of final pickups before reaching an open one; this index holds the
-- open ones only. Its predicate is written exactly as the query's (constants, not parameters), so that the plan of
-- the prepared statement, generic or not, can use it.
CREATE INDEX pickups_partner_open ON pickups (partner_id, id)
    WHERE status NOT IN ('delivered', 'failed', 'cancelled');
-- Their final ones, for the list's second part, the same way.
CREATE INDEX pickups_partner_final ON pickups (partner_id, id)
    WHERE status IN ('delivered', 'failed', 'cancelled');
-- Pickups of one status that have a partner, in list order (an admin's courier list with a status): the list's
-- `partner_id IS NOT NULL` is a constant predicate, so this index serves it whole.
CREATE INDEX pickups_assigned_status ON pickups (status, id) WHERE partner_id IS NOT NULL;
-- A store's tickets of one status, and its loans of one state, in list order: the store's index alone walks the
-- store's whole history to find the few that are, say, received or waiting.
CREATE INDEX tickets_store_status ON tickets (store_id, status, id);
CREATE INDEX loans_store_state ON loans (store_id, state, id);
