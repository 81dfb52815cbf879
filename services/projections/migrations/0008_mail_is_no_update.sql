-- A mail sent (or given up) is no longer an update of the ticket for its list's "updated"
-- (services/projections/domain.py, UNSEEN): recomputed from the timeline, so a replay compares
-- equal to the rows folded before. And room on each page (fillfactor), so an update that changes
-- no indexed column (a mail sent, half of a ticket's events) stays on its page and writes none of
-- the table's indexes again (HOT).
ALTER TABLE tickets SET (fillfactor = 80);

UPDATE tickets t SET updated_at = s.at
FROM (
    SELECT ticket_id, max(time) AS at FROM timeline
    WHERE type NOT IN ('notification.sent', 'notification.failed')
    GROUP BY ticket_id
) s
WHERE s.ticket_id = t.id AND t.updated_at <> s.at;
