-- Search's staff vector is now the requester's plus the internal notes, each text stemmed once
-- per language (services/projections/store.py, `_WORDS`): the same words, at half the cost.
-- Rows written before differ only where a ticket has internal notes (the notes' positions), and
-- are written again here, so a replay of the projections compares equal to the live views.
UPDATE ticket_words w
SET search_all = w.search_public
    || to_tsvector('spanish', t.conversation_internal) || to_tsvector('english', t.conversation_internal)
FROM tickets t
WHERE t.id = w.ticket_id AND t.conversation_internal <> '';
