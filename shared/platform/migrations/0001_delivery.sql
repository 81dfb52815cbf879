-- The delivery contract's tables, created in every service's own schema.

-- Inbox, part 1: the next offset to consume per (consumer, topic, partition). Written in the same
-- transaction as the state change the records caused; consumers seek here on assignment.
-- `history_end`: the partition's end offset when this consumer first met it. Records below it
-- are history (a replay, or a service joining an existing log): folded into state, never acted
-- on again (no new events, no emails).
CREATE TABLE IF NOT EXISTS inbox_offsets (
    consumer    text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    history_end bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer, topic, partition)
);

-- Inbox, part 2: event ids already applied, so the same event at another offset is a no-op.
CREATE TABLE IF NOT EXISTS inbox_events (
    consumer   text        NOT NULL,
    event_id   uuid        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Outbox: records to publish, inserted with the state change; the relay sends them in id order
-- and deletes what the broker acknowledged.
CREATE TABLE IF NOT EXISTS outbox (
    id         bigserial PRIMARY KEY,
    topic      text        NOT NULL,
    key        bytea,
    value      bytea,
    headers    jsonb       NOT NULL DEFAULT '[]',
    event_id   uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);
