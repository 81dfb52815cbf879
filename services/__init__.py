"""Mesa's services, each its own process: `python -m services.<name>`."""
