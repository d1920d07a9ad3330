"""SigV4 authentication of the emulator's AWS APIs, checked the way an AWS front end checks it.

Without it any request was served, so a client that never signs, signs for the wrong service or
region, or has no credentials at all (a worker process that did not inherit them) passed every test.
:func:`authenticate` reads a request's ``Authorization`` header and answers who is calling, or raises
:class:`AuthFailure` with the error an AWS endpoint sends:

- no ``Authorization`` header: ``MissingAuthenticationTokenException``;
- a header that is not ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`` with
  a five-part scope, no ``X-Amz-Date``, or ``host`` not signed: ``IncompleteSignatureException``;
- a scope whose service is not the API's signing name (``omics``, ``sts``), whose region the
  endpoint does not serve, whose date is not the request's, a signing time more than 15 minutes
  from the emulator's clock, or a signature that does not match: ``InvalidSignatureException``;
- an access key the emulator does not know, or a session token that does not belong to it:
  ``UnrecognizedClientException``;
- temporary credentials (issued by the emulator's STS AssumeRole, passed as ``sessions``) past
  their expiry: ``ExpiredTokenException``.

Which secrets are known: with a credentials file (:func:`load_credentials`), exactly its access keys,
and the signature is recomputed from the request (canonical request, string to sign, derived key)
and compared. Without one, any 12-digit access key id is accepted as its own account, but no
signature can be verified (the secret is unknown): only its shape, scope and date are checked.

The canonical request follows what botocore sends for non-S3 services: the raw path URI-encoded
once more (so ``%2F`` in a label signs as ``%252F``), the query's pairs decoded, re-encoded with
RFC 3986 unreserved characters and sorted (repeated keys such as ``export`` by value), the signed
headers in the order the client listed them with their values' whitespace folded, and the SHA-256 of
the body actually received (a differing ``x-amz-content-sha256`` claim therefore fails to verify).
Query-string (presigned) authentication of API requests is not supported.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import botocore.session
from botocore.utils import normalize_url_path

__all__ = [
    "MAX_SKEW_SECONDS",
    "STS_CODES",
    "AuthFailure",
    "Credential",
    "CredentialsError",
    "Identity",
    "authenticate",
    "aws_region",
    "load_credentials",
    "omics_regions",
]

MAX_SKEW_SECONDS = 15 * 60
_ALGORITHM = "AWS4-HMAC-SHA256"
_ACCOUNT = re.compile(r"[0-9]{12}")
_ACCESS_KEY = re.compile(r"[A-Za-z0-9_+=-]{1,128}")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"

MISSING = "MissingAuthenticationTokenException"
INCOMPLETE = "IncompleteSignatureException"
INVALID = "InvalidSignatureException"
UNRECOGNIZED = "UnrecognizedClientException"
EXPIRED = "ExpiredTokenException"

_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
_BAD_TOKEN = "The security token included in the request is invalid."


@dataclass(frozen=True, kw_only=True)
class Credential:
    """One entry of a credentials file: the secret of an access key, its account and session token."""

    secret_access_key: str
    account_id: str
    session_token: str | None = None
    expires_at: float | None = None

    def __repr__(self) -> str:  # never show a secret in a test failure or a log
        token = "set" if self.session_token else None
        return f"Credential(account_id={self.account_id!r}, session_token={token})"


@dataclass(frozen=True, kw_only=True)
class Identity:
    """Who signed a request: the access key, its account, the scope's region and the session token."""

    access_key: str
    account: str
    region: str
    session_token: str | None = None


