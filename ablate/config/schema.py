"""The JSON Schema of a sweep file and of a bare trial file, generated from the pydantic models.

An editor with yaml-language-server (VS Code's YAML extension) reads it from the first line of a
sweep file, ``# yaml-language-server: $schema=sweep.schema.json``, and offers completion, hover
help and a squiggle under a misspelt key. The descriptions are the models' docstrings and the
comments beside (or just above) each field, so the schema says what the code says.
"""

from __future__ import annotations

import ast
import functools
import inspect
import io
import json
import textwrap
import tokenize
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from ablate.config.sweep import SweepConfig
from ablate.config.trial import TrialConfig

__all__ = ["SCHEMA_FILES", "field_comments", "schema", "schema_text"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILES = {"sweep": "sweep.schema.json", "trial": "trial.schema.json"}  # in search_spaces/


@functools.cache
def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the comment lines just above its line and the comment at its end, joined."""
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):  # no source (a frozen install): descriptions from docstrings only
        return {}
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    lines = source.splitlines()
    out: dict[str, str] = {}
    for node in ast.parse(source).body[0].body:  # type: ignore[attr-defined]
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above, i = [], node.lineno - 1
        while i >= 1 and lines[i - 1].strip().startswith("#"):
            above.insert(0, comments[i])
            i -= 1
        trailing = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
        text = " ".join(c for c in [*above, *trailing] if c)
        if text:
            out[node.target.id] = text
    return out


class _Generator(GenerateJsonSchema):
    """Pydantic's generator with field descriptions from the source comments and no field titles
    (``"title": "Pcb Channels"`` says nothing the key does not)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: Any) -> Any:
        out = super().model_schema(schema)
        comments = {}
        for cls in reversed(schema["cls"].__mro__):  # a subclass's comment wins
            if isinstance(cls, type) and issubclass(cls, BaseModel) and cls is not BaseModel:
                comments.update(field_comments(cls))
        for name, prop in out.get("properties", {}).items():
            if name in comments and "description" not in prop:
                prop["description"] = comments[name]
        return out


def schema(kind: str = "sweep") -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a sweep file (``kind="sweep"``) or a bare trial file.

    A sweep file may leave out ``name`` (`ablate.config.read_sweep` names it after the file).
    """
    model = {"sweep": SweepConfig, "trial": TrialConfig}[kind]
    out = model.model_json_schema(schema_generator=_Generator)
    if kind == "sweep":
        out["required"] = [r for r in out.get("required", []) if r != "name"] or None
        if out["required"] is None:
            del out["required"]
    title = {"sweep": "ablate sweep file", "trial": "ablate trial file"}[kind]
    return {"$schema": DIALECT, **out, "title": title}


def schema_text(kind: str = "sweep") -> str:
    """`schema` as the text of its file: indented JSON, keys in the models' order, a final newline."""
    return json.dumps(schema(kind), indent=2, ensure_ascii=False) + "\n"
