-- Requesters' data keys (crypto-shredding, shared.keyring). Deleting a row erases the person:
-- their pseudonym no longer leads to them and what was sealed with the key cannot be opened.
CREATE TABLE requesters (
    ref         text PRIMARY KEY,               -- the pseudonym events carry (R-...)
    sub         text NOT NULL UNIQUE,           -- their sign-in id
    wrapped_key bytea NOT NULL,                 -- AES-256 data key, AES-GCM under the master key
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- That an erasure happened (never who it was): for auditors.
CREATE TABLE erasures (
    ref       text PRIMARY KEY,
    erased_at timestamptz NOT NULL,
    erased_by text NOT NULL,
    reason    text NOT NULL,
    tickets   text[] NOT NULL
);
