-- The delivery loop claims rows that are due and pending, or sending under a lease that ran out.
-- The index of 0001 covered 'pending' alone, so every claim scanned the whole ledger, which grows
-- with every mail ever sent: its cost rose with history (issue 22).
DROP INDEX IF EXISTS deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE status IN ('pending', 'sending');
