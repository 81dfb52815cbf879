-- Intake's write model: each ticket's current state, folded from ticket.events.
CREATE TABLE tickets (
    id         text PRIMARY KEY,
    requester  text        NOT NULL,
    status     text        NOT NULL,
    version    integer     NOT NULL,
    state      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX tickets_requester ON tickets (requester);

-- Attachments, stored by content (sha256): the log carries only their reference.
CREATE TABLE attachments (
    sha256       text PRIMARY KEY,
    content_type text        NOT NULL,
    size         integer     NOT NULL,
    content      bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- HTTP Idempotency-Key of POST /tickets: a retried open returns the first ticket.
CREATE TABLE idempotency_keys (
    key        text PRIMARY KEY,
    ticket_id  text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
