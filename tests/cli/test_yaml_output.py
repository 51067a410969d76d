"""``-o yaml``: key order as the API gives it, every run the same, and text that other YAML readers
would take for another type quoted, one quote style throughout."""

from __future__ import annotations

import pytest
import yaml

from controller.models import Worker
from tests.cli.conftest import ok

pytestmark = pytest.mark.django_db(transaction=True)
AMBIGUOUS = {"bool": "true", "y": "y", "N": "N", "on": "on", "version": "1.4", "mode": "0755", "empty": ""}


def test_yaml_quotes_ambiguous_text_alike_and_keeps_key_order(hiclaw):
    worker = Worker.objects.get(name="solo")
    worker.labels = {**worker.labels, **{key.lower(): value for key, value in AMBIGUOUS.items() if value}}
    worker.save(update_fields=["labels"])
    text = ok(hiclaw("get", "worker", "solo", "-o", "yaml"))
    assert text == ok(hiclaw("get", "worker", "solo", "-o", "yaml"))  # stable from run to run
    assert [line.split(":")[0] for line in text.splitlines() if not line.startswith(" ")] == [
        "apiVersion",
        "kind",
        "metadata",
        "spec",
    ]
    # Keys too: a label named `y` or `on` would be a boolean key to those readers.
    for line in ("bool: 'true'", "'y': 'y'", "'n': 'N'", "'on': 'on'", "version: '1.4'", "mode: '0755'"):
        assert f"    {line}\n" in text  # single quotes, as PyYAML quotes every other ambiguous string
    assert yaml.safe_load(text)["metadata"]["labels"]["y"] == "y"
