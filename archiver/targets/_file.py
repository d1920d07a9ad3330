"""``backup --targets FILE``: the accounts, regions and roles of an org-wide backup, from YAML.

The file is user input: it is parsed with ``yaml.safe_load`` (JSON is YAML too), validated against
``schemas/targets.schema.json`` and then checked for what a schema cannot say (a role ARN in
another account, an account listed twice, an account without regions). Every problem is one
:class:`~archiver._errors.UsageError` naming the file and the JSON path, so a typo fails the run
before its first AWS call instead of silently skipping an account. The format, with an example,
is in ``examples/targets.yaml`` and the README.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .._errors import UsageError
from .._schema import _schema_text, json_path
from ._model import Filters, Target, role_arn_for

__all__ = ["load_targets", "parse_targets", "select_by_tags"]

_MAX_BYTES = 4 * 1024 * 1024


@functools.cache
def _validator() -> Draft202012Validator:
    document = json.loads(_schema_text("targets"))
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(document)


def load_targets(path: Path, *, default_regions: Sequence[str] = ()) -> tuple[Target, ...]:
    """Read and check a targets file; ``default_regions`` serve accounts the file gives none."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--targets {path}: cannot read it ({exc.strerror or exc})") from None
    if len(raw) > _MAX_BYTES:
        raise UsageError(f"--targets {path}: larger than {_MAX_BYTES // (1024 * 1024)} MiB")
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"--targets {path}: not valid YAML: {_one_line(str(exc))}") from None
    return parse_targets(document, where=f"--targets {path}", default_regions=default_regions)


def parse_targets(
    document: Any, *, where: str = "targets", default_regions: Sequence[str] = ()
) -> tuple[Target, ...]:
    """The targets of a decoded targets document, in file order (accounts, then their regions)."""
    error = best_match(_validator().iter_errors(document))
    if error is not None:
        raise UsageError(f"{where}: {json_path(error.absolute_path)}: {_one_line(error.message)}")
    assert isinstance(document, dict)
    top_regions = tuple(document.get("regions", ())) or tuple(default_regions)
    seen: set[str] = set()
    out: list[Target] = []
    for index, entry in enumerate(document["accounts"]):
        path = json_path(["accounts", index])
        account = str(entry["id"])
        if account in seen:
            raise UsageError(f"{where}: {path}: account {account} is listed twice")
        seen.add(account)
        regions = tuple(entry.get("regions", ())) or top_regions
        if not regions:
            raise UsageError(
                f"{where}: {path}: account {account} has no regions (give regions: for it, for the "
                "whole file, or --region)"
            )
        role = entry.get("role") or document.get("role_name")
        external_id = entry.get("external_id", document.get("external_id"))
        filters = entry.get("filters", {})
        for region in regions:
            role_arn = role_arn_for(account, str(role), region) if role else None
            if role_arn is not None and role_arn.split(":")[4] != account:
                raise UsageError(
                    f"{where}: {path}.role: {role_arn} is a role of account {role_arn.split(':')[4]}, "
                    f"not of {account}"
                )
            out.append(
                Target(
                    account=account,
                    region=region,
                    role_arn=role_arn,
                    external_id=external_id,
                    name=str(entry.get("name", "")),
                    filters=Filters(
                        workflow_ids=tuple(filters.get("workflow_ids", ())),
                        names=tuple(filters.get("names", ())),
                        tags=dict(filters.get("tags", {})),
                    ),
                    tags=dict(entry.get("tags", {})),
                )
            )
    return tuple(out)


def select_by_tags(targets: Sequence[Target], wanted: Mapping[str, str]) -> tuple[Target, ...]:
    """The targets whose account carries every ``wanted`` tag (``--target-tag KEY=VALUE``)."""
    return tuple(t for t in targets if all(t.tags.get(k) == v for k, v in wanted.items()))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
