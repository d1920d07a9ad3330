"""Moving private ECR image references from one account or region to another.

A private ECR image URI names its account and region (``<account>.dkr.ecr.<region>.amazonaws.com/
repo:tag``), and so does a workflow's container registry map (``registryMappings[].ecrAccountId``,
``imageMappings[].destinationImage``). A workflow migrated to another account or region still pulls
from the old registry unless those references move too, or the old registry grants the new account
pull access (which works within one region only). This module owns that rewriting:

* :class:`EcrMapping` maps accounts and regions (``--map-account``, ``--map-region``);
* :func:`rewrite_registry_map` rewrites a container registry map (the definition's digest is
  unaffected);
* :func:`rewrite_definition` rewrites the URIs inside a definition ZIP's text files and rebuilds
  the ZIP deterministically (the same input always gives the same bytes; the digest changes);
* :func:`find_references` lists the references that remain, so the plan can warn about them.

Every change is reported as a :class:`Rewrite` naming the file (or registry-map path) and line.
Pure functions on local files; no I/O beyond the two ZIP paths.
"""

from __future__ import annotations

import copy
import re
import shutil
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .._zipsafe import open_zip, read_member

__all__ = [
    "REGISTRY_MAP",
    "EcrMapping",
    "EcrReference",
    "Rewrite",
    "find_references",
    "registry_map_references",
    "rewrite_definition",
    "rewrite_registry_map",
]

REGISTRY_MAP = "containerRegistryMap"
# <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn][/repository[:tag|@digest]]
_ECR = re.compile(
    r"(?P<account>\b[0-9]{12})\.dkr\.ecr(?P<fips>-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9])"
    r"\.amazonaws\.com(?P<cn>\.cn)?(?P<path>/[A-Za-z0-9._/:@+-]*)?"
)
_ACCOUNT = re.compile(r"^[0-9]{12}$")
# Members larger than this are copied unchanged: definitions are text, and a multi-megabyte member
# is data (a reference genome index, a jar) that holds no image URI worth rewriting.
_MAX_TEXT_MEMBER = 8 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class EcrMapping:
    """Which accounts and regions move where; empty maps change nothing."""

    accounts: Mapping[str, str] = field(default_factory=dict)
    regions: Mapping[str, str] = field(default_factory=dict)
    # from a mapping file (archiver.mapping): whole registries, repository prefixes, secrets, connections
    registries: Mapping[str, str] = field(default_factory=dict)
    repository_prefixes: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict)
    connections: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.accounts
            or self.regions
            or self.registries
            or self.repository_prefixes
            or self.credentials
            or self.connections
        )

    def map_repository(self, repository: str) -> str:
        """``repository`` with its longest prefix in ``repository_prefixes`` replaced."""
        for prefix in sorted(self.repository_prefixes, key=len, reverse=True):
            if repository.startswith(prefix):
                return self.repository_prefixes[prefix] + repository[len(prefix) :]
        return repository

    def map_uri(self, text: str) -> str:
        """``text`` with every ECR host in it moved to the mapped account and region."""
        return _ECR.sub(self._replace, text)

    def _replace(self, m: re.Match[str]) -> str:
        path = m["path"] or ""
        if len(path) > 1 and self.repository_prefixes:
            path = "/" + self.map_repository(path[1:])
        host = f"{m['account']}.dkr.ecr{m['fips'] or ''}.{m['region']}.amazonaws.com{m['cn'] or ''}"
        if host in self.registries:
            return self.registries[host] + path
        account = self.accounts.get(m["account"], m["account"])
        region = self.regions.get(m["region"], m["region"])
        return f"{account}.dkr.ecr{m['fips'] or ''}.{region}.amazonaws.com{m['cn'] or ''}{path}"


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One rewritten reference: where (a definition file and line, or a registry-map JSON path)."""

    file: str
    line: int | None
    old: str
    new: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class EcrReference:
    """One private ECR reference found in a definition or a registry map."""

    file: str
    line: int | None
    uri: str
    account: str
    region: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "uri": self.uri,
            "account": self.account,
            "region": self.region,
        }


# -- container registry map -------------------------------------------------------------------------


def rewrite_registry_map(
    registry_map: Mapping[str, Any] | None, mapping: EcrMapping
) -> tuple[dict[str, Any] | None, list[Rewrite]]:
    """A rewritten deep copy of ``registry_map`` and the list of changes.

    ``registryMappings[].ecrAccountId`` follows the account map; every string holding an ECR URI
    (``imageMappings[].destinationImage`` above all) follows both maps.
    """
    if registry_map is None:
        return None, []
    out: dict[str, Any] = copy.deepcopy(dict(registry_map))
    changes: list[Rewrite] = []
    if not mapping:
        return out, changes
    for i, entry in enumerate(out.get("registryMappings") or []):
        if isinstance(entry, dict) and isinstance(entry.get("ecrAccountId"), str):
            old = entry["ecrAccountId"]
            new = mapping.accounts.get(old, old)
            if new != old:
                entry["ecrAccountId"] = new
                changes.append(Rewrite(f"{REGISTRY_MAP}.registryMappings[{i}].ecrAccountId", None, old, new))
        if isinstance(entry, dict) and isinstance(entry.get("credentialArn"), str):
            old = entry["credentialArn"]
            new = mapping.credentials.get(old, old)
            if new != old:
                entry["credentialArn"] = new
                changes.append(Rewrite(f"{REGISTRY_MAP}.registryMappings[{i}].credentialArn", None, old, new))
        if isinstance(entry, dict) and isinstance(entry.get("ecrRepositoryPrefix"), str):
            old = entry["ecrRepositoryPrefix"]
            new = mapping.map_repository(old.strip("/") + "/").rstrip("/") if old.strip("/") else old
            if new != old.strip("/") and new != old:
                entry["ecrRepositoryPrefix"] = new
                changes.append(
                    Rewrite(f"{REGISTRY_MAP}.registryMappings[{i}].ecrRepositoryPrefix", None, old, new)
                )
    for path, parent, key, value in _strings(out, REGISTRY_MAP):
        new = mapping.map_uri(value)
        if new != value:
            parent[key] = new
            changes.append(Rewrite(path, None, value, new))
    return out, changes


def _strings(value: Any, path: str) -> Iterator[tuple[str, Any, Any, str]]:
    """Every string inside ``value`` as (JSON path, container, key, string)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield f"{path}.{key}", value, key, item
            else:
                yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield f"{path}[{i}]", value, i, item
            else:
                yield from _strings(item, f"{path}[{i}]")


