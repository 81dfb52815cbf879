-- Who read which ticket, folded from audit.access (the log is the record; this is for queries).
CREATE TABLE access_reads (
    event_id  uuid        PRIMARY KEY,
    ticket_id text        NOT NULL,
    reader    text        NOT NULL,   -- role:id
    via       text        NOT NULL,   -- api | page
    at        timestamptz NOT NULL
);
CREATE INDEX access_reads_ticket ON access_reads (ticket_id, at);
CREATE INDEX access_reads_reader ON access_reads (reader, at);
