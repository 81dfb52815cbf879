"""Operators' tools (`mesa`): topics, tokens, keys, replay, dead letters, audit, demo data.

Ops may import services (to replay them); services never import ops."""
