"""Names a package exports but imports only on first use (PEP 562's module ``__getattr__``).

A package whose modules talk to AWS (the S3 store backend, the ECR side of ``images``, the restore
drill) imports aiobotocore, botocore and aiohttp with them: ~0.4 s of CPU that a command reading
only a file store never needs. Such a package lists those names here and under ``TYPE_CHECKING``
(for mypy and readers), and sets ``__getattr__ = lazy_names(__name__, {...})``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``package.<where[name]>`` on first use
    of ``name`` and returns its attribute ``name``."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
