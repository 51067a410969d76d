"""Session fixture for synapse (filled in with its client)."""
