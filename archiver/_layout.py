"""Where things live in a store, and how a workflow state gets its identity.

This module is the single place that spells store keys, so that the writer, the pruner and the
restorer cannot disagree about them (the layout is documented in ``docs/format.md``)::

    bundles/<workflow-uuid>/workflow/<digest-segment>/<state-id>.tar.zst
    bundles/<workflow-uuid>/versions/<version-uuid>/<digest-segment>/<state-id>.tar.zst
    snapshots/<partition>/<account>/<region>/<snapshot-id>.json
    quarantine/<account>/<region>/<run-id>/<workflow-id>[@<version-name>]/{metadata.json,errors.json}

Keys are built from the workflow's ``uuid`` (ids and version names can be reused after deletion; a
uuid cannot) and from its ``digest``. The *state id* names one observed state of a workflow or
version: a hash of its sanitized metadata and of its README. Everything that can change without
changing the digest (name, description, tags, storage, status, README) therefore gets a new state id
and a new bundle beside the old one, while the same state always maps to the same key, so a second
run writes nothing.

It also owns :func:`sanitize_metadata`, the one function that turns a GetWorkflow /
GetWorkflowVersion response into the metadata we store, because the state id is defined over its
output. Everything here is pure: no I/O, no clock (callers pass ``now``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ._jsonutil import canonical_json, rfc3339

__all__ = [
    "QUARANTINE_ERRORS",
    "QUARANTINE_METADATA",
    "BundleKey",
    "SnapshotKey",
    "bundle_key",
    "digest_segment",
    "new_snapshot_id",
    "parse_bundle_key",
    "parse_snapshot_key",
    "quarantine_prefix",
    "readme_sha256",
    "sanitize_metadata",
    "snapshot_key",
    "snapshot_time",
    "state_id",
]

QUARANTINE_METADATA = "metadata.json"
QUARANTINE_ERRORS = "errors.json"

_SEGMENT = re.compile(r"^[A-Za-z0-9._=+@,-]+$")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID_RE = re.compile(f"^{_UUID}$")
_STATE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_SHA256_DIGEST = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_BUNDLE_KEY = re.compile(
    rf"^bundles/(?P<wf>{_UUID})/(?:workflow|versions/(?P<ver>{_UUID}))"
    r"/(?P<digest>[A-Za-z0-9._=+@,-]+)/(?P<state>[0-9a-f]{32})\.tar\.zst$"
)
_SNAPSHOT_ID_RE = re.compile(r"^(?P<time>[0-9]{8}T[0-9]{12}Z)-[0-9a-f]{8}$")
_SNAPSHOT_KEY = re.compile(
    r"^snapshots/(?P<partition>[a-z][a-z0-9-]*)/(?P<account>[0-9]{12})/(?P<region>[a-z0-9-]+)"
    r"/(?P<id>[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8})\.json$"
)
_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_WORKFLOW_ID = re.compile(r"^[0-9]{1,18}$")
_SECRETS = ("x-amz-signature", "x-amz-credential", "x-amz-security-token")
# Top-level response fields never stored: the HTTP envelope and the two presigned URLs of an export.
_DROPPED = ("ResponseMetadata", "definition", "readme")


def digest_segment(digest: str) -> str:
    """Spell a workflow ``digest`` as one store-key segment (``[A-Za-z0-9._=+@,-]`` only).

    ``sha256:<hex>`` becomes ``sha256-<hex>``; standard base64 becomes ``b64-`` + the url-safe
    alphabet without padding; anything else becomes ``x-`` + the first 40 hex digits of its SHA-256.
    The first two are reversible by eye and injective; the third is a hash (160 bits).
    """
    if not digest:
        raise ValueError("a workflow digest must not be empty")
    m = _SHA256_DIGEST.match(digest)
    if m:
        return f"sha256-{m.group(1)}"
    if len(digest) % 4 == 0 and _BASE64.match(digest):
        try:
            base64.b64decode(digest, validate=True)
        except (binascii.Error, ValueError):
            pass
        else:
            return "b64-" + digest.replace("+", "-").replace("/", "_").rstrip("=")
    return "x-" + hashlib.sha256(digest.encode("utf-8")).hexdigest()[:40]


def _jsonable(value: Any, path: str) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"metadata key at {path} is not a string: {type(key).__name__}")
            out[key] = _jsonable(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise ValueError(f"metadata value at {path} has a type JSON cannot hold: {type(value).__name__}")


class _NotPlain(Exception):
    """A value :func:`_plain` leaves to :func:`_jsonable`."""


def _plain(value: Any) -> Any:
    """:func:`_jsonable` for the exact types botocore returns, without building a path per value.

    Anything else (mappings that are not dicts, subclasses, non-string keys, bad types) raises
    :class:`_NotPlain`, and the caller takes the careful walk, which converts it or names where it is.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            out[key] = _plain(item)
        return out
    if kind is list or kind is tuple:
        return [_plain(item) for item in value]
    if kind is datetime:
        return rfc3339(value)
    raise _NotPlain


