"""Run a command as this process's only child and write what it used: ``python -S -I _launch.py
REPORT CMD...``.

Why not ``os.wait4`` on the command itself: Linux carries a process's peak RSS across ``exec``
from the memory it had before, and a child that ``subprocess`` starts from the bench (a Python
process of ~80 MB) begins with the bench's own peak. Every command then seemed to need at least
~80 MB. Started from this small process instead (~9 MB), the floor is far below any real figure.

REPORT gets one line: wall seconds (fork to reap), peak RSS in KiB, user and system CPU seconds,
all of the command alone. The exit status is the command's (128 + N for a signal). No imports
beyond the standard library's ``os``, ``sys`` and ``time``, so that this process stays small.
"""

import os
import sys
import time


def main() -> int:
    report, cmd = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    with open(report, "w") as out:
        out.write(f"{seconds!r} {usage.ru_maxrss} {usage.ru_utime!r} {usage.ru_stime!r}\n")
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
