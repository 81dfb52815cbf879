"""The vocabulary of tickets, pure: events, commands, the fold, privacy, the access rule, texts."""
