-- Who has a ticket open in the workspace right now (staff only): not a fact of the log, so it
-- lives here, beside the knowledge base, where a replay of the projections never looks.
CREATE TABLE presence (
    ticket_id text        NOT NULL,
    viewer    text        NOT NULL,   -- role:sub
    name      text        NOT NULL,
    seen_at   timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, viewer)
);
CREATE INDEX presence_seen ON presence (seen_at);
