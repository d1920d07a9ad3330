"""``diff``: what changed between two states of a workflow (or between two versions).

Why: before restoring or deleting, people ask "what is different in this state?" The answer is in
four places, compared separately: the metadata (every JSON leaf that differs, by JSON path), the
parameter template (parameters added, removed or changed), the files inside the definition ZIP
(added, removed, changed, with a unified diff of changed text files) and the README.

Everything is bounded: both bundles are streamed to temporary files, each definition ZIP is checked
first (:mod:`archiver._zipsafe`: a bad CRC or a member that lies about its size is an error naming
its bundle), ZIP members are hashed in chunks, and only text files up to :data:`TEXT_LIMIT` bytes
are read (in chunks) to be diffed, each diff
cut at ``max_lines`` lines and all of them together at ``max_total_lines``.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._bundle import BundleContents
from ._catalog import fetch_bundle
from ._errors import BundleError
from ._schema import json_path
from ._workdir import work_directory
from ._zipsafe import ZIP_ERRORS, open_zip, read_member, zip_problem
from .store import Store

__all__ = ["TEXT_LIMIT", "diff_bundles", "diff_definitions", "diff_json"]

TEXT_LIMIT = 1 << 20
_CHUNK = 1 << 20
_MISSING = object()


def _leaves(value: Any, path: tuple[str | int, ...], out: dict[tuple[str | int, ...], Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _leaves(item, (*path, str(key)), out)
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            _leaves(item, (*path, i), out)
    else:
        out[path] = value


def diff_json(a: Any, b: Any) -> list[dict[str, Any]]:
    """Every JSON leaf that differs: ``{"path": "$.tags.owner", "change": ..., "a": ..., "b": ...}``."""
    left: dict[tuple[str | int, ...], Any] = {}
    right: dict[tuple[str | int, ...], Any] = {}
    _leaves(a, (), left)
    _leaves(b, (), right)
    out = []
    for path in sorted(set(left) | set(right), key=lambda p: [str(x) for x in p]):
        va, vb = left.get(path, _MISSING), right.get(path, _MISSING)
        if va == vb and type(va) is type(vb):
            continue
        change = "added" if va is _MISSING else "removed" if vb is _MISSING else "changed"
        out.append(
            {
                "path": json_path(path),
                "change": change,
                "a": None if va is _MISSING else va,
                "b": None if vb is _MISSING else vb,
            }
        )
    return out


def _diff_parameters(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "added": {k: b[k] for k in sorted(set(b) - set(a))},
        "removed": {k: a[k] for k in sorted(set(a) - set(b))},
        "changed": {k: {"a": a[k], "b": b[k]} for k in sorted(set(a) & set(b)) if a[k] != b[k]},
    }


def _members(path: Path) -> dict[str, tuple[int, str]]:
    """ZIP member name -> (size, SHA-256), files only, hashed in chunks."""
    out: dict[str, tuple[int, str]] = {}
    with open_zip(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            digest = hashlib.sha256()
            with archive.open(info) as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
            out[info.filename] = (info.file_size, digest.hexdigest())
    return out


def _text(archive: zipfile.ZipFile, name: str) -> str | None:
    data = read_member(archive, archive.getinfo(name), TEXT_LIMIT)
    if data is None or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _unified(a: str, b: str, name_a: str, name_b: str, max_lines: int) -> tuple[list[str], bool]:
    lines: list[str] = []
    for line in difflib.unified_diff(a.splitlines(), b.splitlines(), name_a, name_b, lineterm=""):
        if len(lines) >= max_lines:
            return lines, True
        lines.append(line)
    return lines, False


def diff_definitions(
    path_a: Path, path_b: Path, *, max_lines: int = 200, max_total_lines: int = 5000
) -> dict[str, Any]:
    """Files added, removed and changed between two definition ZIPs (blocking; run it in a thread)."""
    ma, mb = _members(path_a), _members(path_b)
    added = [{"name": n, "size": mb[n][0]} for n in sorted(set(mb) - set(ma))]
    removed = [{"name": n, "size": ma[n][0]} for n in sorted(set(ma) - set(mb))]
    changed: list[dict[str, Any]] = []
    budget = max_total_lines
    with open_zip(path_a) as za, open_zip(path_b) as zb:
        for name in sorted(set(ma) & set(mb)):
            if ma[name] == mb[name]:
                continue
            entry: dict[str, Any] = {
                "name": name,
                "sizeA": ma[name][0],
                "sizeB": mb[name][0],
                "sha256A": ma[name][1],
                "sha256B": mb[name][1],
                "diff": [],
                "truncated": False,
            }
            ta, tb = _text(za, name), _text(zb, name)
            if ta is None or tb is None:
                entry["note"] = f"binary or larger than {TEXT_LIMIT} bytes: no text diff"
            elif budget <= 0:
                entry["note"] = "diff left out: the total diff limit was reached"
            else:
                entry["diff"], entry["truncated"] = _unified(
                    ta, tb, f"a/{name}", f"b/{name}", min(max_lines, budget)
                )
                budget -= len(entry["diff"])
            changed.append(entry)
    unchanged = len(set(ma) & set(mb)) - len(changed)
    return {"added": added, "removed": removed, "changed": changed, "unchanged": unchanged}


def _summary(key: str, contents: BundleContents) -> dict[str, Any]:
    src = contents.manifest["source"]
    return {
        "key": key,
        "kind": contents.manifest["kind"],
        "name": src["name"],
        "workflowId": src["workflowId"],
        "versionName": src["versionName"],
        "uuid": src["uuid"],
        "stateId": contents.manifest["stateId"],
        "digest": src["digest"],
        "account": src["account"],
        "region": src["region"],
    }


def _readme_diff(a: bytes | None, b: bytes | None, max_lines: int) -> dict[str, Any]:
    if a == b:
        return {"changed": False, "diff": [], "truncated": False}
    ta = (a or b"").decode("utf-8", "replace")
    tb = (b or b"").decode("utf-8", "replace")
    lines, truncated = _unified(ta, tb, "a/README.md", "b/README.md", max_lines)
    return {"changed": True, "added": a is None, "removed": b is None, "diff": lines, "truncated": truncated}


async def diff_bundles(
    store: Store, key_a: str, key_b: str, *, max_lines: int = 200, work_dir: Path | None = None
) -> dict[str, Any]:
    """Compare the bundles ``key_a`` and ``key_b``; see the module docstring for what is compared."""
    with work_directory("diff", work_dir) as tmp:
        work = Path(tmp)
        def_a, def_b = work / "a.zip", work / "b.zip"
        a, b = await asyncio.gather(
            fetch_bundle(store, key_a, work, definition_to=def_a),
            fetch_bundle(store, key_b, work, definition_to=def_b),
        )
        same_digest = a.manifest["source"]["digest"] == b.manifest["source"]["digest"]
        if same_digest:
            definition: dict[str, Any] = {"added": [], "removed": [], "changed": [], "unchanged": None}
        else:
            for key, path in ((key_a, def_a), (key_b, def_b)):
                why = await asyncio.to_thread(zip_problem, path)
                if why:
                    raise BundleError(f"the definition in bundle {key} {why}", key=key)
            try:
                definition = await asyncio.to_thread(diff_definitions, def_a, def_b, max_lines=max_lines)
            except ZIP_ERRORS as exc:
                raise BundleError(
                    f"the definitions of {key_a} and {key_b} cannot be compared: {exc}"
                ) from exc
    meta_a = {k: v for k, v in a.metadata.items() if k != "parameterTemplate"}
    meta_b = {k: v for k, v in b.metadata.items() if k != "parameterTemplate"}
    metadata = diff_json(meta_a, meta_b)
    params = _diff_parameters(a.parameter_template, b.parameter_template)
    readme = _readme_diff(a.readme, b.readme, max_lines)
    identical = not (
        metadata
        or any(params.values())
        or readme["changed"]
        or any(definition[k] for k in ("added", "removed", "changed"))
    )
    return {
        "a": _summary(key_a, a),
        "b": _summary(key_b, b),
        "identical": identical,
        "metadata": metadata,
        "parameterTemplate": params,
        "definition": {"sameDigest": same_digest, **definition},
        "readme": readme,
    }
