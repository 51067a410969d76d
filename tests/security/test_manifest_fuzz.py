"""Property-based fuzzing of manifest reading: whatever text or decoded document arrives, the
parser and validator answer with the project's validation error (``ManifestInvalid``) or
valid documents, never another exception, and each input costs a bounded time.

Repeatable and quick: derandomized, a fixed number of examples, no example database.
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any

import pytest
import yaml
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.manifests import ManifestInvalid, parse, parse_objects
from controller.manifests.schema import SPEC_SHAPES
from controller.services.apply import apply_documents

# A fuzz run: it belongs to the full suite, not to the fast tier.
pytestmark = pytest.mark.slow

# Per input, in CPU seconds of the reading thread (wall time would also count whatever else
# the machine runs): validation of a few kilobytes takes milliseconds, so this only catches
# blow-ups. Hypothesis's own deadline is wall time, so it is off.
BOUND = 1.0
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Pieces of YAML syntax, manifest vocabulary and values that YAML resolves to non-strings.
TOKENS = [
    *"{}[],:-?|>!&*'\"#%@`\t\n ",
    "\n  ",
    "\n- ",
    "---\n",
    "...\n",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "!!binary ",
    "!!python/object ",
    "!!set ",
    "!!omap ",
    "apiVersion: hiclaw.io/v1beta1\n",
    "kind: ",
    *SPEC_SHAPES,
    "metadata: {name: x}\n",
    "spec:",
    "name",
    "model",
    "leader",
    "workers",
    "target",
    "targets",
    "type",
    "team",
    "worker",
    "2001-13-45",
    "2001-02-30T25:61:61Z",
    "18:00",
    "0x1F",
    "0o17",
    "1_000",
    "1e999",
    ".nan",
    "~",
    "yes",
    "\\x00",
    '"\\0"',
    "\u2028",
    "\ufeff",
]

yaml_ish = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)
# Keys a spec might have, so generated documents get past the envelope into the shapes.
spec_keys = st.sampled_from(
    ["model", "runtime", "image", "leader", "workers", "name", "target", "targets", "email", "state", "skills"]
)
specs = st.dictionaries(spec_keys | st.text(max_size=8), json_values, max_size=6)
documents = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["hiclaw.io/v1beta1", "v1"]) | scalars,
        "kind": st.sampled_from(list(SPEC_SHAPES)) | scalars,
        "metadata": st.fixed_dictionaries({"name": st.sampled_from(["x", "a-b", "Bad_Name"]) | scalars}) | json_values,
        "spec": specs | json_values,
    }
)


# Near-valid documents from a small pool of names, so they collide (names taken, members moved,
# DebugWorkers naming workers of other teams) and reach the apply service's own checks.
names = st.sampled_from(["a", "b", "c", "t1", "t2"])
plausible_specs = {
    "Worker": st.fixed_dictionaries({"model": st.sampled_from(["q", "m" * 201, ""])}),
    "Team": st.fixed_dictionaries(
        {
            "leader": st.fixed_dictionaries({"name": names, "model": st.just("q")}),
            "workers": st.lists(st.fixed_dictionaries({"name": names, "model": st.just("q")}), max_size=3),
        }
    ),
    "DebugWorker": st.fixed_dictionaries({"targets": st.lists(names, min_size=1, max_size=3)})
    | st.fixed_dictionaries(
        {"target": st.fixed_dictionaries({"type": st.sampled_from(["team", "worker"]), "name": names})}
    ),
    "Human": st.fixed_dictionaries({"displayName": st.just("H"), "accessibleTeams": st.lists(names, max_size=2)}),
}
plausible = st.sampled_from(sorted(plausible_specs)).flatmap(
    lambda kind: st.fixed_dictionaries(
        {
            "apiVersion": st.just("hiclaw.io/v1beta1"),
            "kind": st.just(kind),
            "metadata": st.fixed_dictionaries(
                {"name": names}, optional={"annotations": st.fixed_dictionaries({"hiclaw.io/team": names})}
            ),
            "spec": plausible_specs[kind],
        }
    )
)


def read(call, value: Any) -> None:
    started = time.thread_time()
    try:
        call(value)
    except ManifestInvalid as invalid:
        assert invalid.errors, "a refusal lists at least one error"
        for error in invalid.errors:
            assert isinstance(error.field, str) and error.field and error.rule and error.message
    assert time.thread_time() - started < BOUND


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_is_parsed_or_refused(text):
    read(parse, text)


@FUZZ
@given(yaml_ish)
def test_yaml_ish_text_is_parsed_or_refused(text):
    read(parse, text)


@FUZZ
@given(st.lists(documents | json_values, min_size=1, max_size=3))
def test_decoded_documents_are_validated_or_refused(raw):
    read(parse_objects, raw)


@FUZZ
@given(st.lists(documents, min_size=1, max_size=3))
def test_documents_as_yaml_are_validated_or_refused(raw):
    read(parse, yaml.safe_dump_all(raw, allow_unicode=True))


@settings(FUZZ, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(plausible, min_size=1, max_size=4), st.lists(plausible, max_size=4))
def test_valid_looking_documents_apply_in_a_dry_run_or_are_refused(db, raw, stored):
    """Past parsing, the apply service's own checks (names taken, members) refuse with the same error."""
    with transaction.atomic():  # each example starts from the same empty database
        with suppress(ManifestInvalid):
            apply_documents(parse_objects(stored))  # what is already there
        read(lambda value: apply_documents(parse_objects(value), dry_run=True), raw)
        transaction.set_rollback(True)
