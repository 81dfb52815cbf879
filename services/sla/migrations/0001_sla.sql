-- One SLA clock per ticket, folded from ticket.events. Due rows are picked by the timer loop with
-- FOR UPDATE SKIP LOCKED, so several SLA instances share the work and a restart loses no timer.
CREATE TABLE clocks (
    ticket_id           text PRIMARY KEY,
    priority            text        NOT NULL,
    targets_event_id    uuid        NOT NULL,
    first_response_due  timestamptz NOT NULL,
    resolution_due      timestamptz NOT NULL,
    first_response_at   timestamptz,
    paused_at           timestamptz,
    stopped_at          timestamptz,
    first_breached      boolean     NOT NULL DEFAULT false,
    resolution_breached boolean     NOT NULL DEFAULT false
);
CREATE INDEX clocks_first_due ON clocks (first_response_due)
    WHERE first_response_at IS NULL AND NOT first_breached AND stopped_at IS NULL;
CREATE INDEX clocks_resolution_due ON clocks (resolution_due)
    WHERE NOT resolution_breached AND stopped_at IS NULL AND paused_at IS NULL;
