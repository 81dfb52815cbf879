-- Clause 12: audits, findings and improvement actions as last recorded (intake decides with them:
-- a review opened once per period, an action moved on by its owner; workspace.events tells
-- everyone else).
CREATE TABLE improvements (
    kind    text NOT NULL CHECK (kind IN ('review', 'finding', 'action')),
    id      text NOT NULL,
    payload jsonb NOT NULL,  -- the event that made it
    owner   text,            -- an action's
    status  text,            -- an action's
    PRIMARY KEY (kind, id)
);
