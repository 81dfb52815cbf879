-- Idempotency keys are the caller's own (stored as "<role>:<sub>\n<key>"), and a key remembers
-- the request it was first used with: the same key with another request is refused (422).
ALTER TABLE idempotency_keys ADD COLUMN request_hash text;
