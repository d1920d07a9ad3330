"""The compiled schema checks (``archiver._schema_fast``) give jsonschema's verdict, document for
document: on every schema's valid examples (the test fixtures and the JSON examples of
docs/format.md) and on thousands of mutations of them (a member removed, retyped, replaced by a
near-miss value, an unknown member added, an item appended). A check that accepted what the schema
refuses would let a bad document into the archive: each mismatch is reported with its document."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from archiver import _schema
from archiver._layout import sanitize_metadata
from archiver._schema_fast import Unsupported, compile_schema, equal

from .test_schema import manifest_document, snapshot_document, version_response, workflow_response

_ROOT = Path(__file__).resolve().parent.parent
_PROBES: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 1.5, 10**13, "", "x", "A" * 300, "ACTIVE",
    "2024-05-01T12:30:15Z", "2024-05-01 12:30", "0123456789abcdef0123456789abcdef", [], ["x"], {}, {"a": 1},
]  # fmt: skip


def _docs_examples() -> dict[str, list[Any]]:
    """The complete JSON examples of docs/format.md, by the schema they claim to follow (those with
    placeholders such as ``<64 hex digits>`` are not documents and are left out)."""
    by_format = {
        "omics-archiver-bundle": "manifest",
        "omics-archiver-snapshot": "snapshot",
        "omics-archiver-store": "store-config",
    }
    found: dict[str, list[Any]] = {}
    text = (_ROOT / "docs/format.md").read_text(encoding="utf-8")
    for block in re.findall(r"```json\n(.*?)```", text, flags=re.S):
        try:
            doc = json.loads(block)
        except json.JSONDecodeError:
            continue  # an excerpt, not a whole document
        name = by_format.get(doc.get("format")) if isinstance(doc, dict) else None
        if name and _schema._validator(name).is_valid(doc):  # type: ignore[arg-type]
            found.setdefault(name, []).append(doc)
    return found


def _verify_record() -> dict[str, Any]:
    """A record as ``verify`` writes it, of a run that found a problem in one target."""
    from datetime import UTC, datetime

    from archiver._verify import VerifyReport
    from archiver.verifications import build_record

    started = datetime(2026, 11, 30, 6, tzinfo=UTC)
    report = VerifyReport(store="file:///x", started_at=started, finished_at=started, read_data_percent=10.0)
    report.snapshots, report.bundles, report.referenced = 2, 3, 3
    report.targets = {("aws", "123456789012", "us-east-1"): {"snapshots": 2, "bundles": 3}}
    report.images = {"blobs": 1, "referenced": 1, "blobsRead": 0, "bytesRead": 0}
    report.add("bundles/x.tar.zst", "the bundle is missing", "snapshots/aws/123456789012/us-east-1/a.json")
    return build_record(
        report, verify_id="20261130T060000000000Z-1a2b3c4d", seed=1, repair=False, exit_code=1
    )


def _valid_documents() -> list[tuple[_schema.SchemaName, Any]]:
    docs: list[tuple[_schema.SchemaName, Any]] = [
        ("workflow", sanitize_metadata(workflow_response())),
        ("workflow-version", sanitize_metadata(version_response())),
        ("manifest", manifest_document()),
        ("snapshot", snapshot_document()),
        ("restore-mapping", yaml.safe_load((_ROOT / "examples/restore-mapping.yaml").read_text())),
        ("verify-record", _verify_record()),
    ]
    for name, found in _docs_examples().items():
        docs.extend((name, d) for d in found)  # type: ignore[misc]
    return docs


def _paths(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _paths(value, (*path, i))


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _mutations(doc: Any) -> Iterator[Any]:
    for path in _paths(doc):
        value = _get(doc, path)
        replacements = list(_PROBES)
        if isinstance(value, str):
            replacements += [value + "!", value.upper(), value[:-1], value + value[-1:] * 2]
        if isinstance(value, int | float) and not isinstance(value, bool):
            replacements += [value + 1, value - 1, -value, float(value)]
        for new in replacements:
            if path:
                mutated = copy.deepcopy(doc)
                _get(mutated, path[:-1])[path[-1]] = new
                yield mutated
        if path and isinstance(_get(doc, path[:-1]), dict):
            mutated = copy.deepcopy(doc)
            del _get(mutated, path[:-1])[path[-1]]
            yield mutated
        if isinstance(value, dict):
            mutated = copy.deepcopy(doc)
            _get(mutated, path)["novelMember"] = "x"
            yield mutated
        if isinstance(value, list):
            for extra in (*value[:1], "x", {}):
                mutated = copy.deepcopy(doc)
                _get(mutated, path).append(copy.deepcopy(extra))
                yield mutated


def test_every_schema_compiles() -> None:
    for name in _schema.SCHEMA_NAMES:
        assert _schema._compiled(name) is not None, name


@pytest.mark.parametrize("index", range(len(_valid_documents())))
def test_compiled_checks_agree_with_jsonschema(index: int) -> None:
    name, doc = _valid_documents()[index]
    compiled, reference = _schema._compiled(name), _schema._validator(name)
    assert compiled is not None
    assert reference.is_valid(doc) and compiled(doc), f"the {name} example must be valid"
    checked = rejected = 0
    for mutated in _mutations(doc):
        verdict = reference.is_valid(mutated)
        assert compiled(mutated) == verdict, (name, verdict, mutated)
        checked += 1
        rejected += not verdict
    assert rejected > checked // 3, "the mutations must exercise the rules, not only pass"


def test_a_keyword_it_does_not_know_is_refused_not_ignored() -> None:
    for schema in (
        {"type": "object", "dependentRequired": {"a": ["b"]}},
        {"$ref": "#/$defs/x"},
        {"items": [{"type": "string"}]},
        {"type": "nonsense"},
        {"properties": {"a": {"contains": {"const": 1}}}},
    ):
        with pytest.raises(Unsupported):
            compile_schema(schema)


def test_json_equality_as_jsonschema_has_it() -> None:
    assert not equal(True, 1) and not equal(0, False) and equal(1, 1.0)
    assert equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not equal(["1"], [1]) and not equal({"a": 1}, {"a": 1, "b": 2})
    check = compile_schema({"enum": [1, "x", None]})
    assert check(1.0) and check("x") and check(None) and not check(True)
    assert compile_schema({"type": "integer"})(2.0) and not compile_schema({"type": "integer"})(True)
