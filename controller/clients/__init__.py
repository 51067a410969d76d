"""Adapters to the outside world: Matrix, object storage and the AI gateway."""
