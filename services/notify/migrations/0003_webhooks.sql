-- Webhook subscriptions of other internal systems: notify's own configuration, not a fold.
CREATE TABLE webhook_subscriptions (
    id           text PRIMARY KEY,
    url          text        NOT NULL,
    secret       text        NOT NULL,
    event_types  text[]      NOT NULL,              -- exact types, or '*' for every ticket event
    active       boolean     NOT NULL DEFAULT true,
    failures     integer     NOT NULL DEFAULT 0,    -- deliveries given up in a row
    paused_reason text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
