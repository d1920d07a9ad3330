"""Restore readiness: are the images the restored workflows need in the target's ECR?

HealthOmics runs only images from private ECR in the workflow's own region, so a restore into
another account or region gives back a workflow that fails at its first task unless its images
are there. :func:`check_readiness` lists, per workflow and version of a restore plan, every image
its bundle's inventory resolved (the reference HealthOmics pulls and its manifest digest at
backup time), where that reference points after the account and region mapping, and whether the
target's ECR holds that digest there (``DescribeImages``), and whether the store has it
archived (``backup --images copy``). :func:`push_missing` pushes the archived ones (``_push``).
:func:`point_at_targets` makes a restored workflow pull the pushed copies when its definition is
not rewritten: an ``imageMappings`` entry (source reference -> target reference) in its
container registry map. Nothing here raises for a missing image: it is a fact the restore decides on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .._errors import ArchiverError, BundleError, StoreError
from ..store import Store
from ._archive import read_bundle_manifest
from ._copy import _why
from ._oci import blob_key
from ._push import ImagePusher
from ._refs import parse_ecr
from ._resolve import EcrSettings, open_ecr_resolver

__all__ = [
    "NeededImage",
    "Readiness",
    "check_readiness",
    "point_at_targets",
    "prepare_images",
    "push_missing",
]

log = logging.getLogger("archiver.restore")


@dataclass(kw_only=True)
class NeededImage:
    """One image one workflow or version needs in the target."""

    workflow: str  # the plan item's label
    bundle: str
    source: str  # the private ECR reference HealthOmics pulled at backup time
    target: str  # where it points in the target, after the mapping
    digest: str
    direct: bool  # named as is in the definition (not through the container registry map)
    present: bool = False
    archived: bool = False
    pushed: bool = False
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "bundle": self.bundle,
            "source": self.source,
            "target": self.target,
            "digest": self.digest,
            "present": self.present,
            "archived": self.archived,
            "pushed": self.pushed,
            "reason": self.reason,
        }


@dataclass
class Readiness:
    images: list[NeededImage] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    push: dict[str, int] = field(default_factory=dict)

    @property
    def missing(self) -> list[NeededImage]:
        return [i for i in self.images if not i.present]

    def as_dict(self) -> dict[str, Any]:
        return {
            "needed": len({(i.target, i.digest) for i in self.images}),
            "missing": len({(i.target, i.digest) for i in self.missing}),
            "images": [i.as_dict() for i in self.images],
            "unreadable": list(self.unreadable),
            "push": dict(self.push),
        }


async def check_readiness(
    store: Store,
    items: Iterable[tuple[str, Mapping[str, Any]]],
    map_uri: Callable[[str], str],
    settings: EcrSettings,
    inventories: Mapping[str, Any] | None = None,
) -> Readiness:
    """``items``: ``(label, snapshot entry)`` of every planned create; ``map_uri`` the mapping;
    ``inventories``: the manifests' ``images`` members already read, by bundle key (the others
    are read from the store)."""
    readiness = Readiness()
    for label, entry in items:
        key = str(entry["key"])
        if inventories is not None and key in inventories:
            inventory = inventories[key]
        else:
            try:
                manifest = await read_bundle_manifest(store, key)
            except (BundleError, StoreError) as exc:
                readiness.unreadable.append(f"{key}: {exc.message}")
                continue
            inventory = manifest.get("images")
        entries = inventory.get("entries") if isinstance(inventory, dict) else None
        for found in entries if isinstance(entries, list) else []:
            if not isinstance(found, dict) or found.get("status") != "resolved":
                continue
            pull, digest = found.get("pullImage"), found.get("digest")
            if not isinstance(pull, str) or not isinstance(digest, str) or parse_ecr(pull) is None:
                continue
            readiness.images.append(
                NeededImage(
                    workflow=label,
                    bundle=key,
                    source=pull,
                    target=map_uri(pull),
                    digest=digest,
                    direct=found.get("mappedBy") is None,
                )
            )
    answers: dict[tuple[str, str], tuple[bool, str | None]] = {}
    async with open_ecr_resolver(settings) as resolver:
        for image in readiness.images:
            wanted = (image.target, image.digest)
            if wanted not in answers:
                answers[wanted] = await _present(resolver, image.target, image.digest, settings.region)
            image.present, image.reason = answers[wanted]
    archived: dict[str, bool] = {}
    for image in readiness.images:
        if image.digest not in archived:
            try:
                archived[image.digest] = await store.stat(blob_key(image.digest)) is not None
            except (StoreError, ValueError):
                archived[image.digest] = False
        image.archived = archived[image.digest]
    return readiness


async def _present(resolver: Any, reference: str, digest: str, region: str) -> tuple[bool, str | None]:
    target = parse_ecr(reference)
    if target is None:
        return False, "not a private ECR reference"
    if target.region != region:
        return False, f"the reference is in {target.region}; HealthOmics pulls only from ECR in {region}"
    try:
        client = await resolver.client()
        await client.describe_images(
            registryId=target.account, repositoryName=target.repository, imageIds=[{"imageDigest": digest}]
        )
    except ClientError as exc:
        return False, f"DescribeImages: {_why(exc)}"
    except BotoCoreError as exc:
        return False, f"DescribeImages failed: {_why(exc)}"
    return True, None


async def push_missing(
    store: Store, readiness: Readiness, settings: EcrSettings, target_account: str
) -> list[str]:
    """Push every missing image from the store into the target's ECR; the problems (none: all there)."""
    problems: list[str] = []
    done: dict[tuple[str, str], str | None] = {}
    async with open_ecr_resolver(settings) as resolver:
        pusher = ImagePusher(store, None)
        for image in readiness.missing:
            wanted = (image.target, image.digest)
            if wanted not in done:
                done[wanted] = await _push_one(pusher, resolver, image, target_account, settings.region)
                if done[wanted] is None:
                    log.info(
                        "pushed image %s@%s",
                        image.target,
                        image.digest,
                        extra={"event": "image-pushed", "image": image.target},
                    )
            why = done[wanted]
            if why is None:
                image.present = image.pushed = True
                image.reason = None
            elif why not in problems:
                problems.append(why)
        readiness.push = pusher.stats.as_dict()
    return problems


