"""MkDocs hook: the sweep-file reference, generated from the pydantic models at build time.

``docs/reference/sweep-file.md`` holds the marker ``<!-- ablate:config-reference -->``; this hook
replaces it with one table per config model (every key by its dotted path, its type, default and
meaning) and a table of the search-space distributions. Types and meanings come from the same JSON
Schema ``ablate schema`` writes (the models' docstrings and the comments beside each field), the
defaults from the models, so the page cannot drift from the code.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from ablate.config import DIST_KINDS, SweepConfig, TrialConfig
from ablate.config import space as space_module
from ablate.config.schema import schema

MARKER = "<!-- ablate:config-reference -->"
LIST_INDEX = "N"  # a list of sections (phases.N.lr): N is the item's index from 0, as --set takes it


@dataclass(frozen=True)
class Row:
    """One key of the reference: where it is written and what it is."""

    path: str  # as a bare trial file / --set writes it (trial keys) or as a sweep file does
    type: str
    default: str
    meaning: str


@dataclass(frozen=True)
class Section:
    """One config model: its heading path (``""`` for the top level), docstring and keys."""

    path: str
    anchor: str
    title: str
    doc: str
    rows: list[Row]


def _models_of(annotation: Any) -> tuple[list[type[BaseModel]], bool]:
    """The config models inside an annotation (``X``, ``X | None``, ``list[X]``, a union of
    several such as ``list[MlflowTracking | WandbTracking]``) and whether it is a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation], False
    is_list, models = get_origin(annotation) is list, []
    for arg in get_args(annotation):
        inner, inner_list = _models_of(arg)
        models += [m for m in inner if m not in models]
        is_list = is_list or (inner_list and bool(inner))
    return models, is_list


def _code(value: Any) -> str:
    return f"`{value}`"


