"""Every image a definition ZIP names, from the files of each workflow language in it.

The ZIP comes from the service and is treated as hostile: members are read with a size cap that
checks the bytes actually inflated (not the header's claim), at most :data:`MAX_MEMBERS` members and
:data:`MAX_TOTAL_BYTES` bytes are scanned, and a file that cannot be decoded or parsed is reported
as a problem rather than raised. Which scanner reads a member depends on its name: ``*.wdl`` (WDL),
``*.nf`` and ``*.config`` (Nextflow), ``*.cwl`` and YAML/JSON files mentioning ``dockerPull`` (CWL).

Backup also checks every definition it archives (:func:`archiver._zipsafe.zip_problem`), so
:func:`check_and_scan` does both on one parse of the ZIP: the check's read of each workflow file is
the scan's. It gives what :func:`zip_problem` and :func:`scan_definition` give, called one after
the other; a ZIP the one-pass check cannot call sound is checked and scanned the long way.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .._zipsafe import SoundZip, full_zip_problem, read_sound
from ._cwl import scan_cwl
from ._found import Occurrence
from ._nextflow import scan_nextflow
from ._wdl import scan_wdl

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_MEMBERS",
    "MAX_TOTAL_BYTES",
    "Checked",
    "Scan",
    "check_and_scan",
    "scan_definition",
]

MAX_FILE_BYTES = 8 << 20
MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 64 << 20
_READ_ERRORS = (  # what a damaged or hostile ZIP may raise as it is opened or read
    OSError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    ValueError,
    zlib.error,
    zipfile.BadZipFile,
)


@dataclass
class Scan:
    """The occurrences found, and the files that could not be scanned (``"path: why"``)."""

    occurrences: list[Occurrence] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Checked:
    """A definition ZIP checked and scanned: ``zip_problem`` as :func:`zip_problem` words it."""

    zip_problem: str | None
    scan: Scan


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


def _scan_members(
    archive: Callable[[], zipfile.ZipFile], infos: list[zipfile.ZipInfo], kept: dict[int, bytes], result: Scan
) -> None:
    """Scan the workflow files among ``infos`` (``archive()``'s members); a member in ``kept`` (by
    index) is not read again, and ``archive`` is only called for one that is not.

    A kept member is one the ZIP check read whole with a good CRC, so its bytes are what
    :func:`_read` would return whenever they are within the limit.
    """
    members = [(n, i) for n, i in enumerate(infos) if not i.is_dir() and _scanner(i.filename)]
    if len(members) > MAX_MEMBERS:
        result.problems.append(f"only the first {MAX_MEMBERS} of {len(members)} workflow files were scanned")
    budget = MAX_TOTAL_BYTES
    for index, info in members[:MAX_MEMBERS]:
        scanner = _scanner(info.filename)
        assert scanner is not None
        limit = min(MAX_FILE_BYTES, budget)
        data = kept.get(index)
        if data is None or len(data) > limit:
            try:
                data = _read(archive(), info, limit)
            except _READ_ERRORS as exc:
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


def scan_definition(definition: Path | bytes) -> Scan:
    """Scan every workflow file of the definition ZIP (a file or its bytes)."""
    result = Scan()
    try:
        with zipfile.ZipFile(
            io.BytesIO(definition) if isinstance(definition, bytes) else definition
        ) as archive:
            _scan_members(lambda: archive, archive.infolist(), {}, result)
    except _READ_ERRORS as exc:
        result.problems.append(f"the definition is not a readable ZIP ({exc})")
    return result


class _Keep:
    """Which members the ZIP check keeps for the scan: the workflow files the scan would read
    whole, within its member count and byte budget (a guess may only cost a second read)."""

    def __init__(self) -> None:
        self.count = 0
        self.budget = MAX_TOTAL_BYTES

    def __call__(self, index: int, info: zipfile.ZipInfo) -> bool:
        if _scanner(info.filename) is None:
            return False
        self.count += 1
        if self.count > MAX_MEMBERS or info.file_size > min(MAX_FILE_BYTES, self.budget):
            return False
        self.budget -= info.file_size
        return True


def check_and_scan(definition: Path | bytes) -> Checked:
    """``zip_problem`` and ``scan_definition`` of the definition ZIP, parsing it once when it is sound."""
    source = io.BytesIO(definition) if isinstance(definition, bytes) else definition
    sound: SoundZip | None = read_sound(source, _Keep())
    if sound is None:
        return Checked(full_zip_problem(source), scan_definition(definition))
    result = Scan()
    opened: zipfile.ZipFile | None = None
    with contextlib.ExitStack() as stack:

        def archive() -> zipfile.ZipFile:  # opened again only for a member the check did not keep
            nonlocal opened
            if opened is None:
                opened = stack.enter_context(zipfile.ZipFile(source))
            return opened

        try:
            _scan_members(archive, sound.infos, sound.kept, result)
        except _READ_ERRORS as exc:
            result.problems.append(f"the definition is not a readable ZIP ({exc})")
    return Checked(None, result)
