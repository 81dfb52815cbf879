-- Mailin keeps no state of its own: its outbox (shared migrations) carries the requests.
SELECT 1;
