"""Running one backup in several processes, for accounts whose quotas outrun one CPU core.

With the default quotas (10 Get calls a second) one process keeps up with the API several times
over; but once the quotas are raised (or pacing is lifted), decoding responses, signing requests,
validating and compressing take about 9 ms of CPU per item, and one event loop on one core becomes
the limit. :class:`Sharding` then shares the workflows the parent discovered among ``processes``
processes: the parent backs up some itself and hands the others to worker processes
(``python -m archiver._shard``), started at the beginning of the run so that their imports overlap
discovery. Work is handed out on demand: each process keeps about ``workflow_concurrency`` whole
workflows in flight and asks for more as they finish. Every process paces its calls at
``1/processes`` of each rate, so together they stay under the account's quotas.

The parent stays the only writer of the snapshot and the only holder of the backup lock. A worker
writes bundles to the same store (they are immutable and written atomically) and talks to the parent
in JSON lines. On its stdout::

    {"type": "more", "want": n}                # room for n more workflows
    {"type": "bundle" | "skipped" | "failed" | "quarantined" | "warnings", "entry": {...}}
    {"type": "stats", "stats": {...}}          # cumulative counters of the worker
    {"type": "finished", "id": workflow_id}    # the workflow and all its versions are done
    {"type": "done"}

and on its stdin the job, then one answer per ``more``:
``{"workflows": [...], "known": {...}, "end": bool}`` (``end``: there will be no more).

Its log records come as JSON lines on stderr and are re-emitted through the parent's logging. The
job (settings, store URL, configuration, identity) and the batches (workflows, and the previous
snapshot's entries of them) carry no credential: the worker resolves them from the same environment
and profile as the parent. A worker whose parent dies sees its stdin close and exits at once;
bundles are published atomically, so it leaves none half written. When a worker stops before
``done``, every workflow it was given and did not finish fails, so nothing is silently left out;
their last good bundles are carried forward.

Why this stays now that many targets run concurrently (``archiver.targets``, issue 13): the two
split different work. Targets concurrency and ``--shard`` spread *many* account-regions over one
event loop and over processes or machines, but a target is indivisible there (its lock and
snapshot are its own), so one account-region with raised quotas is still bound to one core. This
module is the only thing that splits *one* account-region's workflows among processes under one
lock and one snapshot. An org-wide run refuses ``--processes`` above 1 (``--shard`` is its way to
more cores); a single-account run with raised quotas keeps using it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ._aws import AwsSettings, CallerIdentity, open_omics_api
from ._download import Downloader
from ._errors import ArchiverError
from ._pipeline import BackupConfig, Item, Pipeline, RunState
from ._report import BackupReport
from ._workdir import work_directory
from .images import ecr_settings, open_ecr_resolver
from .incremental import Sweep
from .store import open_store
from .store._hotpath import deferred_dir_sync
from .store._options import StoreOptions

__all__ = ["Feeder", "Sharding", "Worker", "run_local", "run_workflows"]

log = logging.getLogger("archiver.backup")

_LIST_FIELDS = ("bundles", "skipped", "failed", "quarantined", "warnings")
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_LINE_LIMIT = 1 << 20  # of a report or log line from a worker
_BATCH_LIMIT = 64 << 20  # of a batch of workflows (with their previous entries) sent to a worker


@dataclass(frozen=True, kw_only=True)
class Sharding:
    """How to run a backup in ``processes`` processes: how a worker reopens the API and the store.

    ``aws`` and ``store_url``/``store_options`` must name the same account, region and store as the
    client and store the parent was given (the CLI builds all of them from the same arguments).
    """

    processes: int
    aws: AwsSettings
    store_url: str
    store_options: StoreOptions | None = None

    def __post_init__(self) -> None:
        if self.processes < 1:
            raise ValueError(f"processes must be at least 1, not {self.processes}")


async def _whole_workflow(pipeline: Pipeline, listed: Mapping[str, Any]) -> None:
    """Back up one workflow and all its versions; return when every one of them is done."""
    async with asyncio.TaskGroup() as tg:
        tg.create_task(pipeline.workflow(listed, tg))


class Feeder:
    """Keeps about ``target`` whole workflows (with their versions) in flight in one process.

    Work is handed out as capacity frees up, not split up front, so that a process that drew
    workflows with many versions or large definitions does not finish long after the others.
    The caller takes :attr:`wanted` more workflows (in the parent, from the shared queue; in a
    worker, from the parent over the pipe), starts each with :meth:`start` and a callback told of its
    completion, and waits with :meth:`changed`.
    """

    def __init__(self, pipeline: Pipeline, target: int) -> None:
        self._pipeline = pipeline
        self._target = max(target, 1)
        self._pending = 0
        self._changed = asyncio.Event()

    @property
    def wanted(self) -> int:
        """How many more workflows to ask for now (0 while at least half the target is in flight)."""
        return self._target - self._pending if self._pending <= self._target // 2 else 0

    def start(
        self, tg: asyncio.TaskGroup, listed: Mapping[str, Any], finished: Callable[[str], None]
    ) -> None:
        self._pending += 1
        task = tg.create_task(_whole_workflow(self._pipeline, listed))
        wf_id = str(listed["id"])

        def done(_: asyncio.Task[None]) -> None:
            self._pending -= 1
            self._changed.set()
            finished(wf_id)

        task.add_done_callback(done)

    async def changed(self) -> None:
        """Wait until a workflow in flight finishes."""
        await self._changed.wait()
        self._changed.clear()


async def run_workflows(pipeline: Pipeline, workflows: Sequence[Mapping[str, Any]]) -> None:
    """Back up ``workflows`` (ListWorkflows items) and all their versions in this process."""
    async with asyncio.TaskGroup() as tg:
        for listed in workflows:
            tg.create_task(pipeline.workflow(listed, tg))


async def run_local(pipeline: Pipeline, queue: collections.deque[Mapping[str, Any]]) -> None:
    """Back up workflows taken from ``queue`` (shared with the workers) until it is empty."""
    feeder = Feeder(pipeline, pipeline.config.workflow_concurrency)
    async with asyncio.TaskGroup() as tg:
        while queue:
            for _ in range(feeder.wanted):
                if not queue:
                    break
                feeder.start(tg, queue.popleft(), lambda _: None)
            if queue:
                await feeder.changed()


# -- the parent's side ------------------------------------------------------------------------------


class Worker:
    """One worker process, from its start to its last line; ``async with`` kills it if still running."""

    command: tuple[str, ...] = (sys.executable, "-m", "archiver._shard")

    def __init__(self, index: int) -> None:
        self.index = index
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Worker:
        self._proc = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()

    async def run(
        self,
        sharding: Sharding,
        pipeline: Pipeline,
        queue: collections.deque[Mapping[str, Any]],
        *,
        rate_share: float,
    ) -> None:
        """Send the job, hand out workflows from ``queue`` as the worker asks, merge what it reports
        into ``pipeline.run``, and wait for it to exit.

        Any way the worker stops without ``done`` fails the workflows it was given and did not
        finish (their last good bundles are carried forward).
        """
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        assert proc.stderr is not None
        run = pipeline.run
        job = {
            "aws": asdict(sharding.aws),
            "rateShare": rate_share,
            "store": {
                "url": sharding.store_url,
                "options": asdict(sharding.store_options) if sharding.store_options else None,
            },
            "config": _config_json(pipeline.config),
            "runId": run.report.run_id,
            "startedAt": run.report.started_at.isoformat(),
            "identity": asdict(run.identity),
            "sweep": run.sweep.as_dict(),
            "logLevel": logging.getLogger("archiver").getEffectiveLevel(),
        }
        outstanding: dict[str, Mapping[str, Any]] = {}
        done = False
        merged = _Merge(run)
        logs = asyncio.create_task(_forward_logs(proc.stderr, self.index))
        try:
            proc.stdin.write(_line(job))
            async for line in proc.stdout:
                message = json.loads(line)
                kind = message.get("type")
                if kind == "more":
                    batch = [queue.popleft() for _ in range(min(int(message["want"]), len(queue)))]
                    outstanding.update((str(w["id"]), w) for w in batch)
                    proc.stdin.write(_line(_batch(batch, run.known, end=not queue)))
                elif kind == "finished":
                    outstanding.pop(str(message["id"]), None)
                elif kind == "done":
                    done = True
                else:
                    merged.take(message)
                await proc.stdin.drain()
            await logs
            code = await proc.wait()
        except (OSError, ValueError, KeyError) as exc:  # a broken pipe, a garbled line
            code = None
            why = f"{type(exc).__name__}: {exc}"
        else:
            why = f"exit status {code}"
        finally:
            logs.cancel()
        if done and code == 0 and not outstanding:
            return
        already = {f["workflowId"] for f in run.report.failed}
        for wf_id, listed in outstanding.items():
            if wf_id not in already:
                pipeline.fail(
                    Item("workflow", wf_id, str(listed.get("name", ""))),
                    "export",
                    ArchiverError(
                        f"the worker process backing up this workflow stopped before it finished ({why})"
                    ),
                )


def _line(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, default=str).encode() + b"\n"


def _batch(
    batch: Sequence[Mapping[str, Any]], known: Mapping[str, Mapping[str, Any]], *, end: bool
) -> dict[str, Any]:
    ids = {str(w["id"]) for w in batch}
    return {
        # whole ListWorkflows items: digest, status and creation time confirm unchanged workflows
        "workflows": [dict(w) for w in batch],
        "known": {k: v for k, v in known.items() if str(v.get("workflowId")) in ids},
        "end": end,
    }


class _Merge:
    """Folds a worker's reports into the parent's: entries appended, counters added as they grow."""

    def __init__(self, run: RunState) -> None:
        self._run = run
        self._stats: dict[str, int] = {}
        self._found: dict[str, int] = {}

    def take(self, message: Mapping[str, Any]) -> None:
        report = self._run.report
        kind = message.get("type")
        if kind == "stats":
            for key, value in message["stats"].items():
                report.stats[key] = report.stats.get(key, 0) + int(value) - self._stats.get(key, 0)
                self._stats[key] = int(value)
        elif kind == "found":  # progress only: versions a worker has listed
            for key, value in message["found"].items():
                if key != "workflows":
                    report.found[key] = report.found.get(key, 0) + int(value) - self._found.get(key, 0)
                    self._found[key] = int(value)
        elif kind in ("bundle", "skipped", "failed", "quarantined", "warnings"):
            field = "bundles" if kind == "bundle" else kind
            getattr(report, field).append(message["entry"])
        else:
            raise ValueError(f"unknown message from a worker process: {kind!r}")
        self._run.changed()


async def _forward_logs(stream: asyncio.StreamReader, index: int) -> None:
    """Re-emit a worker's JSON log lines through this process's loggers; anything else as an error."""
    async for raw in stream:
        line = raw.decode(errors="replace").rstrip("\n")
        if not line:
            continue
        try:
            fields = json.loads(line)
            record = logging.makeLogRecord({**fields, "args": None, "worker": index})
        except (ValueError, TypeError):
            log.error("worker process %d: %s", index, line, extra={"event": "worker-output"})
            continue
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


def _config_json(config: BackupConfig) -> dict[str, Any]:
    doc = asdict(config)
    doc["work_dir"] = str(config.work_dir) if config.work_dir is not None else None
    return doc


def _config_from(doc: Mapping[str, Any]) -> BackupConfig:
    return BackupConfig(
        **{
            **doc,
            "workflow_ids": tuple(doc["workflow_ids"]),
            "names": tuple(doc["names"]),
            "work_dir": Path(doc["work_dir"]) if doc.get("work_dir") else None,
        }
    )


# -- the worker's side ------------------------------------------------------------------------------


class _JsonLines(logging.Handler):
    """Log records as JSON lines on stderr, for the parent to re-emit."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            doc: dict[str, Any] = {
                "name": record.name,
                "levelno": record.levelno,
                "levelname": record.levelname,
                "msg": record.getMessage(),
                "created": record.created,
            }
            for key, value in record.__dict__.items():
                if key not in _RESERVED and not key.startswith("_"):
                    doc[key] = value
            if record.exc_info:
                doc["exc_text"] = logging.Formatter().formatException(record.exc_info)
            sys.stderr.write(json.dumps(doc, default=str) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


class _Reporter:
    """Streams a worker's report to the parent as it grows (the pipeline's progress callback)."""

    def __init__(self, out: Callable[[dict[str, Any]], None]) -> None:
        self._out = out
        self._sent = dict.fromkeys(_LIST_FIELDS, 0)
        self._stats: dict[str, int] = {}
        self._found: dict[str, int] = {}

    def __call__(self, report: BackupReport) -> None:
        for field in _LIST_FIELDS:
            entries = getattr(report, field)
            for entry in entries[self._sent[field] :]:
                self._out({"type": "bundle" if field == "bundles" else field, "entry": entry})
            self._sent[field] = len(entries)
        if report.stats != self._stats:
            self._stats = dict(report.stats)
            self._out({"type": "stats", "stats": self._stats})
        if report.found != self._found:
            self._found = dict(report.found)
            self._out({"type": "found", "found": self._found})


def _write_line(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


async def _run_job(job: Mapping[str, Any], stdin: asyncio.StreamReader) -> None:
    config = _config_from(job["config"])
    settings = AwsSettings(**job["aws"])
    store_opts = job["store"]["options"]
    reporter = _Reporter(_write_line)
    report = BackupReport(
        run_id=str(job["runId"]),
        started_at=datetime.fromisoformat(str(job["startedAt"])),
        dry_run=config.dry_run,
    )
    identity = CallerIdentity(**job["identity"])
    report.partition, report.account, report.region = identity.partition, identity.account, identity.region
    async with (
        open_store(str(job["store"]["url"]), StoreOptions(**store_opts) if store_opts else None) as store,
        open_omics_api(settings) as api,
        Downloader(concurrency=config.download_concurrency) as dl,
        open_ecr_resolver(ecr_settings(settings, api.region)) as images,
    ):
        api.limiter.share(float(job["rateShare"]))
        with work_directory("archiver", config.work_dir) as tmp:
            pipeline = Pipeline(api, store, config, dl, images=images)
            sweep = job["sweep"]
            pipeline.run = RunState(
                report=report,
                identity=identity,
                known={},
                work=Path(tmp),
                progress=reporter,
                sweep=Sweep(
                    night=int(sweep["night"]), full_every=int(sweep["fullEvery"]), full=bool(sweep["full"])
                ),
            )
            async with deferred_dir_sync(store) as dir_sync:
                await _work(pipeline, stdin, reporter)
                await dir_sync()  # before "done"; the parent also syncs the way to every new bundle
    reporter(report)


async def _work(pipeline: Pipeline, stdin: asyncio.StreamReader, reporter: _Reporter) -> None:
    """Ask the parent for workflows whenever there is room, until it says there are no more."""
    feeder = Feeder(pipeline, pipeline.config.workflow_concurrency)

    def finished(wf_id: str) -> None:
        reporter(pipeline.run.report)  # everything about the workflow goes out before "finished"
        _write_line({"type": "finished", "id": wf_id})

    watch: asyncio.Task[bytes] | None = None
    try:
        async with asyncio.TaskGroup() as tg:
            end = asked = False
            while not end:
                want = 0 if asked else feeder.wanted
                if want:
                    _write_line({"type": "more", "want": want})
                    asked = True
                if not asked:
                    await feeder.changed()
                    continue
                batch = json.loads(await _read_line(stdin))
                asked, end = False, bool(batch["end"])
                pipeline.run.known.update(batch["known"])
                for listed in batch["workflows"]:
                    feeder.start(tg, listed, finished)
            # No more work: the task group now waits for the workflows in flight; meanwhile keep
            # reading stdin, only to notice the parent's death.
            watch = asyncio.create_task(_read_line(stdin))
    finally:
        if watch is not None:
            watch.cancel()


async def _read_line(stdin: asyncio.StreamReader) -> bytes:
    """The next line from the parent; its end of file means the parent died: stop at once."""
    line = await stdin.readline()
    if not line.endswith(b"\n"):
        os._exit(1)
    return line


async def _main() -> int:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=_BATCH_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    job = json.loads(await _read_line(stdin))
    # As in the parent: the archiver's records at the parent's level, other libraries' warnings.
    handler = _JsonLines()
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(logging.WARNING)
    ours = logging.getLogger("archiver")
    ours.handlers[:] = [handler]
    ours.setLevel(int(job.get("logLevel", logging.INFO)))
    ours.propagate = False
    try:
        await _run_job(job, stdin)
    except ArchiverError as exc:
        log.error("worker process failed: %s", exc.message, extra={"event": "worker-failed"})
        return 1
    _write_line({"type": "done"})
    return 0


def main() -> int:
    # Ctrl-C, SIGTERM and SIGHUP reach the whole process group (or systemd's cgroup): the parent
    # alone decides, stops the run cleanly and then kills its workers; a worker that died on its
    # own would only fail its workflows first. A worker whose parent dies sees its stdin close.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    return asyncio.run(_main())


if __name__ == "__main__":
    sys.exit(main())
