"""The one library every Mesa service uses: events, Kafka bus, inbox, outbox, database, settings."""
