"""Projections: read models built from ticket.events and agent.events, and the query API."""
