"""Where and how to reach AWS: the settings every AWS client of the archiver is made from.

Apart from ``_aws`` so that the command line can build them without importing the AWS SDK: a
command that reads only a file store (``list``, ``show``, ``verify``...) never imports aiobotocore,
botocore or aiohttp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._ratelimit import DEFAULT_RATES

__all__ = ["AwsSettings"]


@dataclass(frozen=True, kw_only=True)
class AwsSettings:
    """Where and how to reach HealthOmics.

    ``endpoint_url`` points the omics client elsewhere (the emulator); host-prefix injection is
    then disabled, since ``workflows-<host>`` would not resolve. ``sts_endpoint_url`` likewise for
    STS, used only to learn the account when it cannot be read from an ARN, and
    ``ecr_endpoint_url`` for ECR, asked for the digests of the workflows' images (``archiver.images``).
    """

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    sts_endpoint_url: str | None = None
    ecr_endpoint_url: str | None = None  # ECR, asked for the image inventory (archiver.images)
    max_attempts: int = 8  # for server errors and dropped connections
    connect_attempts: int = 4  # for an endpoint that cannot be reached at all
    throttle_patience: float = 900.0  # seconds a throttled call keeps being retried
    backoff_base: float = 0.25
    backoff_cap: float = 8.0
    max_pool_connections: int = 32
    connect_timeout: float = 3.0
    read_timeout: float = 60.0
    rates: Mapping[str, float] | None = field(default_factory=lambda: dict(DEFAULT_RATES))
    allow_unknown_region: bool = False
    # Credentials to sign with instead of the profile's: an assumed role's, refreshed before they
    # expire (archiver.targets). Never printed: excluded from repr and comparison.
    credentials: Any = field(default=None, repr=False, compare=False)
