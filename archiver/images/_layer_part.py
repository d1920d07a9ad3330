"""``UploadLayerPart`` requests prepared off the critical path: encoded, built and hashed while the
previous part is still in flight.

ECR's API carries a layer part base64-encoded inside the JSON body (``layerPartBlob``), and parts
must arrive in order, so one part is in flight at a time and everything the client does between
two parts adds to the push's time. botocore serializes a blob by base64-encoding it to a ``str``,
``json.dumps`` then scans the whole body for characters to escape (base64 has none), the result is
encoded back to bytes, and SigV4 hashes it: five passes over every byte of a 10 MiB part, on the
event loop, between one part's answer and the next part's request. That made the push the slowest
step of a restore (41 MB/s where copying ran at 165 MB/s).

:func:`install` registers two handlers on an aiobotocore ``ecr`` client. ``before-parameter-build``
takes a :class:`LayerPart` (the part, base64-encoded in pieces) out of the call's
parameters and leaves an empty blob, which botocore validates and serializes as usual.
``before-call`` puts the encoded text where the serialized body has the empty string, hashes
the body in a worker thread (hashlib releases the GIL), sets it as ``X-Amz-Content-SHA256`` (which
SigV4 signs instead of hashing the body again), then waits until the previous part's call is done
(``LayerPart.after``) before letting botocore sign and send. So the caller can start the call for
part N+1 as soon as part N is sent. The body is byte for byte the one botocore would have built
from the raw part (tests/test_images_push.py compares them). Without the handlers installed, a
:class:`LayerPart` fails botocore's parameter validation: it is never sent encoded twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import warnings
from dataclasses import dataclass
from typing import Any

from .._errors import ImageError

__all__ = ["LayerPart", "install"]

_EVENT = "{}.ecr.UploadLayerPart"
_CONTEXT_KEY = "omics_archiver.layer_part"
# botocore's json.dumps writes '"layerPartBlob": ""' for the empty blob; every other member of the
# request is validated against a pattern that admits no quote, so the match is unique.
_EMPTY = re.compile(rb'"layerPartBlob"\s*:\s*""')


@dataclass(frozen=True, slots=True)
class LayerPart:
    """One layer part: its size and base64 text in pieces (ASCII bytes, each a multiple of 4
    long but the last); ``after``, the call it must follow; ``built``, set once its request body
    is built (the text is then no longer held)."""

    size: int
    texts: tuple[bytes, ...]
    after: asyncio.Future[Any] | None = None
    built: asyncio.Future[None] | None = None

    def following(self, previous: asyncio.Future[Any] | None, built: asyncio.Future[None]) -> LayerPart:
        return LayerPart(self.size, self.texts, previous, built)


def install(client: Any) -> None:
    """Let ``client`` (an aiobotocore ``ecr`` client) take :class:`LayerPart` blobs."""
    # aiohttp warns about any body over 1 MiB sent as bytes (a BytesIO would be copied twice more)
    warnings.filterwarnings("ignore", message="Sending a large body directly", category=ResourceWarning)
    events = client.meta.events
    events.register(_EVENT.format("before-parameter-build"), _take_part, unique_id="omics-archiver-part-take")
    events.register(_EVENT.format("before-call"), _put_part, unique_id="omics-archiver-part-put")


def _take_part(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    part = params.get("layerPartBlob")
    if isinstance(part, LayerPart):
        context[_CONTEXT_KEY] = part
        params["layerPartBlob"] = b""


async def _put_part(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    part: LayerPart | None = context.pop(_CONTEXT_KEY, None)
    if part is None:
        return
    body = params.get("body")
    if not isinstance(body, bytes):
        body = b""
    found = list(_EMPTY.finditer(body))
    if len(found) != 1:  # botocore serializes differently: refuse rather than send a wrong body
        raise ImageError("cannot build the UploadLayerPart request body (unexpected botocore serialization)")
    quote = found[0].end() - 1  # between the two quotes of the empty string
    # Built on the loop thread (a few ms), hashed in a worker (hashlib releases the GIL): buffers
    # allocated by worker threads land in glibc's per-thread arenas, each keeping its own high-water
    # mark, which cost ~25 MB of peak RSS.
    full = b"".join((body[:quote], *part.texts, body[quote:]))
    digest = await asyncio.to_thread(_sha256, full)
    after, built, part = part.after, part.built, None  # the text is in the body now: one copy
    if built is not None and not built.done():
        built.set_result(None)
    params["headers"]["X-Amz-Content-SHA256"] = digest
    params["body"] = full
    if after is not None:
        await asyncio.wait([after])
        if after.cancelled() or after.exception() is not None:
            raise ImageError("the previous layer part was not uploaded")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
