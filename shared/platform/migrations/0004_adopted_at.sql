-- When a consumer first met each partition. With `history_end`, it says whether a service's
-- state was folded from a log that had history when it joined (a rebuild, a new deployment),
-- and since when: what such a state cannot know happened before then (notify's digests, which
-- are not in the log) is not done again. Rows that exist take the time of this migration.
ALTER TABLE inbox_offsets ADD COLUMN IF NOT EXISTS adopted_at timestamptz NOT NULL DEFAULT now();