async def _push_one(
    pusher: ImagePusher, resolver: Any, image: NeededImage, account: str, region: str
) -> str | None:
    target = parse_ecr(image.target)
    if target is None or target.account != account or target.region != region:
        return (
            f"image {image.target} is not in the target's own ECR ({account} in {region}): it cannot be "
            "pushed there (map its account and region with --map-account/--map-region or --mapping)"
        )
    try:
        if pusher.client is None:
            pusher.client = await resolver.client()
        await pusher.push(target, image.digest)
    except ArchiverError as exc:
        return exc.message
    except asyncio.CancelledError:
        raise
    return None


def point_at_targets(
    images: Iterable[NeededImage], registry_map: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The container registry map with an ``imageMappings`` entry for every directly named image
    whose target reference differs from its source (the definition is not rewritten)."""
    moved = sorted({(i.source, i.target) for i in images if i.direct and i.target != i.source})
    if not moved:
        return dict(registry_map) if registry_map is not None else None
    out: dict[str, Any] = dict(registry_map or {})
    mappings = [dict(m) for m in out.get("imageMappings") or [] if isinstance(m, dict)]
    known = {m.get("sourceImage") for m in mappings}
    mappings += [{"sourceImage": s, "destinationImage": t} for s, t in moved if s not in known]
    out["imageMappings"] = mappings
    return out


async def prepare_images(
    store: Store,
    items: list[Any],
    *,
    policy: str,
    dry_run: bool,
    rewrite_images: bool,
    map_uri: Callable[[str], str],
    settings: EcrSettings,
    target_account: str,
    reissue: Callable[[Any], None],
    inventories: Mapping[str, Any] | None = None,
) -> tuple[Readiness, list[str]]:
    """The restore's image step: check, push (``policy == "push"``, not in a dry run), point.

    ``items`` are the plan items to be created (``label``, ``entry``, ``params``, ``warnings``);
    ``policy`` is ``require`` (missing images are problems: nothing is created), ``push`` or
    ``allow-missing`` (each item is warned). ``reissue(item)`` recomputes an item's request id
    after its container registry map changed; ``inventories`` as for :func:`check_readiness`.
    Returns the readiness and the problems.
    """
    readiness = await check_readiness(
        store, [(i.label, i.entry) for i in items], map_uri, settings, inventories
    )
    problems = [f"cannot read the image inventory of bundle {u}" for u in readiness.unreadable]
    if readiness.missing and policy == "push":
        unarchived = sorted({f"{i.source}@{i.digest}" for i in readiness.missing if not i.archived})
        if unarchived:
            problems.append(
                f"{len(unarchived)} missing image(s) are not archived in the store, so they cannot be "
                f"pushed (back up with --images copy): {', '.join(unarchived[:5])}"
            )
        elif not dry_run and not problems:
            problems += await push_missing(store, readiness, settings, target_account)
    elif readiness.missing and policy == "require":
        shown = sorted({f"{i.target}@{i.digest}" for i in readiness.missing})
        problems.append(
            f"{len(shown)} image(s) the restored workflows need are not in ECR of {target_account} in "
            f"{settings.region}: {', '.join(shown[:5])}{' ...' if len(shown) > 5 else ''}; pass "
            "--push-images to push the archived images there, or --allow-missing-images to restore "
            "anyway (runs will fail)"
        )
    by_label: dict[str, list[NeededImage]] = {}
    for image in readiness.images:
        by_label.setdefault(image.workflow, []).append(image)
    for item in items:
        needed = by_label.get(item.label, [])
        for image in needed:
            if not image.present and policy == "allow-missing":
                item.warnings.append(
                    f"image {image.target}@{image.digest} is not in the target's ECR ({image.reason}): "
                    "runs will fail at the tasks that use it"
                )
        if not rewrite_images:
            before = item.params.get("containerRegistryMap")
            after = point_at_targets(needed, before)
            if after != before and after is not None:
                item.params["containerRegistryMap"] = after
                reissue(item)
    return readiness, problems
