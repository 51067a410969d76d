"""The REST API (DRF) used by agents, the ``hiclaw`` CLI and dashboard sessions."""
