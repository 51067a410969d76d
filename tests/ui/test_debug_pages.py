"""The workspace browser's page, fragments and job form with the Django test client."""

from __future__ import annotations

import pytest

from controller.clients.storage import get_storage
from controller.models import AuditRecord, DebugJob
from controller.services.workspace_browser import VIEW_LIMIT
from tests.ui.debug_browser import NAME

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


def fragment(client, target: str, path: str, area: str = "workspace"):
    return client.get(f"/debug/{NAME}/workspaces/file/", {"area": area, "target": target, "path": path})


def test_the_detail_page_links_the_browser_for_those_who_may_use_it(login_client, debugworker):
    assert f"/debug/{NAME}/workspaces/" in login_client("root").get(f"/debug/{NAME}/").content.decode()
    # alice sees the DebugWorker of her team, but allowedUsers does not name her.
    page = login_client("alice").get(f"/debug/{NAME}/")
    assert page.status_code == 200 and "workspaces/" not in page.content.decode()


def test_a_login_allowedusers_names_finds_the_debugworker_and_others_do_not(login_client, debugworker):
    carol = login_client("carol")
    assert f'/debug/{NAME}/workspaces/"' in carol.get("/").content.decode()  # no team: listed on the start page
    assert f"/debug/{NAME}/" in carol.get("/debug/").content.decode()
    assert carol.get(f"/debug/{NAME}/").status_code == 200
    bob = login_client("bob")
    assert NAME not in bob.get("/debug/").content.decode() and NAME not in bob.get("/").content.decode()
    assert bob.get(f"/debug/{NAME}/").status_code == 404


def test_an_admin_and_an_allowed_user_see_both_workspaces(login_client, debugworker):
    for login in ("root", "carol"):
        html = login_client(login).get(f"/debug/{NAME}/workspaces/").content.decode()
        for name in ('data-source-target="a-dev"', 'data-source-target="a-qa"', "notes.md", "log.txt", "report.md"):
            assert name in html
        assert "secret.txt" not in html and 'data-source-target="a-ops"' not in html


def test_files_are_shown_by_kind(login_client, debugworker):
    client = login_client("carol")
    markdown = fragment(client, "a-dev", "notes.md").content.decode()
    assert "<h1>Notes</h1>" in markdown and "&lt;script&gt;" in markdown and "<script>" not in markdown
    assert 'href="javascript:' not in markdown
    assert "&quot;a&quot;: [\n    1," in fragment(client, "a-dev", "state.json").content.decode()
    binary = fragment(client, "a-dev", "blob.bin").content.decode()
    assert "Binary file, 256 bytes" in binary
    assert fragment(client, "a-dev", "gone.txt").status_code == 404


def test_an_agents_credentials_are_not_shown(login_client, debugworker):
    get_storage().put(
        "agents/a-dev/openclaw.json", b'{"gateway": {"apiKey": "gw-0123456789abcdef", "url": "http://gw"}}'
    )
    shown = fragment(login_client("carol"), "a-dev", "openclaw.json").content.decode()
    assert "http://gw" in shown and "gw-0123456789abcdef" not in shown


def test_a_large_file_is_cut_with_a_notice(login_client, debugworker):
    # "é" is 2 bytes: after the one-byte "x", the cut falls in the middle of one.
    get_storage().put("agents/a-qa/big.log", b"x" + "é".encode() * VIEW_LIMIT)
    answer = fragment(login_client("carol"), "a-qa", "big.log").content.decode()
    assert "Only the first 256.0\xa0KB of this 512.0\xa0KB file are shown." in answer
    assert "é" * 1000 in answer and "Binary" not in answer


def test_a_job_is_started_through_the_policy_and_followed(
    login_client, debugworker, django_capture_on_commit_callbacks
):
    client = login_client("carol")
    refused = client.post(f"/debug/{NAME}/jobs/", {"kind": "report", "hours": 0}, **JSON)
    assert refused.status_code == 400 and refused.json()["field"] == "hours"
    refused = client.post(f"/debug/{NAME}/jobs/", {"kind": "report", "hours": 2, "worker": "a-ops"}, **JSON)
    assert refused.status_code == 400 and refused.json()["field"] == "worker"
    assert not DebugJob.objects.exists()

    answer = client.post(f"/debug/{NAME}/jobs/", {"kind": "report", "hours": 2, "worker": "a-qa"}, **JSON)
    assert answer.status_code == 200, answer.content
    job = DebugJob.objects.get()
    assert (job.kind, job.hours, job.worker, job.requested_by) == ("report", 2, "a-qa", "none:carol")
    assert AuditRecord.objects.filter(action="debug:report", target_name=NAME).exists()
    assert answer.json()["url"] == f"/debug/{NAME}/jobs/{job.pk}/"

    DebugJob.objects.filter(pk=job.pk).update(
        state="Done", progress=100, outputs=[f"debug/{NAME}/output/a-qa.md", "elsewhere/x.md"]
    )
    html = client.get(answer.json()["url"]).content.decode()
    assert "Done" in html and "data-finished" in html
    assert "?area=output&amp;target=output&amp;path=a-qa.md" in html
    assert "elsewhere/x.md" in html and "path=x.md" not in html  # a key outside its outputs is not a link

    # Without JavaScript the form posts and comes back to the page.
    plain = client.post(f"/debug/{NAME}/jobs/", {"kind": "export", "hours": 1})
    assert plain.status_code == 302 and plain.url == f"/debug/{NAME}/workspaces/"
    assert client.get(f"/debug/{NAME}/jobs/{'0' * 32}/").status_code == 404
