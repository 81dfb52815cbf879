-- The relay's flush mark. Consumers commit asynchronously (what they wrote can be replayed from
-- the log), so a row they put in the outbox may be visible before it is on disk. Before the relay
-- publishes such rows it commits one write here synchronously: WAL is flushed in order, so every
-- commit it could see is durable first, and nothing reaches the log that a crash could take back.
CREATE TABLE IF NOT EXISTS relay_flush (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    n  bigint  NOT NULL DEFAULT 0
);
INSERT INTO relay_flush(id, n) VALUES (true, 0) ON CONFLICT DO NOTHING;
