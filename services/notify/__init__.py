"""Notify: tells people what happened to their tickets, by email, once per event and recipient."""
