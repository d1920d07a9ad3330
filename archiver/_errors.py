"""The one exception tree of omics-archiver.

Every error the library raises on purpose derives from :class:`ArchiverError`; errors from botocore,
aiohttp and the file system are translated at the module boundary that talks to them, with
``raise ... from exc`` so the cause stays visible::

    ArchiverError
    ├── UsageError                 bad arguments or configuration (CLI exit 2)
    ├── ServiceError               a HealthOmics / STS call failed (translated from botocore)
    │   ├── AuthenticationError    the credentials or the request signature were refused; not retried
    │   ├── AccessDenied           includes "export of a shared workflow is refused"
    │   ├── ResourceNotFound
    │   ├── Throttled              still throttled after botocore's retries
    │   └── ServiceValidationError the service rejected our request
    ├── ExportError                downloading an exported definition or README failed
    │   └── ExportExpired          the presigned URL answered 403 (expired); ask for a new one
    ├── MetadataInvalid            metadata failed its JSON Schema (carries the errors)
    ├── StoreError                 the archive store failed
    │   ├── ObjectNotFound
    │   ├── ObjectExists           an immutable object is already there
    │   └── ObjectLocked           S3 Object Lock forbids deleting it yet
    ├── BundleError                a bundle is corrupt, truncated or of an unknown format version
    └── RestoreError               a restore step failed (carries the workflow it concerns)

Context travels as keyword-only attributes, never baked only into the message. No message may
contain a presigned URL or a credential: :func:`redact` strips query strings from URLs.
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = [
    "AccessDenied",
    "ArchiverError",
    "AuthenticationError",
    "BundleError",
    "ExportError",
    "ExportExpired",
    "ImageError",
    "MetadataInvalid",
    "ObjectExists",
    "ObjectLocked",
    "ObjectNotFound",
    "ResourceNotFound",
    "RestoreError",
    "SchemaProblem",
    "ServiceError",
    "ServiceValidationError",
    "StoreError",
    "Throttled",
    "UsageError",
    "redact",
]

_URL_QUERY = re.compile(r"(https?://[^\s?\"'<>]+)\?[^\s\"'<>]*")
_SECRET_PARAMS = re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s\"'<>]+", re.IGNORECASE)


def redact(text: str) -> str:
    """Remove query strings from URLs and any SigV4 query credential from ``text``.

    Presigned URLs carry credentials in their query string; nothing we log, print or store may
    contain one. Applied to every message built from foreign text (exception strings, bodies).
    """
    if "?" not in text and "=" not in text:  # what both patterns need: most text, every log line
        return text
    text = _URL_QUERY.sub(r"\1?<redacted>", text)
    return _SECRET_PARAMS.sub(r"\1<redacted>", text)


class ArchiverError(Exception):
    """Base class of every error omics-archiver raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(ArchiverError):
    """Bad arguments or configuration: the user must change the command."""


class ServiceError(ArchiverError):
    """A call to an AWS service failed after botocore's retries."""

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        code: str = "",
        status: int | None = None,
        resource: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.code = code
        self.status = status
        self.resource = resource


class AuthenticationError(ServiceError):
    """AWS refused who we are: no, unknown, expired or wrong credentials, or a bad signature.

    Also a signing time off by more than 15 minutes or a region the endpoint does not serve. Every
    further call would be refused the same way, so it is never retried and stops the command.
    """


class AccessDenied(ServiceError):
    """The caller may not do this (also: export of a workflow shared by another account)."""


class ResourceNotFound(ServiceError):
    """The workflow, version or share does not exist (or is not visible to the caller)."""


class Throttled(ServiceError):
    """Still throttled after botocore's retries: lower the rate or the concurrency."""


class ServiceValidationError(ServiceError):
    """The service rejected the request's parameters."""


class ExportError(ArchiverError):
    """Downloading an exported definition or README failed."""

    def __init__(self, message: str, *, resource: str, what: str) -> None:
        super().__init__(message)
        self.resource = resource
        self.what = what


class ExportExpired(ExportError):
    """The presigned URL was refused (403): it expired, so a fresh Get call is needed."""


class SchemaProblem:
    """One JSON Schema violation: where (a JSON path such as ``$.tags.owner``) and what."""

    __slots__ = ("message", "path")

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = redact(message)

    def __repr__(self) -> str:
        return f"SchemaProblem({self.path!r}, {self.message!r})"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class MetadataInvalid(ArchiverError):
    """Metadata failed validation against its JSON Schema."""

    def __init__(self, message: str, *, schema: str, problems: list[SchemaProblem]) -> None:
        super().__init__(message)
        self.schema = schema
        self.problems = problems


class StoreError(ArchiverError):
    """The archive store failed."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ObjectNotFound(StoreError):
    """The key does not exist in the store."""


class ObjectExists(StoreError):
    """An immutable object already exists under this key."""


class ObjectLocked(StoreError):
    """S3 Object Lock keeps this object until its retention date (or while a legal hold is on)."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        retain_until: datetime | None = None,
        legal_hold: bool = False,
    ) -> None:
        super().__init__(message, key=key)
        self.retain_until = retain_until
        self.legal_hold = legal_hold


class BundleError(ArchiverError):
    """A bundle is corrupt, truncated, or of a format version this tool cannot read."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ImageError(ArchiverError):
    """A container image could not be archived, read back or pushed (its reference in ``image``)."""

    def __init__(self, message: str, *, image: str | None = None) -> None:
        super().__init__(message)
        self.image = image


class RestoreError(ArchiverError):
    """A restore step failed."""

    def __init__(self, message: str, *, workflow: str | None = None) -> None:
        super().__init__(message)
        self.workflow = workflow
