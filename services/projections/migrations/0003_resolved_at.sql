-- When a ticket was (last) resolved: resolution times for the dashboard and reports.
ALTER TABLE tickets ADD COLUMN resolved_at timestamptz;
UPDATE tickets t SET resolved_at = (
    SELECT max(time) FROM timeline WHERE ticket_id = t.id AND type = 'ticket.resolved'
) WHERE status IN ('resolved', 'closed');
CREATE INDEX tickets_opened ON tickets (opened_at);