def _yaml(value: Any) -> str:
    """A default as a sweep file would write it (YAML flow style)."""
    if isinstance(value, BaseModel):
        return _yaml(value.model_dump(mode="json", exclude_defaults=True))
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) and not value else str(value)


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """A JSON Schema property as a short type: ``int >= 1``, one of ``a``/``b``, list of str, ..."""
    if not isinstance(prop, dict) or not prop:  # additionalProperties: true, or no schema at all
        return "any"
    if "$ref" in prop:
        return "section"
    if "enum" in prop:
        return "one of " + ", ".join(_code(_yaml(v)) for v in prop["enum"])
    if "const" in prop:
        return _code(_yaml(prop["const"]))
    for union in ("anyOf", "oneOf"):
        if union in prop:
            kinds = {json.dumps(p, sort_keys=True): p for p in prop[union]}.values()
            refs = [p for p in kinds if "$ref" in p and p["$ref"].rsplit("/", 1)[-1] in _DIST_MODELS]
            if refs and len(refs) == len(list(kinds)):
                return "[distribution](#distributions)"
            return " or ".join(_type(p, defs) for p in kinds)
    kind = prop.get("type")
    if kind == "array":
        if "prefixItems" in prop:
            return "[" + ", ".join(_type(p, defs) for p in prop["prefixItems"]) + "]"
        items = prop.get("items", {})
        text = "list of " + ("sections" if "$ref" in items else _type(items, defs))
        return text + (f" (at least {prop['minItems']})" if "minItems" in prop else "")
    if kind == "object":
        return "mapping: str to " + _type(prop.get("additionalProperties", {}), defs)
    name = {"integer": "int", "number": "float", "string": "str", "boolean": "bool", "null": "null"}.get(kind, "any")
    bounds = [f"{op} {prop[k]}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                ("maximum", "<="), ("exclusiveMaximum", "<")) if k in prop]
    return " ".join([name, *bounds]) if bounds else name


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, ``|`` escaped, ``<name>`` outside code not taken for HTML."""
    parts = " ".join(text.split()).replace("|", "\\|").split("`")
    return "`".join(re.sub(r"<(?=[A-Za-z/])", "&lt;", p) if i % 2 == 0 else p for i, p in enumerate(parts))


_DIST_MODELS = {"Choice", "Grid", "Uniform", "LogUniform", "IntRange", "Subset"}


def _sections(model: type[BaseModel], path: str, title: str, defs: dict[str, Any], out: list[Section],
              anchor: str = "") -> None:
    props = defs[model.__name__]["properties"]
    rows, children = [], []
    for name, field in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        models, is_list = _models_of(field.annotation)
        models = [m for m in models if m.__name__ not in _DIST_MODELS]
        default = field.get_default(call_default_factory=True)
        if default is PydanticUndefined:  # a sweep file may leave out what the loader fills in (its name)
            default_text = "required" if name in defs[model.__name__].get("required", []) else "optional"
        else:
            default_text = _code(_yaml(default))
        meaning = props[name].get("description", "")
        if models:
            child_path = f"{key}.{LIST_INDEX}" if is_list else key
            kind = "list of sections" if is_list else "section" if default is not None else "section or null"
            # several models (a union told apart by `kind`): one section each, titled by the model
            named = [(m, child_path.replace(".", "-").lower() + ("" if len(models) == 1 else f"-{m.__name__.lower()}"))
                     for m in models]
            links = " or ".join(f"[`{child_path}`{'' if len(models) == 1 else ' ' + m.__name__}](#{a})" for m, a in named)
            first_line = (inspect.getdoc(models[0]) or "").split("\n\n")[0]
            rows.append(Row(key, f"{kind}: {links}", default_text if not isinstance(
                default, BaseModel) else "its keys' defaults", _cell(meaning or first_line)))
            children += [(m, child_path, a) for m, a in named]
            continue
        rows.append(Row(key, _cell(_type(props[name], defs)), _cell(default_text), _cell(meaning)))
    out.append(Section(path, anchor or (path or "top-level").replace(".", "-").lower(), title,
                       inspect.getdoc(model) or "", rows))
    for child, child_path, child_anchor in children:
        if child is not TrialConfig:  # the trial's keys are a section list of their own
            several = sum(c[1] == child_path for c in children) > 1
            _sections(child, child_path, f"`{child_path}`" + (f" ({child.__name__})" if several else ""),
                      defs, out, child_anchor)


def reference() -> tuple[list[Section], list[Section]]:
    """The trial's sections (keys as a bare trial file and ``--set`` write them) and the sweep
    file's own sections (``search``, ``scheduler``, ...; its ``trial:`` holds the trial's keys)."""
    defs = dict(schema("sweep")["$defs"])
    defs["SweepConfig"] = schema("sweep")
    trial: list[Section] = []
    sweep: list[Section] = []
    _sections(TrialConfig, "", "Top level", defs, trial)
    _sections(SweepConfig, "", "Top level", defs, sweep)
    trial[0] = Section("", "trial-keys", trial[0].title, trial[0].doc, trial[0].rows)
    sweep[0] = Section("", "sweep-keys", sweep[0].title, sweep[0].doc, sweep[0].rows)
    return trial, sweep


def reference_paths() -> set[str]:
    """Every key the reference lists: trial keys as ``fusion.pcb_channels``, sweep keys as
    ``search.num_samples`` (the tests compare this with the models' fields)."""
    trial, sweep = reference()
    return {r.path for s in [*trial, *sweep] for r in s.rows}


def _distributions() -> list[str]:
    lines = ["| kind | written | meaning |", "|---|---|---|"]
    for kind in DIST_KINDS:
        cls = next(c for c in vars(space_module).values()
                   if isinstance(c, type) and getattr(c, "kind", None) == kind and c.__module__ == space_module.__name__)
        doc = inspect.getdoc(cls) or ""
        written, _, meaning = doc.partition("``: ")
        lines.append(f"| `{kind}` | {_cell(written + '``')} | {_cell(meaning)} |")
    return lines


def _table(section: Section) -> list[str]:
    head = [f"### {section.title} {{#{section.anchor}}}", "", section.doc, "",
            "| key | type | default | meaning |", "|---|---|---|---|"]
    return head + [f"| `{r.path}` | {r.type} | {r.default} | {r.meaning} |" for r in section.rows] + [""]


def reference_markdown() -> str:
    """The generated part of the reference page."""
    trial, sweep = reference()
    out = ["## Trial keys {#trial}", "",
           "The keys of a bare trial file, of a sweep file's `trial:` section and of `--set` (which "
           "writes them without the `trial.` prefix). `N` is a list item's index from 0 "
           "(`--set phases.1.lr=1e-3`).", ""]
    for s in trial:
        out += _table(s)
    out += ["## Sweep-file keys {#sweep}", "",
            "The sections of a sweep file besides `trial:`; `--set` addresses them by the same paths "
            "(`--set search.num_samples=3`).", ""]
    for s in sweep:
        out += _table(s)
    out += ["## Distributions {#distributions}", "",
            "The values of `search.space`: one mapping `{kind: argument}` per searched key.", "",
            *_distributions(), ""]
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: fill the marker of the reference page."""
    return markdown.replace(MARKER, reference_markdown()) if MARKER in markdown else markdown
