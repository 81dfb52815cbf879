-- Files other systems upload ahead of the command that shows them (a mail's attachments, sent by
-- mailin): who uploaded which, so only they may show it on a ticket, within an hour.
CREATE TABLE uploads (
    sha256   text        NOT NULL,
    uploader text        NOT NULL,  -- the service's id (its token's sub)
    at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sha256, uploader)
);
CREATE INDEX uploads_at ON uploads (at);
