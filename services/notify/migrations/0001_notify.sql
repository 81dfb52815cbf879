-- What notify needs to address people, folded from ticket.events and agent.events.
CREATE TABLE tickets (
    id        text PRIMARY KEY,
    requester text NOT NULL,
    subject   text NOT NULL,
    language  text NOT NULL,
    owner     text
);
CREATE TABLE agents (
    id    text PRIMARY KEY,
    name  text NOT NULL,
    email text NOT NULL
);

-- One row per (event, recipient, channel): the key that makes a send happen once. Rendered when
-- queued, so a retry sends the same words; sent by the delivery loop with retries and backoff.
CREATE TABLE deliveries (
    event_id    uuid        NOT NULL,
    recipient   text        NOT NULL,
    channel     text        NOT NULL,
    ticket_id   text        NOT NULL,
    template    text        NOT NULL,
    subject     text        NOT NULL,
    body        text        NOT NULL,
    status      text        NOT NULL DEFAULT 'pending',  -- pending | sent | failed
    attempts    integer     NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL,
    last_error  text,
    sent_at     timestamptz,
    PRIMARY KEY (event_id, recipient, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE status = 'pending';
