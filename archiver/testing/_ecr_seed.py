"""Seeded container images: ``<seed>/accounts/<account>/<region>/images.json``.

Images that exist in the emulated ECR when a test or demo starts (the format is documented in
docs/emulator.md). Their layers are generated, not real file systems: each layer is ``size`` bytes
drawn from a pseudo-random stream seeded with its ``content`` string, so the same seed file always
yields the same layer, config and manifest digests, in whatever account or region it is loaded.
Layers are written to the blob store a chunk at a time, so a seeded layer may be large.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._ecr import DOCKER_MANIFEST, EcrError
from ._ecr_state import Repository
from ._model import ApiError, validate_input

if TYPE_CHECKING:
    from ._server import Core

__all__ = ["load_images"]

_CHUNK = 1 << 20
_LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
_MAX_LAYER = 52_000 * 1024 * 1024  # "Maximum layer size: 52,000 MiB"


class _Bad(ValueError):
    pass


def _object(value: Any, where: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"{where} must be a JSON object")
    unknown = set(value) - allowed
    if unknown:
        raise _Bad(f"{where}: unknown key(s) {sorted(unknown)}")
    missing = required - set(value)
    if missing:
        raise _Bad(f"{where}: missing key(s) {sorted(missing)}")
    return value


def _generate_layer(core: Core, content: str, size: int) -> tuple[str, int]:
    """Write ``size`` pseudo-random bytes seeded by ``content`` to the blob store; digest and size."""
    rng = random.Random(content)
    digest = hashlib.sha256()
    fd, name = tempfile.mkstemp(dir=core.ecr_world.scratch_dir(), prefix="seed-")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            left = size
            while left:
                piece = rng.randbytes(min(_CHUNK, left))
                digest.update(piece)
                fh.write(piece)
                left -= len(piece)
        hexdigest = "sha256:" + digest.hexdigest()
        return hexdigest, core.ecr_world.adopt_blob(path, hexdigest)
    finally:
        path.unlink(missing_ok=True)


def _seed_image(core: Core, repo: Repository, spec: Any, where: str) -> None:
    spec = _object(spec, where, {"tags", "layers", "config"}, {"layers"})
    tags = spec.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _Bad(f"{where}.tags must be a list of strings")
    layers = spec["layers"]
    if not isinstance(layers, list) or not layers:
        raise _Bad(f"{where}.layers must be a non-empty list")
    described = []
    for index, layer in enumerate(layers):
        at = f"{where}.layers[{index}]"
        layer = _object(layer, at, {"size", "content"}, {"size"})
        size = layer["size"]
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= _MAX_LAYER:
            raise _Bad(f"{at}.size must be an integer from 1 to {_MAX_LAYER}")
        content = layer.get("content", f"{repo.name}:{tags[0] if tags else ''}:{index}")
        if not isinstance(content, str):
            raise _Bad(f"{at}.content must be a string")
        digest, size = _generate_layer(core, content, size)
        repo.layers[digest] = size
        described.append({"mediaType": _LAYER_TYPE, "size": size, "digest": digest})
    extra = spec.get("config", {})
    if not isinstance(extra, dict):
        raise _Bad(f"{where}.config must be a JSON object")
    config = {
        "architecture": "amd64",
        "os": "linux",
        **extra,
        "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in described]},
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest, config_size = core.ecr_world.put_blob(config_bytes)
    repo.layers[config_digest] = config_size
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": _CONFIG_TYPE, "size": config_size, "digest": config_digest},
        "layers": described,
    }
    text = json.dumps(manifest, indent=3)
    for tag in tags or [None]:
        core.ecr.push(repo, text, tag=tag)


def load_images(core: Core, account: str, region: str, path: Path) -> None:
    """Create the repositories and images of one ``images.json``; raises ``ValueError`` naming the problem."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    try:
        doc = _object(doc, "the document", {"repositories"}, {"repositories"})
        if not isinstance(doc["repositories"], list):
            raise _Bad("repositories must be a list")
        registry = core.ecr_world.registry(account, region)
        for index, spec in enumerate(doc["repositories"]):
            where = f"repositories[{index}]"
            spec = _object(spec, where, {"name", "imageTagMutability", "images"}, {"name"})
            params = {k: spec[k] for k in ("imageTagMutability",) if k in spec}
            validate_input("CreateRepository", {"repositoryName": spec["name"], **params}, service="ecr")
            name = str(spec["name"])
            repo = registry.repositories.get(name)
            if repo is None:
                repo = registry.repositories[name] = Repository(
                    name=name,
                    account=account,
                    region=region,
                    created_at=dt.datetime.now(dt.UTC),
                    tag_mutability=str(spec.get("imageTagMutability", "MUTABLE")),
                )
            images = spec.get("images", [])
            if not isinstance(images, list):
                raise _Bad(f"{where}.images must be a list")
            for number, image in enumerate(images):
                _seed_image(core, repo, image, f"{where}.images[{number}]")
    except _Bad as exc:
        raise ValueError(f"{path}: {exc}") from exc
    except EcrError as exc:
        raise ValueError(f"{path}: {exc.code}: {exc.message}") from exc
    except ApiError as exc:
        raise ValueError(f"{path}: {exc.message}") from exc
