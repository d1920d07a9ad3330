"""The AWS CLI examples of README.md and docs/emulator.md work against the emulator, as written.

Each example's ``export`` and ``aws`` lines are taken from the document (the port put in) and run in
a shell with no other AWS_* variable, so that a missing setting in the document fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.testing import Emulator, EmulatorConfig

ROOT = Path(__file__).parent.parent
AWS = shutil.which("aws") or str(Path(sys.executable).parent / "aws")


def _example(doc: Path, command: str) -> list[str]:
    """The ``export`` lines before the first line starting with ``command`` in ``doc``, and that line."""
    lines = [line.strip() for line in doc.read_text().splitlines()]
    end = next(i for i, line in enumerate(lines) if line.startswith(command))
    exports = [line for line in lines[:end] if line.startswith("export AWS_")][-2:]
    return [*exports, lines[end]]


@pytest.mark.skipif(not Path(AWS).exists(), reason="the AWS CLI is not installed")
@pytest.mark.parametrize(
    ("doc", "command", "expect"),
    [
        ("README.md", "aws omics list-workflows", "fastq-qc"),
        ("docs/emulator.md", "aws omics get-workflow", '"name": "fastq-qc"'),
    ],
)
def test_the_documented_aws_cli_example_works(doc: str, command: str, expect: str, tmp_path: Path) -> None:
    script = _example(ROOT / doc, command)
    assert any("AWS_DISABLE_HOST_PREFIX_INJECTION=true" in line for line in script), script
    with Emulator(EmulatorConfig(), seed_dir=ROOT / "examples" / "seed") as emu:
        port = emu.url.rsplit(":", 1)[1].strip("/")
        text = "\n".join(re.sub(r"127\.0\.0\.1:(8080|PORT)", f"127.0.0.1:{port}", line) for line in script)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PATH"] = f"{Path(AWS).parent}:{env.get('PATH', '')}"
        env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
        done = subprocess.run(["bash", "-ec", text], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert expect in done.stdout
