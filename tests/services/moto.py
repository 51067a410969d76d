"""Session fixture for moto (filled in with its client)."""
