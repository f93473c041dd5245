"""The search-space language: a typed union of choice, grid, uniform, loguniform, int, subset."""

from __future__ import annotations

from abc import abstractmethod
from typing import Annotated, Any, ClassVar, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

# --------------------------------------------------------------------------- search space

DIST_KINDS = ("choice", "grid", "uniform", "loguniform", "int", "subset")


class _Dist(BaseModel):
    """One distribution, written in YAML as a one-key mapping ``{kind: argument}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)
    kind: ClassVar[str]

    @property
    def arg(self) -> Any:
        """The argument as the sweep file writes it (``[16, 32]``, ``{of: [...], min: 2}``)."""
        return self.model_dump(mode="json")[self.kind]

    @abstractmethod
    def check_values(self) -> list[Any]:
        """The values checked against the base trial when a sweep is resolved (every kind defines it)."""

    def example(self) -> Any:
        """One value the distribution can produce (its first or lowest)."""
        return self.check_values()[0]

    def is_grid(self, algorithm: str) -> bool:
        """Enumerated as a grid axis (``grid``, and ``choice`` under ``algorithm: grid``)?"""
        return False


def _non_empty_list(v: Any) -> Any:
    if not isinstance(v, list) or not v:
        raise ValueError(f"needs a non-empty list of values, got {v!r}")
    return v


class Choice(_Dist):
    """``{choice: [v1, v2, ...]}``: one of the values, sampled (enumerated under ``algorithm: grid``)."""

    kind: ClassVar[str] = "choice"
    options: list[Any] = Field(alias="choice")

    @field_validator("options", mode="before")
    @classmethod
    def _non_empty(cls, v: Any) -> Any:
        return _non_empty_list(v)

    def check_values(self) -> list[Any]:
        return list(self.options)

    def is_grid(self, algorithm: str) -> bool:
        return algorithm == "grid"


class Grid(Choice):
    """``{grid: [v1, v2, ...]}``: every value, an axis of the sweep's outer product."""

    kind: ClassVar[str] = "grid"
    options: list[Any] = Field(alias="grid")

    def is_grid(self, algorithm: str) -> bool:
        return True


class Uniform(_Dist):
    """``{uniform: [low, high]}``: a float drawn uniformly."""

    kind: ClassVar[str] = "uniform"
    bounds: list[float] = Field(alias="uniform")

    @field_validator("bounds", mode="before")
    @classmethod
    def _two_numbers(cls, v: Any) -> Any:
        numbers = isinstance(v, list) and len(v) == 2 and all(
            isinstance(a, int | float) and not isinstance(a, bool) for a in v)
        if not numbers:
            raise ValueError(f"needs two numbers [low, high], got {v!r}")
        if cls.kind == "int" and not all(isinstance(a, int) for a in v):
            raise ValueError(f"bounds must be integers, got {v!r}")
        if not v[0] < v[1]:
            raise ValueError(f"needs low < high, got {v!r}")
        if cls.kind == "loguniform" and v[0] <= 0:
            raise ValueError(f"bounds must be > 0 (a log scale), got {v!r}")
        return v

    @property
    def low(self) -> float:
        return self.bounds[0]

    @property
    def high(self) -> float:
        return self.bounds[1]

    def check_values(self) -> list[Any]:
        return list(self.bounds)


class LogUniform(Uniform):
    """``{loguniform: [low, high]}``: a float drawn uniformly on a log scale (0 < low)."""

    kind: ClassVar[str] = "loguniform"
    bounds: list[float] = Field(alias="loguniform")


class IntRange(Uniform):
    """``{int: [low, high]}``: an integer in ``[low, high]``, both included."""

    kind: ClassVar[str] = "int"
    bounds: list[int] = Field(alias="int")  # type: ignore[assignment]


class SubsetOf(BaseModel):
    """The argument of ``subset``: the candidates and how many at least."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    of: list[Any]
    min: int = 1

    @field_validator("of", mode="before")
    @classmethod
    def _non_empty(cls, v: Any) -> Any:
        return _non_empty_list(v)

    @model_validator(mode="after")
    def _min_in_range(self) -> SubsetOf:
        if not 1 <= self.min <= len(self.of):
            raise ValueError(f"min must be between 1 and {len(self.of)}, got {self.min}")
        return self


class Subset(_Dist):
    """``{subset: {of: [c1, c2, ...], min: k}}``: at least k of the candidates, in candidate order."""

    kind: ClassVar[str] = "subset"
    spec: SubsetOf = Field(alias="subset")

    def check_values(self) -> list[Any]:
        return [list(self.spec.of)]

    def example(self) -> Any:
        return list(self.spec.of[: self.spec.min])


def _dist_kind(v: Any) -> str | None:
    if isinstance(v, _Dist):
        return v.kind
    if isinstance(v, dict) and len(v) == 1:
        key = next(iter(v))
        return key if isinstance(key, str) else None
    return None


Distribution = Annotated[
    Union[  # noqa: UP007 - the tagged members of a discriminated union
        Annotated[Choice, Tag("choice")],
        Annotated[Grid, Tag("grid")],
        Annotated[Uniform, Tag("uniform")],
        Annotated[LogUniform, Tag("loguniform")],
        Annotated[IntRange, Tag("int")],
        Annotated[Subset, Tag("subset")],
    ],
    Discriminator(
        _dist_kind,
        custom_error_type="distribution",
        custom_error_message="a distribution is one mapping {choice|grid|uniform|loguniform|int|subset: ...}",
    ),
]
