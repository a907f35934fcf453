"""The query API's example answers in the OpenAPI (`src/rookery/api/examples/`) are real: each is
a document its model reads and writes back unchanged, it matches ROOK's schema made strict, it
is what the transforms make today (`tests/api/rook_examples.py`), and its route shows it."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from rookery.api.processed_data import EXAMPLES_DIR, example_file_name
from rookery.app import create_app
from rookery.config import load_settings
from rookery.model.structures import STRUCTURES, StructureSpec
from tests.api.rook_examples import make_examples, serialise
from tests.support.rook_schema import schema_name_of, validate_document

IDS = [example_file_name(spec) for spec in STRUCTURES]


def _committed(spec: StructureSpec) -> str:
    return (EXAMPLES_DIR / example_file_name(spec)).read_text(encoding="utf-8")


@cache
def _made() -> dict[str, dict[str, Any]]:
    return make_examples()


def test_the_folder_holds_one_example_per_structure_and_nothing_else() -> None:
    assert sorted(path.name for path in EXAMPLES_DIR.iterdir()) == sorted(IDS)


@pytest.mark.parametrize("spec", STRUCTURES, ids=IDS)
def test_example_is_its_models_own_serialisation(spec: StructureSpec) -> None:
    example = json.loads(_committed(spec))
    document = spec.document_type.model_validate(example)
    assert json.loads(document.model_dump_json()) == example


@pytest.mark.parametrize("spec", STRUCTURES, ids=IDS)
def test_example_matches_rooks_schema(spec: StructureSpec) -> None:
    example = json.loads(_committed(spec))
    assert schema_name_of(example) == spec.schema_name
    validate_document(example)


@pytest.mark.parametrize("spec", STRUCTURES, ids=IDS)
def test_example_is_what_the_transforms_make(spec: StructureSpec) -> None:
    assert _committed(spec) == serialise(_made()[example_file_name(spec)]), (
        "the transforms' output changed: rewrite the examples with "
        "`python -m tests.api.rook_examples` and review the diff"
    )


@cache
def _route_examples() -> dict[str, Any]:
    paths = create_app(load_settings({})).openapi()["paths"]
    return {
        spec.api_path: paths[spec.api_path]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["example"]
        for spec in STRUCTURES
    }


@pytest.mark.parametrize("spec", STRUCTURES, ids=IDS)
def test_the_route_shows_its_example_with_its_nulls(spec: StructureSpec) -> None:
    # FastAPI writes the document without nulls; `rookery.api.openapi` puts them back.
    assert _route_examples()[spec.api_path] == json.loads(_committed(spec))
