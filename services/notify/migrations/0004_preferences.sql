-- What a requester asked for: their language, and whether they want periodic status updates.
-- (Messages that need an answer are always sent.)
CREATE TABLE preferences (
    requester        text PRIMARY KEY,
    language         text,
    periodic_updates boolean NOT NULL DEFAULT true
);
