"""Child processes for the benchmarks: the emulator, the CLI and the baseline script.

Every child gets fake credentials and no other ``AWS_*`` variable, talks only to 127.0.0.1, and is
bounded in time (a watchdog kills it). :func:`run` reaps the child with ``os.wait4`` to get its peak
resident set size (``ru_maxrss``, KiB on Linux) along with the wall time.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["CLI", "ROOT", "Emulator", "Finished", "bench_env", "export_revision", "run", "use_code"]

CLI = [sys.executable, "-m", "archiver.cli"]
ROOT = Path(__file__).resolve().parent.parent

# Where the children import ``archiver`` from: the working tree, or an exported git revision
# (``--rev``), so that figures are of one known version even while the tree is being edited.
_code_root = ROOT


def use_code(root: Path) -> None:
    global _code_root
    _code_root = root


def compile_code() -> None:
    """Compile the measured package's bytecode, as ``pip install`` does for an installed copy.

    Otherwise, with ``PYTHONDONTWRITEBYTECODE`` set (as on these machines), every measured process
    (and every backup worker process) would compile ``archiver`` from source as it starts, about
    0.2 s of CPU that no installed copy pays.
    """
    compileall.compile_dir(_code_root / "archiver", quiet=1, workers=1)


def export_revision(rev: str, dest: Path) -> str:
    """Export ``archiver/`` and ``schemas/`` of git revision ``rev`` into ``dest``; return its hash."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "archiver", "schemas"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, timeout=60, check=True)
    return commit


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="123456789012",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PYTHONPATH=str(_code_root),
    )
    return env


@dataclass(frozen=True)
class Finished:
    returncode: int
    seconds: float
    maxrss_kib: int
    cpu_seconds: float  # user + system of the child (rusage)
    stdout: str
    stderr_tail: str


def run(cmd: Sequence[str], *, log_dir: Path, name: str, timeout: float) -> Finished:
    """Run ``cmd`` to completion (killed after ``timeout`` s); time it and read its peak RSS.

    The command is started by ``_launch.py``, a small process of its own, which reports the
    command's wall time, peak RSS and CPU time: started from the bench directly, its peak RSS would
    begin at the bench's (see that module).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    report = log_dir / f"{name}.usage"
    report.unlink(missing_ok=True)
    launch = [sys.executable, "-S", "-I", str(_LAUNCH), str(report)]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [*launch, *cmd], stdout=out, stderr=err, env=bench_env(), cwd=_code_root, start_new_session=True
        )
        watchdog = threading.Timer(timeout, _kill_group, args=(proc.pid,))
        watchdog.start()
        try:
            returncode = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:  # interrupted: take the command down with its launcher
                _kill_group(proc.pid)
    try:
        seconds, maxrss, user, system = report.read_text().split()
    except (OSError, ValueError) as exc:
        why = f"killed after {timeout:g} s" if returncode == -9 else f"exit {returncode}"
        raise RuntimeError(f"{name}: the launcher reported nothing ({why}); see {err_path}") from exc
    stderr = err_path.read_text(errors="replace")
    return Finished(
        returncode=returncode,
        seconds=float(seconds),
        maxrss_kib=int(maxrss),
        cpu_seconds=float(user) + float(system),
        stdout=out_path.read_text(errors="replace"),
        stderr_tail=stderr[-2000:],
    )


_LAUNCH = Path(__file__).resolve().parent / "_launch.py"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, 9)


class Emulator:
    """``omics-archiver emulator`` in its own process, with its HTTP control API."""

    def __init__(
        self,
        seed: Path,
        *,
        latency_ms: float,
        log: Path,
        extra: Sequence[str] = (),
        start_timeout: float = 300,
    ) -> None:
        self._cmd = [
            *CLI,
            "emulator",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--latency-ms",
            str(latency_ms),
            *extra,
        ]
        self._log = log
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> Emulator:
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with open(self._log, "wb") as err:
            self._proc = subprocess.Popen(
                self._cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=bench_env(), cwd=_code_root
            )
        try:
            self.url = self._first_line(self._proc)
            if not self.url.startswith("http://127.0.0.1:"):
                raise RuntimeError(f"the emulator did not start; see {self._log}")
        except BaseException:
            self._stop()
            raise
        return self

    def _first_line(self, proc: subprocess.Popen[str]) -> str:
        got: list[str] = []
        assert proc.stdout is not None
        reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(self._start_timeout)
        return got[0].strip() if got else ""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the emulator process has used so far (Linux /proc)."""
        if self._proc is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/_emulator/stats")
        return result

    def reset_stats(self) -> None:
        self._request("POST", "/_emulator/reset-stats")

    def configure(self, **changes: Any) -> None:
        self._request("POST", "/_emulator/config", changes)
