"""Intake: the only way in. Validates and decides commands, emits ticket events."""
