"""Everything a browser sees: the team-admin dashboard and the DebugWorker workspace browser."""
