-- Which ticket shows which attachment (and whether only staff see it, in an internal note):
-- a download is allowed to whoever may read that ticket, never by the hash alone.
CREATE TABLE attachment_refs (
    ticket_id text    NOT NULL,
    sha256    text    NOT NULL,
    internal  boolean NOT NULL,
    PRIMARY KEY (ticket_id, sha256, internal)
);
