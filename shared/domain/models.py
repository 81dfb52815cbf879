"""Building pydantic models from values that are already valid, cheaply.

`BaseModel.model_construct` and `model_copy` cost 8-11 us for an envelope (alias and default
handling per field, `copy.copy` of each attribute). Replay and the consumers build two or three
models per event from values pydantic-core or AES-GCM already vouched for, so this is where a
hot path's time went. These do what pydantic itself does to skip validation, nothing more, and
only for plain models (no private attributes, extras or post-init hook).
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


@cache
def _plain(cls: type[BaseModel]) -> bool:
    return (
        not cls.__private_attributes__
        and cls.model_config.get("extra") != "allow"
        and not cls.__pydantic_post_init__
        and not cls.__pydantic_root_model__
    )


def _build(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    if not _plain(cls):
        raise TypeError(f"{cls.__name__} has private attributes, extras or a post-init hook: use model_construct")
    m = cls.__new__(cls)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", fields_set)
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


def construct(cls: type[M], values: dict[str, Any]) -> M:
    """A `cls` holding `values`, which must be valid and name every field (no defaults applied)."""
    if len(values) != len(cls.model_fields):
        missing = set(cls.model_fields) - values.keys()
        raise TypeError(f"{cls.__name__}: give every field ({', '.join(sorted(missing)) or 'unknown names'})")
    return _build(cls, values, set(values))


def replace(model: M, changes: dict[str, Any]) -> M:
    """`model.model_copy(update=changes)` for valid `changes` to existing fields."""
    values = model.__dict__.copy()
    values.update(changes)
    return _build(type(model), values, model.__pydantic_fields_set__ | changes.keys())
