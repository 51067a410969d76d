"""Session fixture for docker (filled in with its client)."""
