"""Session fixtures that start the real services the tests use (DESIGN §13)."""
