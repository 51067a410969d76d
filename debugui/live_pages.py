"""Which WebSocket each dashboard page listens on: one table for every page.

A page is live when ``page_context`` finds its URL name here; its template does
nothing for it (base.html puts the path on ``<body data-live>``, static/hiclaw/live.js
connects). Keeping the table in one place is what makes a new page live, or
deliberately not: tests/ui/test_live_pages.py fails for a dashboard page that is in
neither ``LIVE_PAGES`` nor ``STATIC_PAGES``.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.http import HttpRequest

from debugui import queries

# URL name -> socket path; ``{name}`` is the page's own ``name`` argument.
LIVE_PAGES = {
    "overview": "/ws/overview/",
    "team": "/ws/teams/{name}/",
    "workers": "/ws/workers/",
    "worker": "/ws/workers/{name}/",
    "debugworkers": "/ws/debugworkers/",
    "debugworker": "/ws/debugworkers/{name}/",
    "managers": "/ws/managers/",
    "manager": "/ws/managers/{name}/",
    "humans": "/ws/humans/",
    "upgrades": "/ws/upgrades/",
}
# A DebugWorker's workspaces (a socket of their own, debugui.workspace_consumer), its file
# and job fragments, and the fragments the live pages fetch.
STATIC_PAGES = {
    "debug-workspaces",
    "debug-file",
    "debug-job",
    "worker-row",
    "worker-events",
    "worker-heartbeats",
    "team-events",
    "debugworker-row",
    "manager-row",
    "human-row",
}


def live_path(request: HttpRequest) -> str:
    """The socket path of the page ``request`` asks for, "" when it has none."""
    match = request.resolver_match
    if match is None or match.url_name not in LIVE_PAGES:
        return ""
    template = LIVE_PAGES[match.url_name]
    path = template.format(name=quote(str(match.kwargs.get("name", "")), safe=""))
    filters = queries.list_filter(request.META.get("QUERY_STRING", "")) if match.url_name == "workers" else {}
    return f"{path}?{urlencode(filters)}" if filters else path
