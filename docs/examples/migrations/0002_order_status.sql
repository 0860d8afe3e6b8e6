-- Several statements in one file are fine: the whole run is one transaction (so no BEGIN / COMMIT here).
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN ('new', 'paid', 'shipped'));
CREATE INDEX orders_status ON orders (status);
