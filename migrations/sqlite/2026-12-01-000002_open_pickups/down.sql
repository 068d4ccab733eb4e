DROP INDEX loans_store_state;
DROP INDEX tickets_store_status;
DROP INDEX pickups_assigned_status;
DROP INDEX pickups_partner_final;
DROP INDEX pickups_partner_open;
