-- Read models, folded from the log. Never written by anything but the projection consumers.
CREATE TABLE tickets (
    id                 text PRIMARY KEY,
    requester          text        NOT NULL,
    subject            text        NOT NULL,
    description        text        NOT NULL,
    status             text        NOT NULL,
    category           text        NOT NULL,
    priority           text        NOT NULL,
    owner              text,
    level              integer     NOT NULL,
    version            integer     NOT NULL,
    state              jsonb       NOT NULL,   -- shared.ticket.Ticket, the agreed status machine
    opened_at          timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    first_response_due timestamptz,
    resolution_due     timestamptz,
    first_response_at  timestamptz,
    sla_state          text,                   -- running | paused | met | breached
    breached           text[]      NOT NULL DEFAULT '{}',
    feedback_rating    integer,
    feedback_comment   text
);
CREATE INDEX tickets_requester ON tickets (requester, opened_at DESC);
CREATE INDEX tickets_owner ON tickets (owner, status);
CREATE INDEX tickets_status ON tickets (status, opened_at DESC);

CREATE TABLE timeline (
    ticket_id text        NOT NULL,
    seq       integer     NOT NULL,
    event_id  uuid        NOT NULL UNIQUE,
    type      text        NOT NULL,
    time      timestamptz NOT NULL,
    source    text        NOT NULL,
    actor     text        NOT NULL,
    data      jsonb       NOT NULL,
    PRIMARY KEY (ticket_id, seq)
);

CREATE TABLE agents (
    id        text PRIMARY KEY,
    name      text    NOT NULL,
    email     text    NOT NULL,
    skills    text[]  NOT NULL,
    level     integer NOT NULL,
    capacity  integer NOT NULL,
    available boolean NOT NULL
);
