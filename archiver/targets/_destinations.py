"""Many destinations, each working through its sources one after the other: ``restore``/``drill``.

``restore --targets`` and ``drill`` across a store share one shape: every destination (a target
with the sources :mod:`~archiver.targets._pairs` sent to it) is worked on concurrently through
:func:`~archiver.targets._runner.for_each_target` (its own credentials, client and pacers), and
its sources one after the other through that one client. A source whose work raises an
:class:`~archiver._errors.ArchiverError` is that source's row, never the others'; a destination
that could not be reached (AssumeRole refused) fails every source of it. This module owns that
loop and its results, so the two commands differ only in what they do per source.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .._aws import AwsSettings, OmicsApi
from .._errors import ArchiverError, UsageError
from ._model import Target
from ._pairs import Destination, Source
from ._runner import Ran, for_each_target

__all__ = ["DestinationRun", "SourceRun", "for_each_destination"]

log = logging.getLogger("archiver.targets")

T = TypeVar("T")
S = TypeVar("S", bound="SourceRun[Any]")
D = TypeVar("D", bound="DestinationRun[Any]")


@dataclass(kw_only=True)
class SourceRun(Generic[T]):
    """One source worked on in its destination: the work's report, or why there is none."""

    source: Source
    report: T | None = None
    error: str | None = None


@dataclass(kw_only=True)
class DestinationRun(Generic[S]):
    """How one destination went: each source's row, or the error that stopped it (AssumeRole)."""

    target: Target
    sources: tuple[Source, ...]
    results: list[S] = field(default_factory=list)
    error: str | None = None
    duration: float = 0.0


SourceHook = Callable[[Target, Source, "SourceRun[Any] | None"], None]
"""Called with ``None`` as a source's work starts, and with its row as it ends."""


async def for_each_destination(
    destinations: Sequence[Destination],
    work: Callable[[Target, OmicsApi, Source], Awaitable[T]],
    *,
    row: type[S],
    result: type[D],
    what: str,
    settings: AwsSettings,
    max_targets: int = 64,
    on_source: SourceHook | None = None,
    on_done: Callable[[D], None] | None = None,
) -> list[D]:
    """``work`` for every source in its destination; one ``result`` per destination, in order.

    ``what`` names the work in the log (``restore``, ``drill``). ``on_source`` sees each source
    start and end; ``on_done`` each destination as it ends.
    """
    sources = {d.target: d.sources for d in destinations}

    async def each(target: Target, api: OmicsApi) -> list[S]:
        out: list[S] = []
        for source in sources[target]:
            if on_source is not None:
                on_source(target, source, None)
            try:
                done = row(source=source, report=await work(target, api, source))
            except ArchiverError as exc:
                verb = "was refused" if isinstance(exc, UsageError) else "failed"
                log.error(
                    "%s of %s into %s %s: %s",
                    what,
                    source.key,
                    target.key,
                    verb,
                    exc.message,
                    extra={"event": "source-failed", "source": source.key, "error": exc.message},
                )
                done = row(source=source, error=exc.message)
            out.append(done)
            if on_source is not None:
                on_source(target, source, done)
        return out

    def made(ran: Ran[list[S]]) -> D:
        return result(
            target=ran.target,
            sources=sources[ran.target],
            results=ran.value or [],
            error=ran.error,
            duration=ran.duration,
        )

    ran = await for_each_target(
        list(sources),
        each,
        settings=settings,
        max_targets=max_targets,
        on_done=(lambda r: on_done(made(r))) if on_done is not None else None,
    )
    return [made(r) for r in ran]
