-- A service center's address and phone, as its work orders and the customer's papers print them. Keep in step with
-- the other engine's migration and src/db/schema.rs.
ALTER TABLE stores ADD COLUMN address TEXT CHECK (address IS NULL OR length(address) BETWEEN 1 AND 300);
ALTER TABLE stores ADD COLUMN phone TEXT CHECK (phone IS NULL OR length(phone) BETWEEN 1 AND 40);
