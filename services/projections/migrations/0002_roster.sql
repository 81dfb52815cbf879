-- The roster gains tri-state availability, languages, teams, proficiency, and removals.
ALTER TABLE agents ADD COLUMN availability text NOT NULL DEFAULT 'online';
UPDATE agents SET availability = CASE WHEN available THEN 'online' ELSE 'offline' END;
ALTER TABLE agents DROP COLUMN available;
ALTER TABLE agents ADD COLUMN languages text[] NOT NULL DEFAULT '{es}';
ALTER TABLE agents ADD COLUMN teams text[] NOT NULL DEFAULT '{}';
ALTER TABLE agents ADD COLUMN proficiency jsonb NOT NULL DEFAULT '{}';
ALTER TABLE agents ADD COLUMN removed boolean NOT NULL DEFAULT false;
-- ticket.queued: when a ticket started waiting for an owner
ALTER TABLE tickets ADD COLUMN queued_at timestamptz;
