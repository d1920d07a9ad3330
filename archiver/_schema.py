"""JSON Schema validation of everything the archive stores, with errors a person can act on.

Seven schemas (draft 2020-12) live in ``schemas/``: the metadata of a workflow and of a workflow
version as we store it, the bundle manifest, the snapshot, the store's identity
(``config.json``), the restore mapping file, and a verify run's record. They are the contract
between the backup run that writes and the restore that may run years later, so every document is
checked before it is written (and manifests again when read).

Validation is on every item's path, so it is made cheap for the common case, a valid document:
each schema is inlined (its ``$defs`` references replaced by their targets) and compiled once to
plain Python checks (``archiver._schema_fast``, ~9x faster than jsonschema on a snapshot), and
that answers first; only a document it rejects is walked again by the jsonschema validator of the
schema as written, so that what is reported is exactly as before. A schema the compiler cannot
check whole falls back to jsonschema on the inlined copy. The schemas are checked against the
metaschema by the tests, not at every start of the tool.

Following cloud-custodian's ``c7n/schema.py``, each validator is built once, and a failure is
reported as its most relevant problem (``jsonschema.exceptions.best_match``) with a JSON path such as
``$.tags.owner`` or ``$.members[2].sha256`` rather than as a dump of every error. The full list,
best first, is still available on :class:`MetadataInvalid` for the quarantine record.

The schemas ship inside the wheel as ``archiver/schemas``; in a source checkout they are at
``<repo>/schemas``. Format checking is our own for ``date-time`` (RFC 3339 with an offset), so
validation does not depend on which optional jsonschema extras happen to be installed.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from ._errors import MetadataInvalid, SchemaProblem
from ._jsonutil import is_rfc3339
from ._schema_fast import Check, Unsupported, compile_schema

if TYPE_CHECKING:  # jsonschema is imported only to explain a document the compiled checks reject
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import ValidationError

__all__ = [
    "SCHEMA_NAMES",
    "SchemaName",
    "SchemaProblem",
    "check",
    "classify",
    "json_path",
    "part_is_clean",
    "problems",
    "schema",
]

SchemaName = Literal[
    "workflow", "workflow-version", "manifest", "snapshot", "store-config", "restore-mapping", "verify-record"
]
SCHEMA_NAMES: tuple[SchemaName, ...] = get_args(SchemaName)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_MESSAGE = 300


def _is_date_time(instance: object) -> bool:
    return not isinstance(instance, str) or is_rfc3339(instance)


@functools.cache
def _formats() -> FormatChecker:
    from jsonschema import FormatChecker

    formats = FormatChecker(formats=())
    formats.checks("date-time")(_is_date_time)
    return formats


def _schema_text(name: str) -> str:
    filename = f"{name}.schema.json"
    packaged = importlib.resources.files("archiver") / "schemas" / filename
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source_tree = Path(__file__).resolve().parent.parent / "schemas" / filename
    return source_tree.read_text(encoding="utf-8")


@functools.cache
def _schema(name: SchemaName) -> dict[str, Any]:
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}; expected one of {', '.join(SCHEMA_NAMES)}")
    document: dict[str, Any] = json.loads(_schema_text(name))
    return document


@functools.cache
def _validator(name: SchemaName) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema(name), format_checker=_formats())


def _fast_validator(name: SchemaName) -> Draft202012Validator:
    """The schema with every local ``$ref`` replaced by its target (the schemas do not recurse)."""
    return _part_validator(name, ())


def _inline(node: Any, defs: dict[str, Any], depth: int) -> Any:
    if depth > 32:
        raise ValueError("schema references nest too deep to inline (a recursive schema?)")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
            return _inline(defs[ref[len("#/$defs/") :]], defs, depth + 1)
        return {k: _inline(v, defs, depth + 1) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs, depth + 1) for v in node]
    return node


@functools.cache
def _inlined(name: SchemaName, pointer: tuple[str, ...] = ()) -> Any:
    """The subschema at ``pointer`` (``()``: the whole schema) with its ``$defs`` references inlined."""
    document = _schema(name)
    node: Any = document
    for part in pointer:
        node = node[part]
    return _inline(node, document.get("$defs", {}), 0)


@functools.cache
def _compiled(name: SchemaName, pointer: tuple[str, ...] = ()) -> Check | None:
    """The inlined (sub)schema compiled to plain checks (``archiver._schema_fast``); None if it cannot be."""
    try:
        return compile_schema(_inlined(name, pointer), formats={"date-time": _is_date_time})
    except Unsupported:
        return None


@functools.cache
def _part_validator(name: SchemaName, pointer: tuple[str, ...]) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_inlined(name, pointer), format_checker=_formats())


def _clean(name: SchemaName, document: object, pointer: tuple[str, ...] = ()) -> bool:
    """Whether ``document`` matches the (sub)schema, with nothing to report (the fast path)."""
    compiled = _compiled(name, pointer)
    if compiled is not None:
        return compiled(document)
    return next(_part_validator(name, pointer).iter_errors(document), None) is None


def part_is_clean(name: SchemaName, pointer: tuple[str, ...], instance: object) -> bool:
    """Whether ``instance`` passes the subschema at ``pointer`` of the named schema (compiled once).

    For readers that check a large document piece by piece (``archiver.index``); they report a
    failure with :func:`problems` on the whole document.
    """
    return _clean(name, instance, pointer)


def schema(name: SchemaName) -> dict[str, Any]:
    """A copy of the named schema document."""
    result: dict[str, Any] = json.loads(json.dumps(_schema(name)))
    return result


def json_path(parts: Iterable[str | int]) -> str:
    """``["tags", "owner"]`` → ``$.tags.owner``; indices as ``[2]``; odd keys as ``['a.b']``."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out += f"['{escaped}']"
    return out


