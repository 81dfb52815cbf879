-- Weighted load, tri-state availability, proficiency, languages, teams, shifts, queues.
-- Load changes meaning (weighted by priority), so routing's state is rebuilt from the log:
-- the tables are recreated empty and the inbox forgotten, and on start the consumers replay
-- ticket.events and agent.events from offset 0 as history (folded, nothing re-emitted).
DROP TABLE IF EXISTS tickets;
DROP TABLE IF EXISTS agents;
DELETE FROM inbox_offsets;
DELETE FROM inbox_events;

CREATE TABLE agents (
    id               text PRIMARY KEY,
    name             text        NOT NULL,
    email            text        NOT NULL,
    skills           text[]      NOT NULL,
    proficiency      jsonb       NOT NULL DEFAULT '{}',
    level            integer     NOT NULL,
    capacity         integer     NOT NULL,
    availability     text        NOT NULL,             -- online | away | offline
    languages        text[]      NOT NULL DEFAULT '{es}',
    teams            text[]      NOT NULL DEFAULT '{}',
    shift            jsonb,
    load             integer     NOT NULL DEFAULT 0 CHECK (load >= 0),  -- weighted
    open_count       integer     NOT NULL DEFAULT 0 CHECK (open_count >= 0),
    last_assigned_at timestamptz,
    away_since       timestamptz,                      -- left `online` at
    away_event_id    uuid,                             -- the event that made them leave
    removed          boolean     NOT NULL DEFAULT false
);

CREATE TABLE tickets (
    id                  text PRIMARY KEY,
    category            text        NOT NULL,
    priority            text        NOT NULL,
    weight              integer     NOT NULL,
    language            text        NOT NULL,
    level               integer     NOT NULL DEFAULT 1,
    owner               text,  -- no foreign key: agent.events and ticket.events are separate logs
    counted             boolean     NOT NULL DEFAULT false,  -- in the owner's load?
    open                boolean     NOT NULL DEFAULT true,
    waiting_on_customer boolean     NOT NULL DEFAULT false,
    waiting_since       timestamptz                          -- queued since (no owner)
);
CREATE INDEX tickets_queue ON tickets (level, priority, waiting_since) WHERE waiting_since IS NOT NULL;
CREATE INDEX tickets_owner ON tickets (owner) WHERE counted;
