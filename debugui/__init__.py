"""Everything a browser sees: the team-admin dashboard (docs/dashboard.md)."""
