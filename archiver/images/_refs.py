"""Container image references: what registry, repository, tag or digest a reference names.

HealthOmics pulls only from private ECR in the workflow's region, so the question every other part
of the image inventory asks is "which private ECR image is this, if any?". :func:`parse_ecr` reads
``<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/<repository>[:tag][@sha256:<hex>]``;
:func:`normalize` spells any other reference in full (``ubuntu`` is
``docker.io/library/ubuntu:latest``), so that a reference in a definition can be compared with the
``sourceImage`` of an image mapping or the ``upstreamRegistryUrl`` of a registry mapping. Nothing
here talks to a network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["EcrImage", "normalize", "parse_ecr", "split_registry"]

_ECR = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)"
    r"\.amazonaws\.com(?:\.cn)?/(?P<repository>[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
_DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


@dataclass(frozen=True, slots=True)
class EcrImage:
    """One private ECR image: by digest when the reference pins one, else by tag (default ``latest``)."""

    account: str
    region: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def image_id(self) -> dict[str, str]:
        """The ECR ``ImageIdentifier`` that selects it (the digest wins over the tag)."""
        return {"imageDigest": self.digest} if self.digest else {"imageTag": self.tag or "latest"}


def parse_ecr(reference: str) -> EcrImage | None:
    """The private ECR image ``reference`` names, or ``None`` if it is not one."""
    match = _ECR.fullmatch(reference.strip())
    if match is None:
        return None
    tag, digest = match["tag"], match["digest"]
    return EcrImage(
        account=match["account"],
        region=match["region"],
        repository=match["repository"],
        tag=tag if tag or digest else "latest",
        digest=digest,
    )


def split_registry(reference: str) -> tuple[str, str]:
    """``(registry host, rest)``: the first path segment is a host if it has a ``.`` or ``:`` or is
    ``localhost`` (Docker's rule); otherwise the registry is Docker Hub."""
    first, sep, rest = reference.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower(), rest
    return "docker.io", reference


def normalize(reference: str) -> str:
    """``reference`` spelled in full: registry host, repository (``library/`` for official Docker
    Hub images), and ``:latest`` when it has neither tag nor digest."""
    host, rest = split_registry(reference.strip())
    if host in _DOCKER_HUB:
        host = "docker.io"
        if "/" not in rest:
            rest = "library/" + rest
    name = rest.split("@", 1)[0]
    if "@" not in rest and ":" not in name.rsplit("/", 1)[-1]:
        rest += ":latest"
    return f"{host}/{rest}"


def same_registry(host: str, upstream_url: str) -> bool:
    """Whether ``host`` is the registry an ``upstreamRegistryUrl`` names (scheme and path ignored)."""
    upstream = re.sub(r"^[a-z]+://", "", upstream_url.strip().lower()).split("/", 1)[0]
    if host in _DOCKER_HUB and upstream in _DOCKER_HUB:
        return True
    return host == upstream