def registry_map_references(registry_map: Mapping[str, Any] | None) -> list[EcrReference]:
    """The ECR accounts and URIs a registry map names (``ecrAccountId`` as a bare account)."""
    refs: list[EcrReference] = []
    if not registry_map:
        return refs
    for i, entry in enumerate(registry_map.get("registryMappings") or []):
        if isinstance(entry, dict) and _ACCOUNT.match(str(entry.get("ecrAccountId", ""))):
            account = str(entry["ecrAccountId"])
            refs.append(
                EcrReference(f"{REGISTRY_MAP}.registryMappings[{i}].ecrAccountId", None, account, account, "")
            )
    for path, _parent, _key, value in _strings(registry_map, REGISTRY_MAP):
        for m in _ECR.finditer(value):
            refs.append(EcrReference(path, None, m.group(0), m["account"], m["region"]))
    return refs


# -- definition ZIP ---------------------------------------------------------------------------------


def _text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _members(archive: zipfile.ZipFile) -> Iterator[tuple[zipfile.ZipInfo, str | None]]:
    """Each member and, for a small UTF-8 text file, its text."""
    for info in archive.infolist():
        data = None if info.is_dir() else read_member(archive, info, _MAX_TEXT_MEMBER)
        yield info, None if data is None else _text(data)


def find_references(definition: Path | IO[bytes]) -> list[EcrReference]:
    """Every private ECR URI in the text files of a definition ZIP, with file and line."""
    refs: list[EcrReference] = []
    with open_zip(definition) as archive:
        for info, text in _members(archive):
            if text is None:
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                for m in _ECR.finditer(line):
                    refs.append(EcrReference(info.filename, number, m.group(0), m["account"], m["region"]))
    return refs


def _rewrite_text(name: str, text: str, mapping: EcrMapping) -> tuple[str, list[Rewrite]]:
    changes: list[Rewrite] = []
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        for m in _ECR.finditer(line):
            new = mapping.map_uri(m.group(0))
            if new != m.group(0):
                changes.append(Rewrite(name, number, m.group(0), new))
        if changes and changes[-1].line == number:
            lines[number - 1] = mapping.map_uri(line)
    return "".join(lines), changes


def rewrite_definition(source: Path, target: Path, mapping: EcrMapping) -> list[Rewrite]:
    """Write ``source`` with its ECR URIs mapped to ``target``; return the changes.

    When nothing changes, ``target`` is a byte-for-byte copy (the digest is kept). Otherwise the ZIP
    is rebuilt member by member in the original order, keeping each member's name, timestamp,
    permissions and compression, so the same input and mapping always give the same bytes.
    """
    changes: list[Rewrite] = []
    rewritten: dict[str, bytes] = {}
    with open_zip(source) as archive:
        if mapping:
            for info, text in _members(archive):
                if text is None:
                    continue
                new_text, found = _rewrite_text(info.filename, text, mapping)
                if found:
                    changes.extend(found)
                    rewritten[info.filename] = new_text.encode("utf-8")
        if not rewritten:
            shutil.copyfile(source, target)
            return changes
        with zipfile.ZipFile(target, "w", allowZip64=True) as out:
            for info in archive.infolist():
                clone = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                clone.compress_type = info.compress_type
                clone.external_attr = info.external_attr
                clone.create_system = info.create_system
                clone.comment = info.comment
                if info.filename in rewritten or info.is_dir():
                    out.writestr(clone, rewritten.get(info.filename, b""))
                    continue
                clone.file_size = info.file_size
                with (
                    archive.open(info) as src,
                    out.open(clone, "w", force_zip64=info.file_size > 2**31) as dst,
                ):
                    shutil.copyfileobj(src, dst, 1 << 20)
    return changes
