-- A ticket's timers live on its row: the kinds, their moments and the next of them, indexed.
-- As rows of their own they cost eight inserts, eight index entries and an aggregate to read
-- back for every ticket opened (issue 22); the loop only ever asks "which tickets are due".
-- Timers of a ticket SLA holds no row for were never fired (the loop dropped them): not moved.
ALTER TABLE tickets
    ADD COLUMN timer_kinds text[]        NOT NULL DEFAULT '{}',  -- sorted; the same place in timer_dues
    ADD COLUMN timer_dues  timestamptz[] NOT NULL DEFAULT '{}',
    ADD COLUMN next_due    timestamptz;                          -- the earliest of timer_dues
UPDATE tickets t SET timer_kinds = tm.kinds, timer_dues = tm.dues, next_due = tm.next
FROM (SELECT ticket_id, array_agg(kind ORDER BY kind) AS kinds, array_agg(due_at ORDER BY kind) AS dues,
             min(due_at) AS next
      FROM timers GROUP BY ticket_id) tm
WHERE tm.ticket_id = t.id;
DROP TABLE timers;
CREATE INDEX tickets_next_due ON tickets (next_due) WHERE next_due IS NOT NULL;
