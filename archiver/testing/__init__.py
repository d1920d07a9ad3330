"""A local AWS HealthOmics (workflows) emulator for tests, demos and benchmarks.

Stock boto3, aiobotocore and the AWS CLI talk to it over HTTP with ``endpoint_url`` set and host
prefix injection disabled, signing with SigV4 as for AWS; see docs/emulator.md. Everything else in
this package is private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._auth import Credential, CredentialsError, load_credentials
from ._config import DEFAULT_QUOTAS, EmulatorConfig, EmulatorStats, Faults
from ._seed import SeedError

if TYPE_CHECKING:
    from ._emulator import Emulator, open_emulator

__all__ = [
    "DEFAULT_QUOTAS",
    "Credential",
    "CredentialsError",
    "Emulator",
    "EmulatorConfig",
    "EmulatorStats",
    "Faults",
    "SeedError",
    "load_credentials",
    "open_emulator",
]


def __getattr__(name: str) -> object:
    """The server (aiohttp.web and the handlers) is imported when first asked for, not when the
    CLI starts: every ``omics-archiver`` command registers the ``emulator`` subcommand's options."""
    if name in ("Emulator", "open_emulator"):
        from . import _emulator

        return getattr(_emulator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
