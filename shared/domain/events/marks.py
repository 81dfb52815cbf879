"""What a field of an event is, said on the field itself (`Annotated[..., Sealed, Public]`).

- `Sealed`: free text of a person's, written to the log sealed with the requester's data key
  (shared.domain.privacy). `SealableShort` and `SealableText` carry it, so a field of those types
  cannot reach the log in clear by being left off a list.
- `Personal`: names a person; the requester appears as a pseudonym.
- `Operational`: free text staff or the system write about the handling (why it was assigned,
  escalated): kept in clear on purpose, what audits read after an erasure.
- `Public`: the requester sees it on their own ticket's timeline (an allow-list: a field added
  later stays with the staff until someone marks it).

The registry (`shared.domain.events.registry`) reads the marks once per event class, nested
models included (`attachments.filename`), into the class's `privacy`.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Mark:
    name: str

    def __repr__(self) -> str:
        return self.name


Sealed = Mark("Sealed")
Personal = Mark("Personal")
Operational = Mark("Operational")
Public = Mark("Public")
Plain = Mark("Plain")


@dataclass(frozen=True)
class Privacy:
    """An event class's marks as field paths (`attachments.filename` for each item's name)."""

    sealed: tuple[str, ...] = ()
    personal: tuple[str, ...] = ()
    operational: tuple[str, ...] = ()
    public: tuple[str, ...] = ()


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, directly or as items of a tuple/list (or optionally)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (tuple, list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis and (found := _nested_model(arg)) is not None:
                return found
    return None


def marked(model: type[BaseModel], mark: Mark, prefix: str = "") -> tuple[str, ...]:
    """The paths of `model`'s fields that carry `mark` (one level of nested models)."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        if mark in info.metadata:
            out.append(prefix + name)
        elif not prefix and (inner := _nested_model(info.annotation)) is not None:
            out.extend(marked(inner, mark, f"{name}."))
    return tuple(out)


def privacy_of(model: type[BaseModel]) -> Privacy:
    return Privacy(
        sealed=marked(model, Sealed),
        personal=marked(model, Personal),
        operational=marked(model, Operational),
        public=tuple(name for name, info in model.model_fields.items() if Public in info.metadata),
    )
