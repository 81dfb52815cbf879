-- The agent's workspace: tags, the order number, merges and links, and full-text search over
-- what was written (Spanish and English stems). Two indexes of the words: what the requester may
-- read (subject, description, the public conversation) and everything (internal notes too), so
-- a requester's search never tells them what an internal note says.
ALTER TABLE tickets
    ADD COLUMN tags                  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN order_id              text,
    ADD COLUMN merged_into           text,
    ADD COLUMN conversation_public   text   NOT NULL DEFAULT '',
    ADD COLUMN conversation_internal text   NOT NULL DEFAULT '';

UPDATE tickets SET
    tags = ARRAY(SELECT jsonb_array_elements_text(coalesce(state->'tags', '[]'::jsonb))),
    order_id = state->>'order_id',
    merged_into = state->>'merged_into';

-- the conversation as the fold writes it: the parts in order, one per line, the first 60,000 characters
UPDATE tickets t SET conversation_public = coalesce((
    SELECT left(string_agg(part, E'\n' ORDER BY seq), 60000) FROM (
        SELECT seq, coalesce(data->>'body', data->>'question', data->>'summary', data->>'reason') AS part
        FROM timeline
        WHERE ticket_id = t.id AND (
            (type = 'ticket.commented' AND NOT coalesce((data->>'internal')::boolean, false))
            OR type IN ('ticket.customer_replied', 'ticket.info_requested', 'ticket.resolved',
                        'ticket.reopened', 'ticket.resolution_rejected'))
    ) p WHERE part <> ''), ''),
    conversation_internal = coalesce((
    SELECT left(string_agg(data->>'body', E'\n' ORDER BY seq), 60000) FROM timeline
    WHERE ticket_id = t.id AND type = 'ticket.commented' AND coalesce((data->>'internal')::boolean, false)
      AND data->>'body' <> ''), '')
WHERE NOT coalesce((state->>'erased')::boolean, false);

ALTER TABLE tickets
    ADD COLUMN search_public tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('spanish', subject), 'A') || setweight(to_tsvector('english', subject), 'A')
        || to_tsvector('spanish', description || E'\n' || conversation_public)
        || to_tsvector('english', description || E'\n' || conversation_public)
    ) STORED,
    ADD COLUMN search_all tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('spanish', subject), 'A') || setweight(to_tsvector('english', subject), 'A')
        || to_tsvector('spanish', description || E'\n' || conversation_public || E'\n' || conversation_internal)
        || to_tsvector('english', description || E'\n' || conversation_public || E'\n' || conversation_internal)
    ) STORED;

CREATE INDEX tickets_search_public ON tickets USING gin (search_public);
CREATE INDEX tickets_search_all ON tickets USING gin (search_all);
CREATE INDEX tickets_tags ON tickets USING gin (tags);
CREATE INDEX tickets_order ON tickets (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX tickets_updated ON tickets (updated_at DESC, id);
-- what falls due next (the first response until given, then the resolution; none: last): the
-- console's order, kept as a column so its first page is an index walk, not a sort
ALTER TABLE tickets ADD COLUMN next_due_at timestamptz GENERATED ALWAYS AS (
    coalesce(CASE WHEN first_response_at IS NULL THEN least(first_response_due, resolution_due)
             ELSE resolution_due END, 'infinity'::timestamptz)
) STORED;
CREATE INDEX tickets_next_due ON tickets (next_due_at, id);
CREATE INDEX tickets_merged ON tickets (merged_into) WHERE merged_into IS NOT NULL;

-- Related tickets, both ways: a link named on one ticket is read from either.
CREATE TABLE ticket_links (
    ticket_id text NOT NULL,
    other     text NOT NULL,
    PRIMARY KEY (ticket_id, other)
);

-- Macros and custom fields (workspace.events), and each ticket's field values (opened text).
CREATE TABLE macros (
    id      text PRIMARY KEY,
    owner   text,            -- the agent of a personal macro; NULL: shared
    name    text  NOT NULL,
    payload jsonb NOT NULL
);
CREATE TABLE field_defs (
    id      text PRIMARY KEY,
    payload jsonb NOT NULL
);
CREATE TABLE ticket_fields (
    ticket_id text NOT NULL,
    field     text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (ticket_id, field)
);
CREATE INDEX ticket_fields_value ON ticket_fields (field, value);
