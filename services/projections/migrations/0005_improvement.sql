-- Clause 12: the periodic audits, their findings and the improvement actions, folded from
-- workspace.events for the audits page (and the schedule's "is this period's review open?").
CREATE TABLE reviews (
    id          text PRIMARY KEY,
    period_from date        NOT NULL,
    period_to   date        NOT NULL,
    opened_at   timestamptz NOT NULL,
    scheduled   boolean     NOT NULL,
    opened_by   text        NOT NULL,
    sample      text[]      NOT NULL,
    seed        bigint      NOT NULL,
    figures     jsonb       NOT NULL
);
CREATE TABLE findings (
    id          text PRIMARY KEY,
    review_id   text,
    text        text        NOT NULL,
    tickets     text[]      NOT NULL,
    recorded_by text        NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX findings_review ON findings (review_id);
CREATE TABLE actions (
    id          text PRIMARY KEY,
    finding_id  text,
    what        text        NOT NULL,
    owner       text        NOT NULL,
    due         date        NOT NULL,
    tickets     text[]      NOT NULL,
    status      text        NOT NULL,
    planned_by  text        NOT NULL,
    planned_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    done_at     timestamptz            -- when it was last marked done
);
CREATE INDEX actions_finding ON actions (finding_id);
CREATE TABLE action_notes (
    action_id   text        NOT NULL,
    at          timestamptz NOT NULL,
    status      text        NOT NULL,
    note        text        NOT NULL,
    by          text        NOT NULL,
    event_id    uuid        PRIMARY KEY
);
CREATE INDEX action_notes_action ON action_notes (action_id, at);
