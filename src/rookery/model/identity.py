"""What makes two documents "the same record", and how to tell whether its content changed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rookery.model.common import DataStructure, Pillar, RookDocument


@dataclass(frozen=True, slots=True)
class DocumentIdentity:
    """The stable identity of a delivered record; versions of one record share it.

    `source_key` is chosen by the transform from the source record: the local date
    (`2023-11-14`) for summaries, `grpid:5423702714` for body events, `workout:3661300277` for
    workouts.
    """

    user_id: str
    pillar: Pillar
    data_structure: DataStructure
    source_key: str

    def __post_init__(self) -> None:
        if not self.source_key:
            raise ValueError("a document identity needs a non-empty source_key")

    @classmethod
    def of(cls, document: RookDocument, source_key: str) -> DocumentIdentity:
        """The identity of `document`, whose record the transform names `source_key`."""
        return cls(document.user_id, document.PILLAR, document.DATA_STRUCTURE, source_key)


def fingerprint(document: RookDocument | Mapping[str, Any]) -> str:
    """Hex SHA-256 of the document's canonical JSON (sorted keys, compact), `document_version`
    left out: equal fingerprints mean nothing changed. A model and its
    `model_dump(mode="json")` have the same fingerprint."""
    if isinstance(document, RookDocument):
        content = document.model_dump(mode="json", exclude={"document_version"})
    else:
        content = {key: value for key, value in document.items() if key != "document_version"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
