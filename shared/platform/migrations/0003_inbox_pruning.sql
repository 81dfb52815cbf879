-- The inbox forgets applied event ids in the order it learnt them (shared.platform.inbox_pruning).
CREATE INDEX IF NOT EXISTS inbox_events_by_age ON inbox_events (consumer, applied_at);
