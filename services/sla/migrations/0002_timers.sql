-- Business calendars, warnings, escalation: each clock keeps the targets and calendar it was
-- given, and every future moment SLA must act at is a row in `timers`, claimed with
-- FOR UPDATE SKIP LOCKED (several instances, restarts, nothing lost, nothing fired twice).
-- Rebuilt from the log: drop the old shape and forget the inbox, so the log is replayed.
DROP TABLE IF EXISTS clocks;
DELETE FROM inbox_offsets;
DELETE FROM inbox_events;

CREATE TABLE clocks (
    ticket_id           text PRIMARY KEY,
    priority            text        NOT NULL,
    targets_event_id    uuid        NOT NULL,
    calendar            text        NOT NULL,
    first_response_due  timestamptz NOT NULL,
    resolution_due      timestamptz NOT NULL,
    first_target        interval    NOT NULL,
    resolution_target   interval    NOT NULL,
    first_response_at   timestamptz,
    next_target         interval,              -- none: no periodic-update target
    next_response_due   timestamptz,           -- the next public update is due by then
    next_remaining      interval,              -- business time left on it while paused
    paused_at           timestamptz,
    remaining           interval,              -- business time left when paused or resolved
    stopped_at          timestamptz,
    first_breached      boolean     NOT NULL DEFAULT false,
    resolution_breached boolean     NOT NULL DEFAULT false,
    fired               text[]      NOT NULL DEFAULT '{}'  -- warnings and steps already emitted
);

-- What SLA knows of the ticket, for the escalation's reason.
CREATE TABLE tickets (
    id            text PRIMARY KEY,
    opened_at     timestamptz,
    language      text        NOT NULL DEFAULT 'es',
    owner         text,
    level         integer     NOT NULL DEFAULT 1,
    last_event    text        NOT NULL,
    last_event_at timestamptz NOT NULL,
    open          boolean     NOT NULL DEFAULT true
);

CREATE TABLE timers (
    ticket_id text        NOT NULL,
    kind      text        NOT NULL,  -- warn:<target>:<f> | breach:<target> | escalate:<n> | remind | autoresolve | autoclose
    due_at    timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, kind)
);
CREATE INDEX timers_due ON timers (due_at);
