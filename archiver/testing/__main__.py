"""``python -m archiver.testing``: run the emulator as a process (flags as ``omics-archiver emulator``)."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
