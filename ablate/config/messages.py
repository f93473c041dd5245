"""Pydantic validation errors as one line, with the allowed keys and a suggestion."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Annotated, Any, TypeVar, Union

from pydantic import (
    BaseModel,
    Tag,
    ValidationError,
)

from ablate.config.space import DIST_KINDS
from ablate.errors import ConfigError

__all__ = ["ModelT", "model_of", "one_line", "validate_as"]

ModelT = TypeVar("ModelT", bound=BaseModel)

# --------------------------------------------------------------------------- one-line errors


def validate_as(model: type[ModelT], raw: Any, source: str) -> ModelT:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"{source}: {one_line(e, model)}") from None


def one_line(e: ValidationError, root: type[BaseModel]) -> str:
    """The first error of `e` as one line that names the key, says what is wrong and what fits."""
    err = e.errors()[0]
    loc = [p for i, p in enumerate(err["loc"]) if i == 0 or p != err["loc"][i - 1]]  # union tags
    where = ".".join(str(x) for x in loc)
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(root, tuple(err["loc"][:-1]))
        hint = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        listed = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {where!r}{did}{listed}"
    if err["type"] == "distribution":
        got = err["input"]
        if isinstance(got, dict) and len(got) == 1:
            return f"{where}: unknown distribution {next(iter(got))!r}; allowed: {', '.join(DIST_KINDS)}"
        return f"{where} must be one mapping {{{' | '.join(DIST_KINDS)}: ...}}, got {got!r}"
    if err["type"] == "literal_error":
        return f"{where}: {err['msg'].replace('Input should be', 'must be')}, got {err['input']!r}"
    msg = err["msg"].removeprefix("Value error, ")
    if where:
        return f"{where}: {msg}" + ("" if err["type"] == "value_error" else f" (got {err['input']!r})")
    return msg


def _allowed_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys (aliases where set) of the model found at `loc` under `root`; [] if none."""
    ann: Any = root
    for part in loc:
        ann = _step(ann, part)
        if ann is None:
            return []
    model = model_of(ann)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _step(ann: Any, part: Any) -> Any:
    """The annotation one `loc` step below `ann`: a field, a list item, a dict value, a union tag."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is Annotated:
        return _step(args[0], part)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        for name, f in ann.model_fields.items():
            if part in (name, f.alias):
                return f.annotation
        return None
    if origin in (list, tuple):
        return args[0] if args else None
    if origin is dict:
        return args[1] if len(args) == 2 else None
    if origin in (Union, types.UnionType):
        for member in args:
            meta = typing.get_args(member)[1:] if typing.get_origin(member) is Annotated else ()
            if any(isinstance(m, Tag) and m.tag == part for m in meta):
                return typing.get_args(member)[0]
        for member in args:
            found = _step(member, part) if member is not type(None) else None
            if found is not None:
                return found
    return None


def model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        m = model_of(arg)
        if m is not None:
            return m
    return None
