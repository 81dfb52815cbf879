"""How a Mesa service runs: Kafka bus, inbox, outbox, database, settings, auth, signing, HTTP guard."""
