-- Crypto-shredding: the ledger's key names a requester by pseudonym (requester:R-...), as the
-- notification events do; their address is kept beside it until they are erased.
ALTER TABLE tickets ADD COLUMN requester_ref text;
ALTER TABLE deliveries ADD COLUMN address text;
UPDATE deliveries SET address = recipient WHERE channel = 'email';
