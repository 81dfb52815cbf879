-- A claim passes over a ticket (else a recipient) that has a message on its way (`sending` under a
-- lease that has not run out), so two notify instances never send one ticket's messages at once,
-- out of order. The rows on their way are few: a small index finds them by group.
CREATE INDEX deliveries_on_their_way ON deliveries (ticket_id, recipient) WHERE status = 'sending';
