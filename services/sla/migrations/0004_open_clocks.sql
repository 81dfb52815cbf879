-- /metrics counts the open clocks at risk and breached per priority every few seconds
-- (services.sla.figures): only open clocks are read, whatever the history's size.
CREATE INDEX IF NOT EXISTS clocks_open ON clocks (priority) WHERE stopped_at IS NULL;
