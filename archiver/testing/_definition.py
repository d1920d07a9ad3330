"""Workflow definition bundles: checking a ZIP the way the service does, building one, reading S3.

HealthOmics accepts a definition as an inline ZIP or an ``s3://`` URI and decides asynchronously
whether it is usable: the ZIP must open, and the main file must be named (``main``) or follow the
packaging guide's rule (:func:`choose_main`). :func:`inspect_definition` reproduces that verdict.
:func:`deterministic_zip` builds byte-identical ZIPs from a directory (seed data), and
:class:`S3Reader` fetches ``s3://`` objects from the configured S3 endpoint with boto3 on a worker
thread, enforcing a size limit with HeadObject before any byte is downloaded.
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ._model import ApiError

__all__ = [
    "S3Reader",
    "Verdict",
    "choose_main",
    "deterministic_zip",
    "inspect_definition",
    "parse_s3_uri",
    "zip_files",
]

_ENGINE_SUFFIXES = {"WDL": (".wdl",), "WDL_LENIENT": (".wdl",), "NEXTFLOW": (".nf",), "CWL": (".cwl",)}
_S3_URI = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.{1,1024})")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Verdict:
    """How an asynchronous create ends: ACTIVE with the resolved main and engine, or FAILED."""

    status: str
    message: str | None
    main: str | None
    engine: str | None


def _engine_of(name: str) -> str | None:
    lowered = name.lower()
    for engine, suffixes in _ENGINE_SUFFIXES.items():
        if engine != "WDL_LENIENT" and lowered.endswith(suffixes):
            return engine
    return None


def _hidden(name: str) -> bool:
    return any(part.startswith(".") for part in name.split("/"))


def choose_main(names: list[str], engine: str | None) -> Verdict:
    """The packaging guide's rule for a definition without ``main``.

    Hidden files and folders are ignored. Without ``engine`` the visible definition files must all be
    of one engine. Among the definition files closest to the root, a single one is the main file
    whatever its name; among several, the one named ``main.<ext>``; otherwise the create fails.
    """
    visible = [n for n in names if not _hidden(n)]
    if engine is None:
        engines = {e for e in (_engine_of(n) for n in visible) if e is not None}
        if len(engines) > 1:
            return Verdict(
                "FAILED",
                f"The definition has files of several engines ({', '.join(sorted(engines))}); "
                "specify engine or main",
                None,
                None,
            )
        engine_suffixes = tuple(s for e in engines for s in _ENGINE_SUFFIXES[e])
    else:
        engine_suffixes = _ENGINE_SUFFIXES.get(engine, ())
    found = [n for n in visible if engine_suffixes and n.lower().endswith(engine_suffixes)]
    if not found:
        return Verdict("FAILED", "No main workflow file was found in the definition", None, engine)
    depth = min(n.count("/") for n in found)
    closest = sorted(n for n in found if n.count("/") == depth)
    if len(closest) == 1:
        chosen = closest[0]
    else:
        named_main = [n for n in closest if n.rsplit("/", 1)[-1].lower().rsplit(".", 1)[0] == "main"]
        if len(named_main) != 1:
            return Verdict(
                "FAILED",
                f"The definition has {len(closest)} workflow files at the level closest to the root "
                "and none is named main; specify main",
                None,
                engine,
            )
        chosen = named_main[0]
    return Verdict("ACTIVE", None, chosen, engine or _engine_of(chosen))


def inspect_definition(data: bytes, main: str | None, engine: str | None) -> Verdict:
    """The service's verdict on a definition ZIP (not a ZIP, main missing, main ambiguous)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, ValueError):
        return Verdict("FAILED", "Workflow definition is not a valid ZIP archive", main, engine)
    if main is not None:
        if main not in names:
            return Verdict(
                "FAILED", f"Main workflow file {main} was not found in the definition", main, engine
            )
        return Verdict("ACTIVE", None, main, engine or _engine_of(main))
    return choose_main(names, engine)


def deterministic_zip(root: Path) -> bytes:
    """ZIP every file under ``root`` by sorted relative path with fixed timestamps and modes."""
    return zip_files((p.relative_to(root).as_posix(), p.read_bytes()) for p in root.rglob("*") if p.is_file())


def zip_files(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A deterministic ZIP of (POSIX path, content) pairs: sorted, fixed timestamps, mode 0644."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def parse_s3_uri(uri: str, member: str) -> tuple[str, str]:
    match = _S3_URI.fullmatch(uri)
    if match is None:
        raise ApiError("ValidationException", f"{member} must be an S3 URI of the form s3://bucket/key")
    return match.group(1), match.group(2)


class S3Reader:
    """Reads ``s3://`` objects from one S3 endpoint (a moto server in tests)."""

    def __init__(self, endpoint_url: str | None) -> None:
        self.endpoint_url = endpoint_url
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            session = boto3.session.Session()
            # Any credentials do for a local S3; use the environment's when there are some.
            fallback = (
                {} if session.get_credentials() else {"aws_access_key_id": "x", "aws_secret_access_key": "x"}
            )
            self._client = session.client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name="us-east-1",
                **fallback,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
            )
        return self._client

    def _read(self, bucket: str, key: str, limit: int, member: str) -> bytes:
        try:
            head = self._s3().head_object(Bucket=bucket, Key=key)
            if int(head["ContentLength"]) > limit:
                raise ApiError(
                    "ValidationException",
                    f"The object at {member} is {head['ContentLength']} bytes; the limit is {limit} bytes",
                )
            body = self._s3().get_object(Bucket=bucket, Key=key)["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
            return data
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise ApiError("ValidationException", f"Unable to read {member} from S3 ({code})") from exc
        except BotoCoreError as exc:
            raise ApiError("ValidationException", f"Unable to read {member} from S3") from exc

    async def read(self, uri: str, *, limit: int, member: str) -> bytes:
        if self.endpoint_url is None:
            raise ApiError(
                "ValidationException", f"{member} needs an S3 endpoint; the emulator has none configured"
            )
        bucket, key = parse_s3_uri(uri, member)
        return await asyncio.to_thread(self._read, bucket, key, limit, member)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
