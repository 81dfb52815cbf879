-- The roster, folded from agent.events; `load` counts the open tickets an agent owns.
CREATE TABLE agents (
    id        text PRIMARY KEY,
    name      text    NOT NULL,
    email     text    NOT NULL,
    skills    text[]  NOT NULL,
    level     integer NOT NULL,
    capacity  integer NOT NULL,
    available boolean NOT NULL,
    load      integer NOT NULL DEFAULT 0 CHECK (load >= 0)
);

-- What routing knows of each ticket; `waiting_since` is set while it needs an owner.
CREATE TABLE tickets (
    id            text PRIMARY KEY,
    category      text        NOT NULL,
    priority      text        NOT NULL,
    level         integer     NOT NULL DEFAULT 1,
    owner         text REFERENCES agents (id),
    counted       boolean     NOT NULL DEFAULT false,  -- does it count in the owner's load?
    open          boolean     NOT NULL DEFAULT true,
    waiting_since timestamptz
);
CREATE INDEX tickets_waiting ON tickets (priority, waiting_since) WHERE waiting_since IS NOT NULL;
