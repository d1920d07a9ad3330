"""Re-export one damaged bundle's state from HealthOmics and write it anew, if the state is unchanged.

A repair is only honest if it restores *the same state*: the live workflow (or version) must still
have the uuid, digest and state id the snapshots recorded (the state id covers the sanitized
metadata and the README). Then its definition is exported again, a bundle is built and checked
locally, and it replaces the damaged object under the same key (an atomic rename in a file store,
a new object version on S3). If the rebuilt bytes differ from what the snapshots recorded (a
re-zipped export, another compression level), a repair note (:mod:`._notes`) is written first.
Anything else (the workflow changed, was deleted, belongs to another account or region, or the new
bundle does not verify) leaves the damaged bundle in place and is reported as unrepairable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._bundle import BundleSource, verify_bundle, write_bundle
from .._errors import ArchiverError
from .._jsonutil import parse_rfc3339
from .._layout import bundle_key, readme_sha256, sanitize_metadata, state_id
from ..store import Store
from ._notes import write_note

if TYPE_CHECKING:  # the caller opens both: a verify without --repair never imports the AWS SDK
    from .._aws import OmicsApi
    from .._download import Downloader

__all__ = ["RepairOutcome", "repair_bundle"]

_README_LIMIT = 1 << 20


@dataclass(frozen=True)
class RepairOutcome:
    key: str
    repaired: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "outcome": "repaired" if self.repaired else "unrepairable",
            "detail": self.detail,
        }


def _label(entry: Mapping[str, Any]) -> str:
    if entry.get("versionName"):
        return f"workflow {entry['workflowId']} version {entry['versionName']}"
    return f"workflow {entry['workflowId']}"


async def repair_bundle(
    api: OmicsApi,
    store: Store,
    key: str,
    entry: Mapping[str, Any],
    *,
    account: str,
    region: str,
    recorded: set[tuple[int, str]],
    work: Path,
    downloader: Downloader,
    now: datetime,
) -> RepairOutcome:
    """Repair bundle ``key`` that ``entry`` (of a snapshot of ``account``/``region``) lists."""
    label = _label(entry)

    def fail(why: str) -> RepairOutcome:
        return RepairOutcome(key, False, f"{label}: {why}")

    if api.region != region:
        return fail(f"the bundle is of region {region}, this run reaches {api.region} (give --region)")
    try:
        if entry["kind"] == "workflow":
            response = await api.get_workflow(str(entry["workflowId"]), export=True)
        else:
            response = await api.get_workflow_version(
                str(entry["workflowId"]), str(entry["versionName"]), export=True
            )
    except ArchiverError as exc:
        return fail(f"the live service cannot give it: {exc.message}")
    arn = str(response.get("arn", ""))
    parts = arn.split(":")
    if len(parts) < 5 or parts[4] != account:
        return fail(f"the live one ({arn or 'no ARN'}) is not of account {account}")
    try:
        meta = sanitize_metadata(response)
    except ValueError as exc:
        return fail(str(exc))
    readme = None
    if response.get("readme"):
        try:
            got = await downloader.fetch_bytes(
                str(response["readme"]), resource=label, what="README", limit=_README_LIMIT
            )
        except ArchiverError as exc:
            return fail(f"its README cannot be downloaded: {exc.message}")
        readme = got or None
    sid = state_id(meta, readme_sha256(readme))
    live = (str(meta.get("uuid")), str(meta.get("digest")), sid)
    archived = (str(entry["uuid"]), str(entry["digest"]), str(entry["stateId"]))
    if live != archived:
        return fail(
            f"its live state (uuid {live[0]}, digest {live[1]}, state {live[2]}) is not the archived one "
            f"(uuid {archived[0]}, digest {archived[1]}, state {archived[2]}): it cannot be exported again"
        )
    version_uuid = str(meta["uuid"]) if entry["kind"] != "workflow" else None
    rebuilt_key = bundle_key(
        workflow_uuid=str(entry["workflowUuid"]), version_uuid=version_uuid, digest=live[1], state_id=sid
    )
    if rebuilt_key != key:
        return fail(f"the live state maps to {rebuilt_key}, not to this key")
    if not response.get("definition"):
        return fail("the service returned no definition URL")
    definition = work / "repair-definition.zip"
    bundle = work / "repair.tar.zst"
    try:
        try:
            await downloader.fetch(str(response["definition"]), definition, resource=label, what="definition")
            source = BundleSource(
                kind="workflow" if entry["kind"] == "workflow" else "workflow-version",
                partition=parts[1],
                account=account,
                region=region,
                arn=arn,
                workflow_id=str(entry["workflowId"]),
                workflow_uuid=str(entry["workflowUuid"]),
                version_name=entry.get("versionName"),
                uuid=live[0],
                digest=live[1],
                creation_time=parse_rfc3339(str(meta.get("creationTime"))),
                status=str(meta.get("status", "")),
                name=str(meta.get("name", entry.get("name", ""))),
            )
            info = await asyncio.to_thread(
                write_bundle,
                bundle,
                source=source,
                state_id=sid,
                metadata=meta,
                definition=definition,
                readme=readme,
            )
        except (ArchiverError, ValueError) as exc:
            return fail(f"the state cannot be exported again: {getattr(exc, 'message', exc)}")
        problems = await asyncio.to_thread(verify_bundle, bundle)
        if problems:
            return fail(f"the rebuilt bundle does not verify: {problems[0]}")
        note = ""
        if (info.size, info.sha256) not in recorded:
            replaced = sorted(recorded)[0] if recorded else None
            note_at = await write_note(
                store, key, size=info.size, sha256=info.sha256, replaced=replaced, now=now
            )
            note = f"; new bytes (SHA-256 {info.sha256}), recorded in {note_at}"
        await store.put_file(key, bundle, if_absent=False)
        return RepairOutcome(
            key, True, f"{label}: re-exported and written anew{note or ' (the bytes the snapshots recorded)'}"
        )
    finally:
        definition.unlink(missing_ok=True)
        bundle.unlink(missing_ok=True)
