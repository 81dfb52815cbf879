"""Routing: one owner per ticket, by skill, level, availability and load."""
