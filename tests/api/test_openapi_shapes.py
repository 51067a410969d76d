"""The OpenAPI document is generated from the shapes that do the work, so it lists their fields."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from controller.api import compat
from controller.manifests.schema import SPEC_SHAPES
from controller.models import Worker
from controller.services.summary import WorkerSummary


@pytest.fixture(scope="module")
def components() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]


def aliases(shape) -> set[str]:
    return {info.alias or name for name, info in shape.model_fields.items()}


@pytest.mark.parametrize("kind", sorted(SPEC_SHAPES))
def test_a_resource_spec_is_its_manifest_shape_and_nothing_else(components, kind):
    shape = SPEC_SHAPES[kind]
    assert components[kind]["properties"]["spec"] == {"$ref": f"#/components/schemas/{shape.__name__}"}
    spec = components[shape.__name__]
    assert set(spec["properties"]) == aliases(shape)
    assert spec["additionalProperties"] is False


@pytest.mark.parametrize(
    ("component", "fields"),
    [
        ("WorkerChange", compat.WORKER_FIELDS),
        ("ManagerChange", compat.MANAGER_FIELDS),
        ("HumanChange", compat.HUMAN_FIELDS),
    ],
)
def test_a_flat_body_documents_the_fields_compat_takes(components, component, fields):
    assert set(components[component]["properties"]) == set(fields)
    assert "required" not in components[component]  # absent means unchanged


def test_a_status_line_documents_what_the_route_answers(components, db):
    line = WorkerSummary.of(Worker(name="w", spec={"model": "qwen"})).status_line()
    assert set(components["WorkerStatusLine"]["properties"]) == set(line)
    assert components["WorkerStatusLine"]["properties"]["state"]["allOf"] == [
        {"$ref": "#/components/schemas/DesiredState"}
    ]


def test_the_document_is_openapi_3_0(components):
    """No JSON Schema 2020-12 spellings, which OpenAPI 3.0 tools reject or misread."""
    text = str(components)
    assert "'null'" not in text and "'const'" not in text and "$defs" not in text
