"""Walking decoded JSON documents: where the objects and leaves are, and changing one of them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

Path = tuple[str | int, ...]

RAW_KEY = "non_structured_data_array"


def object_paths(node: Any, path: Path = ()) -> Iterator[Path]:
    """Every object with ROOK keys (raw source records excluded), first array item only."""
    if isinstance(node, dict):
        yield path
        for key, value in node.items():
            if key != RAW_KEY:
                yield from object_paths(value, (*path, key))
    elif isinstance(node, list) and node:
        yield from object_paths(node[0], (*path, 0))


def leaf_paths(node: Any, path: Path = ()) -> Iterator[Path]:
    """Every scalar or null under ROOK keys (raw source records excluded)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key != RAW_KEY:
                yield from leaf_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaf_paths(value, (*path, index))
    else:
        yield path


def array_paths(node: Any, path: Path = ()) -> Iterator[Path]:
    """Every array under ROOK keys."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, list):
                yield (*path, key)
            if key != RAW_KEY:
                yield from array_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from array_paths(value, (*path, index))


def get(node: Any, path: Path) -> Any:
    for step in path:
        node = node[step]
    return node


def replaced(document: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A deep copy of `document` with the value at `path` replaced."""
    changed = copy.deepcopy(document)
    get(changed, path[:-1])[path[-1]] = value
    return changed