# What JSON text escapes: a received secret holding one of these may not appear verbatim in it.
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def _surely_clean(clean: Any, received: set[str]) -> bool:
    """True when no string of ``clean`` can hold a credential, decided on its JSON text at once.

    Every string (and key) appears verbatim in the JSON text but for the characters JSON escapes,
    so a received secret without those that is absent from the text is absent from every string,
    and a text without ``x-amz-`` (in any case) holds no presigned URL. Otherwise (``False``)
    :func:`_find_secret` walks the document and decides exactly, naming the path.
    """
    text = json.dumps(clean, ensure_ascii=False)
    if "x-amz-" in text.lower():
        return False
    return not any(_JSON_ESCAPED.search(secret) or secret in text for secret in received)


_URL_WITH_QUERY = re.compile(r"https?://[^\s?#\"'<>]*\?([^\s#\"'<>]+)", re.IGNORECASE)
_SIGNATURE = re.compile(r"[0-9a-f]{64}", re.IGNORECASE)
_MIN_SECRET = 16  # received credential values shorter than this are not searched for


def _is_presigned(query: str) -> bool:
    """Whether a URL's query string holds a complete SigV4 query signature (not just its words)."""
    params = {k.lower(): v for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)}
    return (
        params.get("x-amz-algorithm", "").upper() == "AWS4-HMAC-SHA256"
        and params.get("x-amz-credential", "").count("/") == 4
        and bool(params.get("x-amz-date"))
        and bool(_SIGNATURE.fullmatch(params.get("x-amz-signature", "")))
    )


def _received_secrets(response: Mapping[str, Any]) -> set[str]:
    """The credential values in the presigned URLs a response carried (``definition``, ``readme``)."""
    found: set[str] = set()
    for field_name in _DROPPED:
        url = response.get(field_name)
        if not isinstance(url, str) or "?" not in url:
            continue
        for key, value in _query_pairs(url.split("?", 1)[1]):
            if key.lower() in _SECRETS and len(value) >= _MIN_SECRET:
                found.add(value)
        found.add(url)
    return found


def _query_pairs(query: str) -> Iterator[tuple[str, str]]:
    """``urllib.parse.parse_qsl(query, keep_blank_values=True)``, lazily: a value is decoded only
    when its name is a credential's (every export's two URLs carry a dozen parameters, and this
    runs for each archived item). A name is decoded only when it holds ``%`` or ``+``."""
    for field in query.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in name or "+" in name:
            name = urllib.parse.unquote(name.replace("+", " "))
        if name.lower() in _SECRETS:
            value = urllib.parse.unquote(value.replace("+", " "))
        yield name, value


