"""omics-archiver: back up AWS HealthOmics private workflows into immutable bundles, and restore them."""

from __future__ import annotations

from ._errors import (
    AccessDenied,
    ArchiverError,
    AuthenticationError,
    BundleError,
    ExportError,
    ExportExpired,
    MetadataInvalid,
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    ResourceNotFound,
    RestoreError,
    ServiceError,
    ServiceValidationError,
    StoreError,
    Throttled,
    UsageError,
)
from ._version import __version__

__all__ = [
    "AccessDenied",
    "ArchiverError",
    "AuthenticationError",
    "BundleError",
    "ExportError",
    "ExportExpired",
    "MetadataInvalid",
    "ObjectExists",
    "ObjectLocked",
    "ObjectNotFound",
    "ResourceNotFound",
    "RestoreError",
    "ServiceError",
    "ServiceValidationError",
    "StoreError",
    "Throttled",
    "UsageError",
    "__version__",
]
