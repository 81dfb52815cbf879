-- Macros and custom field definitions as last saved (intake decides with them; workspace.events
-- tells everyone else), and the roster's names (a macro's {{agent.name}}).
CREATE TABLE macros (
    id      text PRIMARY KEY,
    owner   text,            -- the agent of a personal macro; NULL: shared
    payload jsonb NOT NULL   -- the macro.saved event's data
);
CREATE TABLE field_defs (
    id      text PRIMARY KEY,
    payload jsonb NOT NULL   -- the field.defined event's data
);
ALTER TABLE roster ADD COLUMN name text;
