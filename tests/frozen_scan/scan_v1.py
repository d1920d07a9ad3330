"""Every image a definition ZIP names, from the files of each workflow language in it.

The ZIP comes from the service and is treated as hostile: members are read with a size cap that
checks the bytes actually inflated (not the header's claim), at most :data:`MAX_MEMBERS` members and
:data:`MAX_TOTAL_BYTES` bytes are scanned, and a file that cannot be decoded or parsed is reported
as a problem rather than raised. Which scanner reads a member depends on its name: ``*.wdl`` (WDL),
``*.nf`` and ``*.config`` (Nextflow), ``*.cwl`` and YAML/JSON files mentioning ``dockerPull`` (CWL).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archiver.images._cwl import scan_cwl
from archiver.images._found import Occurrence

from .nextflow_v1 import scan_nextflow
from .wdl_v1 import scan_wdl

__all__ = ["MAX_FILE_BYTES", "MAX_MEMBERS", "MAX_TOTAL_BYTES", "Scan", "scan_definition"]

MAX_FILE_BYTES = 8 << 20
MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 64 << 20


@dataclass
class Scan:
    """The occurrences found, and the files that could not be scanned (``"path: why"``)."""

    occurrences: list[Occurrence] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _scanner(name: str) -> Callable[[str, str], list[Occurrence]] | None:
    lower = name.lower()
    if lower.endswith(".wdl"):
        return scan_wdl
    if lower.endswith((".nf", ".config")):
        return scan_nextflow
    if lower.endswith(".cwl"):
        return scan_cwl
    if lower.endswith((".yml", ".yaml", ".json")):
        return _maybe_cwl
    return None


def _maybe_cwl(path: str, text: str) -> list[Occurrence]:
    return scan_cwl(path, text) if "dockerPull" in text else []


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes | None:
    """The member's bytes, or ``None`` if it inflates to more than ``limit``."""
    with archive.open(info) as member:
        data = member.read(limit + 1)
    return None if len(data) > limit else data


def scan_definition(definition: Path | bytes) -> Scan:
    """Scan every workflow file of the definition ZIP (a file or its bytes)."""
    result = Scan()
    try:
        with zipfile.ZipFile(
            io.BytesIO(definition) if isinstance(definition, bytes) else definition
        ) as archive:
            members = [i for i in archive.infolist() if not i.is_dir() and _scanner(i.filename)]
            if len(members) > MAX_MEMBERS:
                result.problems.append(
                    f"only the first {MAX_MEMBERS} of {len(members)} workflow files were scanned"
                )
            budget = MAX_TOTAL_BYTES
            for info in members[:MAX_MEMBERS]:
                scanner = _scanner(info.filename)
                assert scanner is not None
                limit = min(MAX_FILE_BYTES, budget)
                try:
                    data = _read(archive, info, limit)
                except (
                    OSError,
                    EOFError,
                    RuntimeError,
                    NotImplementedError,
                    ValueError,
                    zlib.error,
                    zipfile.BadZipFile,
                ) as exc:
                    result.problems.append(f"{info.filename}: cannot be read from the ZIP ({exc})")
                    continue
                if data is None:
                    result.problems.append(
                        f"{info.filename}: not scanned (over {limit} bytes, or the scan budget is spent)"
                    )
                    continue
                budget -= len(data)
                try:
                    text = data.decode("utf-8-sig")
                except UnicodeDecodeError:
                    result.problems.append(f"{info.filename}: not scanned (not UTF-8 text)")
                    continue
                try:
                    result.occurrences += scanner(info.filename, text)
                except (ValueError, RecursionError) as exc:
                    result.problems.append(f"{info.filename}: not scanned ({exc})")
    except (OSError, EOFError, ValueError, zlib.error, zipfile.BadZipFile) as exc:
        result.problems.append(f"the definition is not a readable ZIP ({exc})")
    return result