class AuthFailure(Exception):
    """A request the endpoint refuses before serving it: the error code (omics naming) and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CredentialsError(ValueError):
    """A credentials file that cannot be used; the message names the file and the problem."""


def load_credentials(path: Path) -> dict[str, Credential]:
    """Read a credentials file (see docs/emulator.md); :class:`CredentialsError` names what is wrong.

    The file is a JSON object ``{"<access key id>": {"secret_access_key": ..., "account_id": ...,
    "session_token": ...}}``, the token optional.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CredentialsError(f"cannot read credentials file {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise CredentialsError(f"credentials file {path} is not valid JSON: {exc}") from None
    return credentials_from_json(data, where=str(path))


def credentials_from_json(data: Any, *, where: str = "credentials") -> dict[str, Credential]:
    """Validate the decoded JSON of a credentials file (see :func:`load_credentials`)."""
    if not isinstance(data, dict) or not data:
        raise CredentialsError(f"{where}: expected a non-empty JSON object of access key ids")
    out: dict[str, Credential] = {}
    for key, entry in data.items():
        if not _ACCESS_KEY.fullmatch(key):
            raise CredentialsError(f"{where}: {key!r} is not a valid access key id")
        if not isinstance(entry, dict):
            raise CredentialsError(f"{where}: the entry of {key} must be an object")
        unknown = set(entry) - {"secret_access_key", "account_id", "session_token"}
        if unknown:
            raise CredentialsError(f"{where}: the entry of {key} has unknown fields {sorted(unknown)}")
        secret, account, token = (
            entry.get("secret_access_key"),
            entry.get("account_id"),
            entry.get("session_token"),
        )
        if not isinstance(secret, str) or not secret:
            raise CredentialsError(f"{where}: the entry of {key} needs a non-empty secret_access_key")
        if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
            raise CredentialsError(f"{where}: the account_id of {key} must be a string of 12 digits")
        if token is not None and (not isinstance(token, str) or not token):
            raise CredentialsError(f"{where}: the session_token of {key} must be a non-empty string")
        out[key] = Credential(secret_access_key=secret, account_id=account, session_token=token)
    return out


@functools.cache
def omics_regions() -> frozenset[str]:
    """The regions botocore's endpoint data lists for HealthOmics (FIPS pseudo-regions left out)."""
    data = botocore.session.get_session().get_data("endpoints")
    regions: set[str] = set()
    for partition in data.get("partitions", []):
        service = partition.get("services", {}).get("omics", {})
        regions.update(r for r in service.get("endpoints", {}) if "fips" not in r)
    return frozenset(regions)


@functools.cache
def _partition_patterns() -> tuple[re.Pattern[str], ...]:
    data = botocore.session.get_session().get_data("endpoints")
    return tuple(re.compile(p["regionRegex"]) for p in data.get("partitions", []) if p.get("regionRegex"))


def aws_region(name: str) -> bool:
    """Whether ``name`` is shaped like a region of some AWS partition (``us-east-1``, ``cn-north-1``)."""
    return any(pattern.fullmatch(name) for pattern in _partition_patterns())


def _parse(header: str) -> tuple[list[str], list[str], str]:
    """Credential scope parts, signed header names and signature of an Authorization header."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != _ALGORITHM:
        raise AuthFailure(INCOMPLETE, f"Unsupported Authorization algorithm; only {_ALGORITHM} is accepted.")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq:
            raise AuthFailure(
                INCOMPLETE,
                f"'{name[:40]}' not a valid key=value pair (missing equal-sign) in Authorization header.",
            )
        fields[name] = value
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    if missing:
        raise AuthFailure(INCOMPLETE, " ".join(missing))
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        raise AuthFailure(
            INCOMPLETE,
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term.",
        )
    if scope[4] != "aws4_request":
        raise AuthFailure(
            INVALID,
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{scope[4][:40]}'.",
        )
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed:
        raise AuthFailure(
            INCOMPLETE, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    if not re.fullmatch(r"[0-9a-f]{64}", fields["Signature"]):
        raise AuthFailure(INCOMPLETE, "Signature must be 64 lowercase hexadecimal characters.")
    return scope, signed, fields["Signature"]


def _check_time(amz_date: str, scope_date: str, now: float) -> None:
    try:
        signed_at = dt.datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=dt.UTC)
    except ValueError:
        raise AuthFailure(
            INCOMPLETE, f"X-Amz-Date must be in the ISO-8601 basic format {_AMZ_DATE}."
        ) from None
    if scope_date != amz_date[:8]:
        raise AuthFailure(
            INVALID,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date[:16]}' != '{amz_date[:8]}', from '{amz_date}'.",
        )
    server = dt.datetime.fromtimestamp(now, dt.UTC)
    skew = dt.timedelta(seconds=MAX_SKEW_SECONDS)
    if signed_at < server - skew:
        raise AuthFailure(
            INVALID,
            f"Signature expired: {amz_date} is now earlier than {server - skew:{_AMZ_DATE}} "
            f"({server:{_AMZ_DATE}} - 15 min.)",
        )
    if signed_at > server + skew:
        raise AuthFailure(
            INVALID,
            f"Signature not yet current: {amz_date} is still later than {server + skew:{_AMZ_DATE}} "
            f"({server:{_AMZ_DATE}} + 15 min.)",
        )


def canonical_request(method: str, raw_path: str, headers: Any, signed: list[str], body: bytes) -> str:
    """The SigV4 canonical request of a received request (``headers`` has ``getall``, case-insensitive)."""
    path, _, query = raw_path.partition("?")
    pairs = []
    for pair in query.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    lines = [
        method.upper(),
        quote(normalize_url_path(path), safe="/~"),
        "&".join(f"{k}={v}" for k, v in sorted(pairs)),
    ]
    for name in signed:
        values = headers.getall(name, None)
        if values is None:
            raise AuthFailure(INVALID, _MISMATCH)
        lines.append(f"{name}:" + ",".join(" ".join(str(v).split()) for v in values))
    lines += ["", ";".join(signed), hashlib.sha256(body).hexdigest()]
    return "\n".join(lines)


def signature(secret: str, scope: list[str], amz_date: str, canonical: str) -> str:
    """The hex signature of ``canonical`` for ``scope`` (date, region, service, terminator)."""
    string_to_sign = "\n".join(
        [_ALGORITHM, amz_date, "/".join(scope[1:]), hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret).encode()
    for part in scope[1:]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def authenticate(
    *,
    method: str,
    raw_path: str,
    headers: Any,
    body: bytes,
    service: str,
    regions: Collection[str] | Callable[[str], bool],
    credentials: Mapping[str, Credential] | None,
    now: float,
    sessions: Mapping[str, Credential] | None = None,
) -> Identity:
    """Who sent this request; raises :class:`AuthFailure` when an AWS endpoint would refuse it.

    ``service`` is the API's signing name; ``regions`` the regions this endpoint serves (a set, or a
    predicate); ``credentials`` the known access keys (``None``: any 12-digit key, signature unchecked);
    ``sessions`` temporary credentials, always verified with their secret, token and expiry.
    """
    header = headers.get("Authorization")
    if not header:
        raise AuthFailure(MISSING, "Missing Authentication Token")
    scope, signed, sent = _parse(header)
    access_key, scope_date, region, scope_service, _ = scope
    if scope_service != service:
        raise AuthFailure(INVALID, f"Credential should be scoped to correct service: '{service}'. ")
    served = regions(region) if callable(regions) else region in regions
    if not served:
        raise AuthFailure(INVALID, f"Credential should be scoped to a valid region, not '{region[:40]}'. ")
    amz_date = headers.get("X-Amz-Date")
    if not amz_date:
        raise AuthFailure(INCOMPLETE, "Authorization header requires existence of an 'X-Amz-Date' header.")
    _check_time(amz_date, scope_date, now)
    token = headers.get("X-Amz-Security-Token")
    known = (sessions or {}).get(access_key)
    if known is None:
        if credentials is None:
            if not _ACCOUNT.fullmatch(access_key):
                raise AuthFailure(UNRECOGNIZED, _BAD_TOKEN)
            return Identity(access_key=access_key, account=access_key, region=region, session_token=token)
        known = credentials.get(access_key)
    if known is None or token != known.session_token:
        raise AuthFailure(UNRECOGNIZED, _BAD_TOKEN)
    expected = signature(
        known.secret_access_key, scope, amz_date, canonical_request(method, raw_path, headers, signed, body)
    )
    if not hmac.compare_digest(expected, sent):
        raise AuthFailure(INVALID, _MISMATCH)
    if known.expires_at is not None and now >= known.expires_at:
        raise AuthFailure(EXPIRED, "The security token included in the request is expired")
    return Identity(access_key=access_key, account=known.account_id, region=region, session_token=token)


STS_CODES: Mapping[str, str] = {
    MISSING: "MissingAuthenticationToken",
    INCOMPLETE: "IncompleteSignature",
    INVALID: "SignatureDoesNotMatch",
    UNRECOGNIZED: "InvalidClientTokenId",
    EXPIRED: "ExpiredToken",
}
"""The same refusals as STS (a query-protocol service) names them."""
