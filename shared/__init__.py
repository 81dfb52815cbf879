"""What every Mesa service shares: `shared.domain` (the vocabulary of tickets: events, commands,
the fold, privacy, the access rule, texts) and `shared.platform` (how a service runs: Kafka, inbox,
outbox, database, settings, auth, signing). Nothing here imports `services` or `ops`."""
