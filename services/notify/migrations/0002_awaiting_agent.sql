-- agent.events and ticket.events are separate logs: an assignment may be read before the
-- agent's registration. Its mail waits here until notify knows the agent's address.
CREATE TABLE awaiting_agent (
    event_id  uuid PRIMARY KEY,
    agent_id  text NOT NULL,
    ticket_id text NOT NULL,
    reason    text NOT NULL
);
CREATE INDEX awaiting_agent_by_agent ON awaiting_agent (agent_id);
