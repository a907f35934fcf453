"""Documents with every leaf filled and every array holding items, built from the models alone.

The filler walks a model's declared fields, so the schema tests compare what the model really
declares against ROOK's schema: a key the model lacks, misspells or adds makes validation fail.
"""

from __future__ import annotations

import itertools
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, Union

from pydantic import BaseModel
from typing_extensions import is_typeddict

from rookery.model.common import DateString, DatetimeString, RookDocument, UserId

CLIENT_UUID = "7b1f3c2e-8d4a-4f6b-9c1d-2e3f4a5b6c7d"
USER_ID = "user-42"
ITEMS_PER_ARRAY = 2


class _Filler:
    """Gives each leaf a distinct value of its type, so no two leaves are alike."""

    def __init__(self) -> None:
        self._counter: Iterator[int] = itertools.count(1)

    def value(self, annotation: Any, name: str) -> Any:
        origin = typing.get_origin(annotation)
        arguments = typing.get_args(annotation)
        if origin in (Union, types.UnionType):
            (kept,) = (argument for argument in arguments if argument is not type(None))
            return self.value(kept, name)
        if annotation == DatetimeString:
            n = next(self._counter)
            return f"2023-11-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00.{n:06d}+01:00"
        if annotation == DateString:
            return f"2023-11-{1 + next(self._counter) % 28:02d}"
        if annotation == UserId:
            return USER_ID
        if origin is Literal:
            return arguments[0]
        if origin is tuple:
            return [self.value(arguments[0], name) for _ in range(ITEMS_PER_ARRAY)]
        if origin is dict:
            return {"source_record": next(self._counter), "nested": {"values": [1, 2.5, None]}}
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return self.model(annotation)
        if is_typeddict(annotation):
            hints = typing.get_type_hints(annotation, include_extras=True)
            return {key: self.value(hint, key) for key, hint in hints.items()}
        return self.scalar(annotation, name)

    def scalar(self, annotation: Any, name: str) -> Any:
        n = next(self._counter)
        if annotation is bool:
            return n % 2 == 0
        if annotation is int:
            return n
        if annotation is float:
            return n + 0.25
        if annotation is str:
            return f"{name}-{n}"
        raise TypeError(f"no filler for {name}: {annotation!r}")

    def model(self, model: type[BaseModel]) -> dict[str, Any]:
        return {
            name: self.value(field.annotation, name) for name, field in model.model_fields.items()
        }


def filled_document_data(document_type: type[RookDocument]) -> dict[str, Any]:
    """Decoded JSON of a `document_type` document with every key of the model given a value."""
    data = _Filler().model(document_type)
    data.update(client_uuid=CLIENT_UUID, user_id=USER_ID, document_version=3)
    return data


def filled_document(document_type: type[RookDocument]) -> RookDocument:
    """A `document_type` document with every leaf filled and two items in every array."""
    return document_type.model_validate(filled_document_data(document_type))
