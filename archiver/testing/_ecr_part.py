"""Reading an ``UploadLayerPart`` request quickly, with exactly the outcome of the general path.

A layer part arrives as up to 13 MiB of base64 text in a JSON body. ``json.loads`` scans that string
character by character and ``aiohttp``'s ``request.read()`` grows a buffer chunk by chunk: together
most of the emulator's time per part, which made it, not the client, the bottleneck of a push.

:func:`read_body` reads a body into one buffer. :func:`layer_part_document` parses an
``UploadLayerPart`` body with the blob taken out: it finds the top-level ``"layerPartBlob"`` key
by scanning only the bytes before it (string and nesting state), decodes the value with SIMD
base64 (which also proves it holds no quote, backslash or control character), and hands the rest,
with an empty string in its place, to ``json.loads``. It returns ``None`` whenever it cannot prove
the result equals ``json.loads`` of the whole body followed by decoding the blob (key not found,
found twice, escaped, nested, value not plain base64...): the caller then takes the general path,
which answers exactly as before (including every error).
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any

import pybase64
from aiohttp import web

__all__ = ["layer_part_document", "read_body"]

_KEY = b'"layerPartBlob"'
_VALUE = re.compile(rb'"layerPartBlob"[ \t\n\r]*:[ \t\n\r]*"')
_OPENS_OBJECT = re.compile(rb"[ \t\n\r]*\{")
_PREFIX_LIMIT = 64 * 1024  # botocore writes the blob last, after ~200 bytes of other members


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body of ``request``, at most ``limit`` bytes (413 beyond, as ``request.read()``)."""
    length = request.content_length
    if length is not None and length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=length)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_any():
        total += len(chunk)
        if total > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=total)
        chunks.append(chunk)
    return b"".join(chunks)


def layer_part_document(body: bytes) -> dict[str, Any] | None:
    """``json.loads(body)`` with ``layerPartBlob`` already decoded to bytes, or ``None`` (see above)."""
    at = body.find(_KEY, 0, _PREFIX_LIMIT)
    if at < 0 or not _top_level_key_position(body, at):
        return None
    value = _VALUE.match(body, at)
    if value is None:
        return None
    start = value.end()
    end = body.find(b'"', start)
    if end < 0:
        return None
    try:
        blob = pybase64.b64decode(memoryview(body)[start:end], validate=True)
    except (binascii.Error, ValueError):
        return None
    pairs: list[list[tuple[str, Any]]] = []

    def keep(items: list[tuple[str, Any]]) -> dict[str, Any]:
        pairs.append(items)
        return dict(items)

    try:
        document = json.loads(body[:start] + body[end:], object_pairs_hook=keep)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    # the outermost object is built last; its one layerPartBlob key is the one found above
    if not isinstance(document, dict) or [k for k, _ in pairs[-1]].count("layerPartBlob") != 1:
        return None
    if document.get("layerPartBlob") != "":
        return None
    document["layerPartBlob"] = blob
    return document


def _top_level_key_position(body: bytes, at: int) -> bool:
    """Whether offset ``at`` is outside every string, directly inside the outermost ``{``."""
    depth = 0
    in_string = escaped = False
    for byte in body[:at]:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            depth += 1
        elif byte in (0x7D, 0x5D):  # } ]
            depth -= 1
    return not in_string and depth == 1 and _OPENS_OBJECT.match(body) is not None
