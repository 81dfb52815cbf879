-- The agents' daily digest needs each ticket's status and resolution due time.
ALTER TABLE tickets ADD COLUMN state jsonb;            -- shared.ticket.Ticket, the agreed status machine
ALTER TABLE tickets ADD COLUMN resolution_due timestamptz;
CREATE INDEX tickets_owner ON tickets (owner);
