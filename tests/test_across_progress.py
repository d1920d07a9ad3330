"""The live view of restore/drill across destinations (archiver.cli._across_progress), on a terminal.

A fake terminal records the bars drawn (the JSON-lines side runs end to end in
tests/test_store_targets.py): a line per destination at work naming its source and counting its
items from the restore's log events, a bar of every source with the ETA, a destination's line gone
when it ends, and the sources of a destination that could not be reached counted as done, not ok.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from archiver.cli._across_progress import DestinationsProgress
from archiver.targets import Destination, DestinationRun, Source, SourceRun, Target


class FakeTerminal:
    def __init__(self) -> None:
        self.bars: dict[str, dict[str, Any]] = {}

    def bar(self, *, key: str = "", **fields: Any) -> None:
        self.bars[key] = fields


def test_a_line_per_destination_and_a_bar_of_all_sources_with_eta(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="archiver")  # as setup_logging does at the default level
    a, b = (
        Target(account="111111111111", region="us-east-1"),
        Target(account="222222222222", region="us-east-1"),
    )
    s1, s2, s3 = (Source("aws", "999999999999", r) for r in ("us-east-1", "us-west-2", "eu-west-1"))
    now = [0.0]
    terminal = FakeTerminal()
    view = DestinationsProgress(
        terminal,  # type: ignore[arg-type]
        [Destination(target=a, sources=(s1, s2)), Destination(target=b, sources=(s3,))],
        verb="restoring",
        what="destination",
        ok=lambda row: row.error is None,
        clock=lambda: now[0],
    )
    assert terminal.bars[""]["description"] == "destinations 0/2 done" and terminal.bars[""]["total"] == 3
    view.source(a, s1, None)
    assert terminal.bars[a.key]["description"] == f"{a.key}  restoring {s1.key}"
    # the restore's own events, labelled with the destination they happen in
    log = logging.getLogger("archiver.restore")
    label = {"account": a.account, "region": a.region}
    with view.watching():
        log.info("planned", extra={"event": "planned", "items": 4, **label})
        for _ in range(2):
            log.info("created", extra={"event": "created", **label})
        log.info("created elsewhere", extra={"event": "created", "account": "333333333333", "region": "x"})
    log.info("created after", extra={"event": "created", **label})  # no longer watched
    now[0] = 5.0
    assert terminal.bars[a.key]["eta"] == "source 1/2, 2/4 items, 0:00:00"
    assert terminal.bars[a.key]["completed"] == 0.5 and terminal.bars[""]["completed"] == 0.5
    now[0] = 10.0
    view.source(a, s1, SourceRun(source=s1, report=object()))
    assert terminal.bars[""]["completed"] == 1 and terminal.bars[""]["eta"] == "ETA 0:00:20"
    assert terminal.bars[a.key]["eta"] == "source 2/2, 0:00:10"
    view.source(a, s2, None)
    view.source(a, s2, SourceRun(source=s2, error="refused"))
    view.destination(DestinationRun(target=a, sources=(s1, s2)))
    assert terminal.bars[a.key]["visible"] is False
    # b's role could not be assumed: its one source is done, and not ok
    view.destination(DestinationRun(target=b, sources=(s3,), error="AccessDenied"))
    totals = terminal.bars[""]
    assert totals["description"] == "destinations 2/2 done" and totals["completed"] == 3
    assert totals["detail"] == "  3 of 3 sources done, 2 not ok"
