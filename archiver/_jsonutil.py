"""The two JSON spellings the archive uses, and RFC 3339 time stamps.

Everything the archive hashes or compares must have exactly one byte form, or the same workflow
state would get two identities and two bundles. So there are exactly two encoders, and nothing else
in the package calls :func:`json.dumps` for stored data:

* :func:`canonical_json` — sorted keys, no whitespace, UTF-8 without ``\\u`` escapes. Used only as
  hash input (state ids).
* :func:`pretty_json` — sorted keys, two-space indent, trailing newline, UTF-8. Used for every JSON
  file a person may read: bundle members, snapshots, quarantine documents.

Both refuse NaN and infinities (not JSON) and anything that is not a JSON value; datetimes must be
turned into strings first with :func:`rfc3339` (``sanitize_metadata`` does that for service
responses). Time stamps are always written in UTC with a ``Z`` suffix, with microseconds only when
the time has them, so that one instant has one spelling.
"""

from __future__ import annotations

import json
import json.encoder
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "canonical_json",
    "is_rfc3339",
    "json_depth",
    "load_json_object",
    "parse_rfc3339",
    "pretty_json",
    "rfc3339",
]

MAX_DEPTH = 64
"""Nesting accepted in a stored JSON document: ours nest at most 8 levels; 64 leaves room for
parameter templates and tags while keeping every recursive walk far from Python's limit."""
_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def canonical_json(value: Any) -> bytes:
    """The hashing form: sorted keys, no whitespace, ``ensure_ascii=False``, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def pretty_json(value: Any) -> bytes:
    """The stored form: sorted keys, two-space indent, trailing newline, UTF-8.

    Byte for byte ``json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False,
    allow_nan=False)`` plus a newline (tests/test_jsonutil.py holds it to that), written by
    :func:`_pretty`, which is about twice as fast: with ``indent`` the standard library leaves its C
    encoder for a generator-based one, and every bundle writes three of these documents. Values it
    does not know (keys that are not strings, subclasses, custom types) go to ``json.dumps`` itself,
    which encodes or refuses them as it always did.
    """
    parts: list[str] = []
    try:
        _pretty(value, "\n", parts.append)
    except _NotPlain:
        text = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    else:
        text = "".join(parts)
    return (text + "\n").encode("utf-8")


class _NotPlain(Exception):
    """A value :func:`_pretty` leaves to ``json.dumps``."""


_encode_str = json.encoder.encode_basestring  # the C one when available; ensure_ascii=False spelling
_INFINITY = float("inf")


def _pretty(value: Any, pad: str, out: Callable[[str], None]) -> None:
    kind = type(value)
    if kind is str:
        out(_encode_str(value))
    elif kind is dict:
        if not value:
            out("{}")
            return
        inner = pad + "  "
        opener = "{"
        for key in sorted(value) if all(type(k) is str for k in value) else _not_plain():
            out(opener + inner + _encode_str(key) + ": ")
            opener = ","
            _pretty(value[key], inner, out)
        out(pad + "}")
    elif kind is list or kind is tuple:
        if not value:
            out("[]")
            return
        inner = pad + "  "
        opener = "["
        for item in value:
            out(opener + inner)
            opener = ","
            _pretty(item, inner, out)
        out(pad + "]")
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif kind is int:
        out(int.__repr__(value))
    elif kind is float and value == value and value not in (_INFINITY, -_INFINITY):
        out(float.__repr__(value))
    else:
        _not_plain()


def _not_plain() -> Any:
    raise _NotPlain


def load_json_object(data: bytes, what: str, *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Parse ``data`` as a UTF-8 JSON object; raise ``ValueError`` naming ``what`` otherwise.

    The data comes from a store and is untrusted: nesting deeper than ``max_depth`` is refused (a
    RecursionError in the parser included), so no later recursive walk of the document can fail;
    callers bound ``data``'s size before they read it.
    """
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{what} is not valid UTF-8 JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply (more than {max_depth} levels)") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object but {type(value).__name__}")
    depth = json_depth(value)
    if depth > max_depth:
        raise ValueError(f"{what} is nested {depth} levels deep, more than the {max_depth} allowed")
    return value


def json_depth(value: Any) -> int:
    """How deeply a parsed JSON value nests objects and arrays (a scalar is 0), without recursion.

    Level by level: one list of the containers at each depth (a snapshot's ~20,000 containers are
    walked in a few milliseconds).
    """
    containers = (dict, list)  # a tuple: isinstance with a union type is several times slower
    level = [value] if isinstance(value, containers) else []
    depth = 0
    while level:
        depth += 1
        below: list[Any] = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, containers):
                    below.append(child)
        level = below
    return depth


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``.

    A naive datetime is taken to be UTC (botocore always returns aware ones; the emulator and tests
    may not).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def is_rfc3339(text: str) -> bool:
    """True if ``text`` is an RFC 3339 date-time with an explicit offset (``Z`` or ``±HH:MM``)."""
    if not _RFC3339.match(text):
        return False
    try:
        datetime.fromisoformat(text.upper())
    except ValueError:
        return False
    return True


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 date-time into an aware datetime; ``ValueError`` if it is not one."""
    if not is_rfc3339(text):
        raise ValueError(f"not an RFC 3339 date-time with offset: {text!r}")
    return datetime.fromisoformat(text.upper())
