"""Ask the controller to export this DebugWorker's Matrix messages (or write its report).

Standard library only. Reads HICLAW_CONTROLLER_URL, HICLAW_AGENT_TOKEN and
HICLAW_DEBUG_WORKER_NAME from the environment, calls
``POST /api/v1/debugworkers/<name>/export?hours=N`` (``--report``: ``/report``)
and prints the controller's answer; ``--files`` lists what was written so far.
The token is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 30


def call(method: str, path: str) -> dict:
    url = os.environ["HICLAW_CONTROLLER_URL"].rstrip("/") + path
    # The URL is the controller's, from the environment the controller set.
    request = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)  # noqa: S310
    request.add_header("Authorization", f"Bearer {os.environ['HICLAW_AGENT_TOKEN']}")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
        return json.loads(response.read() or b"{}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=24, help="how far back to look (default 24)")
    parser.add_argument("--report", action="store_true", help="write the markdown debug report instead")
    parser.add_argument("--files", action="store_true", help="only list the exports and reports written so far")
    args = parser.parse_args(argv)
    name = urllib.parse.quote(os.environ["HICLAW_DEBUG_WORKER_NAME"], safe="")
    base = f"/api/v1/debugworkers/{name}"
    try:
        if args.files:
            answer = call("GET", f"{base}/files")
        else:
            answer = call("POST", f"{base}/{'report' if args.report else 'export'}?hours={args.hours}")
    except urllib.error.HTTPError as error:
        print(f"the controller refused: {error.code} {error.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as error:
        print(f"the controller did not answer: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
