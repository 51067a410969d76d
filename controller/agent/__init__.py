"""The agent side: the reference worker the process backend runs (a stand-in for OpenClaw/CoPaw)."""
