-- Each partition's current head, beside the chain (issue 22). Finding it was a walk down the
-- chain's index for every record, and the quiet-log checkpoint scanned the whole chain (a cost
-- that grew with history); now the chain is written once per batch and its head with it.
CREATE TABLE heads (
    topic     text    NOT NULL,
    partition integer NOT NULL,
    "offset"  bigint  NOT NULL,
    head      bytea   NOT NULL,
    PRIMARY KEY (topic, partition)
);
INSERT INTO heads(topic, partition, "offset", head)
SELECT DISTINCT ON (topic, partition) topic, partition, "offset", head FROM chain
ORDER BY topic, partition, "offset" DESC;
