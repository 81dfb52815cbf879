-- A fold of ticket.events that notices any duplicate or reordering: `chain` hashes the event ids
-- of one ticket in the order they were applied.
CREATE TABLE ledger (
    ticket_id text PRIMARY KEY,
    events    integer NOT NULL,
    chain     text    NOT NULL
);

-- The ledger's own acknowledgements, as it consumed them back: `seen` must stay 1.
CREATE TABLE acks (
    event_id uuid PRIMARY KEY,
    cause    text    NOT NULL,
    seen     integer NOT NULL
);