def _leaf(error: ValidationError) -> list[str | int]:
    """The path of the value a person must fix, one level deeper than jsonschema's for a missing or
    an unexpected property (``$.source.uuid`` rather than ``$.source``)."""
    path: list[str | int] = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        for prop in error.validator_value:
            if prop not in instance and error.message == f"{prop!r} is a required property":
                return [*path, prop]
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = error.schema.get("properties", {})
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        if isinstance(instance, dict):
            extra = [k for k in instance if k not in known and not any(p.search(k) for p in patterns)]
            if len(extra) == 1:
                return [*path, extra[0]]
    return path


def _problem(error: ValidationError) -> SchemaProblem:
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return SchemaProblem(json_path(_leaf(error)), message)


def _root(error: ValidationError) -> ValidationError:
    while error.parent is not None:
        error = error.parent
    return error


def problems(name: SchemaName, document: object) -> list[SchemaProblem]:
    """Every problem of ``document`` against the named schema, most relevant first; ``[]`` if valid."""
    if _clean(name, document):
        return []
    return _ranked(list(_validator(name).iter_errors(document)))


# The service's ``metadata`` map: its content is undocumented, so nothing in it is "wrong".
_FREE_MEMBERS = {"workflow": "metadata", "workflow-version": "metadata"}


def _unknown_paths(name: SchemaName, error: ValidationError) -> list[str] | None:
    """The JSON paths of members ``error`` reports as unknown, or None if it is a real problem.

    Unknown: a member the schema does not describe (``additionalProperties: false``, at any depth),
    or anything inside the service's free-form ``metadata`` map.
    """
    path: list[str | int] = list(error.absolute_path)
    free = _FREE_MEMBERS.get(name)
    if free is not None and path[:1] == [free]:
        return [json_path(path)]
    if error.validator != "additionalProperties" or error.validator_value is not False:
        return None
    instance = error.instance
    if not isinstance(instance, dict):
        return None
    known = error.schema.get("properties", {})
    patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
    extra = [k for k in instance if k not in known and not any(p.search(k) for p in patterns)]
    return [json_path([*path, k]) for k in extra] or None


def classify(name: SchemaName, document: object) -> tuple[list[SchemaProblem], list[str]]:
    """What is wrong with ``document``, and what it holds that the schema does not know.

    Returns ``(problems, unknown)``: ``problems`` (best first) are known members with a wrong value,
    missing required members and wrong types; ``unknown`` lists, as JSON paths, members the schema
    does not describe (a newer service or botocore adds them) and unexpected content of the
    service's free-form ``metadata``. A backup keeps the latter and warns; only ``problems`` make a
    document invalid.
    """
    wrong: list[ValidationError] = []
    unknown: list[str] = []
    if _clean(name, document):
        return [], []
    for error in _validator(name).iter_errors(document):
        paths = _unknown_paths(name, error)
        if paths is None:
            wrong.append(error)
        else:
            unknown.extend(p for p in paths if p not in unknown)
    return _ranked(wrong), unknown


def _ranked(errors: list[ValidationError]) -> list[SchemaProblem]:
    if not errors:
        return []
    from jsonschema.exceptions import best_match, relevance

    best = best_match(errors)
    assert best is not None
    rest = sorted(errors, key=relevance, reverse=True)
    best_root = _root(best)
    ordered = [best, *(e for e in rest if e is not best_root)]
    seen: set[tuple[str, str]] = set()
    result: list[SchemaProblem] = []
    for error in ordered:
        problem = _problem(error)
        if (problem.path, problem.message) not in seen:
            seen.add((problem.path, problem.message))
            result.append(problem)
    return result


def check(name: SchemaName, document: object) -> None:
    """Raise :class:`MetadataInvalid` if ``document`` does not match the named schema.

    The message names the schema, the best problem's JSON path and what is wrong; ``problems``
    carries all of them, best first.
    """
    found = problems(name, document)
    if not found:
        return
    first = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    raise MetadataInvalid(
        f"{name} document does not match its schema at {first.path}: {first.message}{more}",
        schema=name,
        problems=found,
    )
