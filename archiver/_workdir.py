"""Work directories: a command's scratch space, and the cleanup after a command that was killed.

Every command keeps its downloads and bundles-in-progress in a directory
``omics-<what>-<host>-<pid>-<random>`` in ``--work-dir`` (or the system's temporary directory) and
removes it when it ends, however it ends, except when it is killed outright (SIGKILL, OOM killer,
power loss). So every command, before it makes its own, removes what such a run left in the same
place. The rule, which never removes a directory a live command is using:

* a directory of this host whose pid no longer runs is removed at once;
* a directory of another host (a shared work directory), or one of a version that did not record
  its pid (``omics-<what>-<random>``), only once it has not been modified for
  :data:`STALE_AFTER` seconds;
* only directories owned by the current user, and only names of the form above, are considered.

A pid reused by an unrelated process keeps its directory until that process ends: the rule errs
on the side of keeping.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["STALE_AFTER", "sweep_work_dirs", "work_base", "work_directory"]

log = logging.getLogger(__name__)

STALE_AFTER = 24 * 3600.0
_OURS = re.compile(r"^omics-(?P<what>[a-z]+)-(?:(?P<host>[A-Za-z0-9.]+)-(?P<pid>[0-9]+)-)?[a-z0-9_]{6,}$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", ".", socket.gethostname())[:64] or "host"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid we could have written: keep
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. PermissionError: it runs, as another user
    return True


def sweep_work_dirs(base: Path, *, now: float | None = None) -> list[Path]:
    """Remove the work directories in ``base`` that killed commands left (see the module docstring)."""
    now = time.time() if now is None else now
    host = _host()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        m = _OURS.match(entry.name)
        if m is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not entry.is_dir(follow_symlinks=False) or st.st_uid != os.getuid():
            continue
        if m.group("host") == host:
            stale = not _alive(int(m.group("pid")))
        else:
            stale = now - st.st_mtime > STALE_AFTER
        if stale:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
            log.info("removed %s, left by a killed run", entry.path, extra={"event": "leftover-removed"})
    return removed


def work_base(base: Path | None) -> Path:
    """Where work directories go: ``base`` (``--work-dir``) or the system's temporary directory."""
    return Path(base) if base is not None else Path(tempfile.gettempdir())


@contextmanager
def work_directory(what: str, base: Path | None = None, *, sweep: bool = True) -> Iterator[Path]:
    """A fresh private work directory for command ``what``, removed on exit; stale ones go first.

    ``sweep=False`` when the caller has swept ``base`` already in this command (a run of many
    targets sweeps once, not once a target).
    """
    where = work_base(base)
    if sweep:
        sweep_work_dirs(where)
    path = Path(tempfile.mkdtemp(prefix=f"omics-{what}-{_host()}-{os.getpid()}-", dir=where))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
