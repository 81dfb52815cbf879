-- The hash chain of each partition of ticket.events, one row per offset, in log order.
CREATE TABLE chain (
    topic     text    NOT NULL,
    partition integer NOT NULL,
    "offset"  bigint  NOT NULL,
    digest    bytea   NOT NULL,   -- SHA-256 of the record's canonical form
    head      bytea   NOT NULL,   -- SHA-256(previous head || digest)
    PRIMARY KEY (topic, partition, "offset")
);

-- Signed chain heads, also published on audit.checkpoints.
CREATE TABLE checkpoints (
    topic     text        NOT NULL,
    partition integer     NOT NULL,
    "offset"  bigint      NOT NULL,
    head      bytea       NOT NULL,
    time      text        NOT NULL,
    signature bytea       NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
