-- Who shares a team with whom (folded from agent.events): the one access rule decides agents'
-- commands and downloads as it decides their reads.
CREATE TABLE roster (
    agent_id text PRIMARY KEY,
    teams    text[] NOT NULL DEFAULT '{}'
);