def _leaks(text: str, received: set[str]) -> bool:
    """Whether ``text`` holds a credential: one we received, or any complete presigned URL.

    The words ``X-Amz-Signature=`` alone are not a credential: anyone allowed to tag a workflow can
    write them into a description or a tag, and refusing them would make that workflow impossible
    to archive (or to delete through ``delete``) for ever.
    """
    if any(secret in text for secret in received):
        return True
    if "x-amz-" not in text.lower():
        return False
    return any(_is_presigned(m.group(1)) for m in _URL_WITH_QUERY.finditer(text))


def _find_secret(value: Any, path: str, received: set[str]) -> str | None:
    if isinstance(value, str):
        return path if _leaks(value, received) else None
    if isinstance(value, dict):
        for key, item in value.items():
            hit = _find_secret(key, f"{path} (a key)", received) or _find_secret(
                item, f"{path}.{key}", received
            )
            if hit:
                return hit
    if isinstance(value, list):
        for i, item in enumerate(value):
            hit = _find_secret(item, f"{path}[{i}]", received)
            if hit:
                return hit
    return None


def sanitize_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a GetWorkflow / GetWorkflowVersion response into the metadata we store.

    Returns a deep copy without ``ResponseMetadata`` and without the presigned ``definition`` and
    ``readme`` URLs, with every datetime as an RFC 3339 UTC string. As a last guard it raises
    ``ValueError`` (naming only the JSON path, never the value) if any string still carries a
    credential: a signature, access key or token of the presigned URLs this response carried, or any
    complete presigned URL (a full SigV4 query signature). Text a user can type, such as the words
    ``X-Amz-Signature=`` in a description, is kept as it is. Idempotent: sanitizing sanitized
    metadata returns an equal dict.
    """
    trimmed = {k: v for k, v in response.items() if k not in _DROPPED}
    try:
        clean: dict[str, Any] = _plain(trimmed)
    except _NotPlain:
        clean = _jsonable(trimmed, "$")  # the careful walk: the same result, or the error naming where
    received = _received_secrets(response)
    hit = None if _surely_clean(clean, received) else _find_secret(clean, "$", received)
    if hit:
        raise ValueError(f"metadata still contains a presigned-URL credential at {hit}; refusing to store it")
    return clean


def readme_sha256(readme: bytes | None) -> str | None:
    """The README's part of a state id: hex SHA-256, or ``None`` when there is no (or an empty) README."""
    return hashlib.sha256(readme).hexdigest() if readme else None


