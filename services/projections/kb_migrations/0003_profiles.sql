-- Each person's own settings (the zone times are shown in, the language): theirs, not a fact of
-- the log, so they live beside the knowledge base, where a replay never looks.
CREATE TABLE profiles (
    who        text PRIMARY KEY,     -- role:sub
    timezone   text,                 -- NULL: the browser's
    language   text,                 -- NULL: the browser's
    updated_at timestamptz NOT NULL
);
