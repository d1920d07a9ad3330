"""A local AWS HealthOmics (workflows) emulator for tests, demos and benchmarks.

Stock boto3, aiobotocore and the AWS CLI talk to it over HTTP with ``endpoint_url`` set and host
prefix injection disabled, signing with SigV4 as for AWS; see docs/emulator.md. Everything else in
this package is private.
"""

from __future__ import annotations

from ._auth import Credential, CredentialsError, load_credentials
from ._config import DEFAULT_QUOTAS, EmulatorConfig, EmulatorStats, Faults
from ._emulator import Emulator, open_emulator
from ._seed import SeedError

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
