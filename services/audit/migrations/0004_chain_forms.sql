-- Where each partition's chain changed canonical form (services/audit/chain.py): its links from
-- `since` on digest form `form`; a partition without a row here was chained in form 1 throughout.
-- Written in the same transaction as the first link of that form, so a verifier reads the chain
-- as it was made. Editing it makes `mesa audit verify` report the links it moves.
CREATE TABLE chain_forms (
    topic     text     NOT NULL,
    partition integer  NOT NULL,
    form      smallint NOT NULL,
    since     bigint   NOT NULL,
    PRIMARY KEY (topic, partition, form)
);