def state_id(metadata: Mapping[str, Any], readme_sha256: str | None, *, sanitized: bool = False) -> str:
    """32 hex digits naming one state of a workflow or version.

    SHA-256 over the canonical JSON of ``{"metadata": <sanitized metadata>, "readmeSha256": ...}``.
    ``metadata`` may be the raw response or already sanitized: both give the same id. Pass
    :func:`readme_sha256` of the downloaded README (``None`` if there is none). The definition ZIP's
    own hash is deliberately left out: the service's ``digest`` (part of the metadata) identifies the
    definition, and a re-zipped export of the same definition must not look like a new state.
    """
    if readme_sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", readme_sha256):
        raise ValueError("readme_sha256 must be 64 lowercase hex digits or None")
    # sanitized: ``metadata`` is sanitize_metadata's result already (saves walking it again)
    document = {
        "metadata": metadata if sanitized else sanitize_metadata(metadata),
        "readmeSha256": readme_sha256,
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class BundleKey:
    """A parsed bundle key. ``digest_segment`` is the key's spelling of the digest (see
    :func:`digest_segment`); the digest itself is in the bundle's manifest."""

    kind: Literal["workflow", "version"]
    workflow_uuid: str
    version_uuid: str | None
    digest_segment: str
    state_id: str

    @property
    def key(self) -> str:
        middle = "workflow" if self.version_uuid is None else f"versions/{self.version_uuid}"
        return f"bundles/{self.workflow_uuid}/{middle}/{self.digest_segment}/{self.state_id}.tar.zst"


def _need(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def bundle_key(*, workflow_uuid: str, version_uuid: str | None, digest: str, state_id: str) -> str:
    """The store key of one bundle; ``version_uuid`` is ``None`` for the workflow itself."""
    _need(_UUID_RE, workflow_uuid, "workflow uuid")
    if version_uuid is not None:
        _need(_UUID_RE, version_uuid, "version uuid")
    _need(_STATE_ID_RE, state_id, "state id")
    seg = digest_segment(digest)
    middle = "workflow" if version_uuid is None else f"versions/{version_uuid}"
    return f"bundles/{workflow_uuid}/{middle}/{seg}/{state_id}.tar.zst"


def parse_bundle_key(key: str) -> BundleKey:
    """Parse a key written by :func:`bundle_key`; ``ValueError`` if it is not one."""
    m = _BUNDLE_KEY.match(key)
    if not m:
        raise ValueError(f"not a bundle key: {key!r}")
    ver = m.group("ver")
    return BundleKey(
        kind="workflow" if ver is None else "version",
        workflow_uuid=m.group("wf"),
        version_uuid=ver,
        digest_segment=m.group("digest"),
        state_id=m.group("state"),
    )


@dataclass(frozen=True, slots=True)
class SnapshotKey:
    """A parsed snapshot key."""

    partition: str
    account: str
    region: str
    snapshot_id: str

    @property
    def key(self) -> str:
        return snapshot_key(self.partition, self.account, self.region, self.snapshot_id)

    @property
    def time(self) -> datetime:
        return snapshot_time(self.snapshot_id)


def new_snapshot_id(now: datetime) -> str:
    """``YYYYMMDDTHHMMSSffffffZ-<8 hex>``: UTC time to the microsecond, then 32 random bits.

    Ids sort by time as strings; the random tail keeps two runs in the same microsecond apart.
    ``now`` must be timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("new_snapshot_id needs a timezone-aware datetime")
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(4)


def snapshot_time(snapshot_id: str) -> datetime:
    """The UTC time encoded in a snapshot id."""
    m = _SNAPSHOT_ID_RE.match(snapshot_id)
    if not m:
        raise ValueError(f"not a snapshot id: {snapshot_id!r}")
    return datetime.strptime(m.group("time"), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


def snapshot_key(partition: str, account: str, region: str, snapshot_id: str) -> str:
    """``snapshots/<partition>/<account>/<region>/<snapshot-id>.json``."""
    key = f"snapshots/{partition}/{account}/{region}/{snapshot_id}.json"
    if not _SNAPSHOT_KEY.match(key):
        raise ValueError(
            f"invalid snapshot key parts: {partition!r}, {account!r}, {region!r}, {snapshot_id!r}"
        )
    return key


def parse_snapshot_key(key: str) -> SnapshotKey:
    """Parse a key written by :func:`snapshot_key`; ``ValueError`` if it is not one."""
    m = _SNAPSHOT_KEY.match(key)
    if not m:
        raise ValueError(f"not a snapshot key: {key!r}")
    return SnapshotKey(m.group("partition"), m.group("account"), m.group("region"), m.group("id"))


def quarantine_prefix(
    account: str, region: str, run_id: str, workflow_id: str, version_name: str | None
) -> str:
    """``quarantine/<account>/<region>/<run-id>/<workflow-id>[@<version-name>]``, without a final ``/``.

    Keys below it are ``prefix + "/" + QUARANTINE_METADATA`` (or ``QUARANTINE_ERRORS``, ``README.md``,
    ``definition.zip``). To list one item's files use ``prefix + "/"``: the bare prefix of a workflow
    also matches its versions (``1234567`` is a prefix of ``1234567@v1``).
    """
    _need(re.compile(r"^[0-9]{12}$"), account, "account id")
    _need(re.compile(r"^[a-z0-9-]+$"), region, "region")
    _need(_SEGMENT, run_id, "run id")
    _need(_WORKFLOW_ID, workflow_id, "workflow id")
    leaf = workflow_id
    if version_name is not None:
        leaf += "@" + _need(_VERSION_NAME, version_name, "version name")
    return f"quarantine/{account}/{region}/{run_id}/{leaf}"
