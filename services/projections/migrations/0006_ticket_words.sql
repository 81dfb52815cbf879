-- Search's words in a table of their own (issue 22). As generated columns of `tickets`, both
-- vectors were computed again on every event, so a status change stemmed the description and
-- the whole conversation again in two languages, and every row version added entries to two GIN
-- indexes: about half of PostgreSQL's time under a sale-day load. They are now written when the
-- words change (services/projections/store.py, `save_words`), with the same expressions.
CREATE TABLE ticket_words (
    ticket_id     text     PRIMARY KEY,
    search_public tsvector NOT NULL,
    search_all    tsvector NOT NULL
);
INSERT INTO ticket_words(ticket_id, search_public, search_all) SELECT id, search_public, search_all FROM tickets;
DROP INDEX tickets_search_public;
DROP INDEX tickets_search_all;
ALTER TABLE tickets DROP COLUMN search_public, DROP COLUMN search_all;
CREATE INDEX ticket_words_public ON ticket_words USING gin (search_public);
CREATE INDEX ticket_words_all ON ticket_words USING gin (search_all);
