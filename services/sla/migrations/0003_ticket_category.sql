-- The ticket's category, for its auto-close wait (clause 7: a per-category setting). Tickets
-- known before it have none and wait the policy's default.
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS category text;
