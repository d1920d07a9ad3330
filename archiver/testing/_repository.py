"""Git repositories behind ``definitionRepository``: the emulator's stand-in for AWS CodeConnections.

HealthOmics can build a workflow definition from a Git repository that a CodeConnections connection
reaches. Here a directory of repositories plays every provider: the repository at
``<root>/<owner>/<name>`` (bare or with a work tree) is ``fullRepositoryId`` ``<owner>/<name>``, and
any connection ARN of the caller's own account and region
(``arn:aws:codeconnections:<region>:<account>:connection/<id>``) reaches it. A connection of another
account is AccessDeniedException, of another region or not a connection at all ValidationException.

The reference (BRANCH, TAG or COMMIT; the default branch without one) is resolved with the ``git``
binary, without network, and the definition is built from that commit's tree: files matching
``excludeFilePatterns`` left out, the service's 100 MiB-a-file and 1 GiB limits enforced on what
remains, zipped deterministically (the same commit gives the same bytes and digest). ``readmePath``
and ``parameterTemplatePath`` name files in the repository (not in the ZIP).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._config import README_MAX_BYTES, REPOSITORY_FILE_MAX_BYTES, REPOSITORY_MAX_BYTES
from ._definition import zip_files
from ._model import ApiError
from ._state import Caller

__all__ = ["Repositories", "RepositoryDefinition", "check_connection", "excluded"]

PROVIDER_TYPE = "GitHub"
PROVIDER_ENDPOINT = "https://github.com"
_CONNECTION = re.compile(
    r"arn:aws(?:-[a-z]+)*:(?P<service>[a-z-]+):(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"connection/(?P<id>[A-Za-z0-9-]+)"
)
_PART = re.compile(r"[A-Za-z0-9_.-]+")
_SHA = re.compile(r"[0-9a-fA-F]{7,40}")
_GIT_TIMEOUT = 60.0
# Only the repository's own configuration counts; git never prompts.
_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}


@dataclass(frozen=True)
class RepositoryDefinition:
    """What a create from a repository yields: the ZIP, README text, parameter template, details."""

    data: bytes
    readme: str | None
    parameter_template: dict[str, Any] | None
    details: dict[str, Any]


def _invalid(message: str) -> ApiError:
    return ApiError("ValidationException", message)


def check_connection(caller: Caller, arn: str) -> None:
    """Refuse a connection ARN the caller's account and region cannot use, as the service would."""
    match = _CONNECTION.fullmatch(arn)
    if match is None or match.group("service") not in ("codeconnections", "codestar-connections"):
        raise _invalid(f"connectionArn {arn} is not an AWS CodeConnections connection ARN")
    if match.group("account") != caller.account:
        raise ApiError(
            "AccessDeniedException",
            f"The connection {arn} belongs to another account; a connection must be in the caller's account",
        )
    if match.group("region") != caller.region:
        raise _invalid(f"The connection {arn} is in {match.group('region')}, not in {caller.region}")


def excluded(path: str, patterns: list[str]) -> bool:
    """Whether ``path`` matches one of ``excludeFilePatterns`` (globs; a bare name matches anywhere)."""
    name = path.rsplit("/", 1)[-1]
    for pattern in patterns:
        stripped = pattern.lstrip("/")
        if fnmatch.fnmatchcase(path, stripped):
            return True
        if "/" not in stripped and fnmatch.fnmatchcase(name, stripped):
            return True
        if stripped.endswith("/**") and path.startswith(stripped[:-2]):
            return True
        if stripped.endswith("/") and path.startswith(stripped):
            return True
    return False


class Repositories:
    """The repositories under ``root`` (``None``: no repository exists)."""

    def __init__(
        self,
        root: Path | None,
        *,
        max_bytes: int = REPOSITORY_MAX_BYTES,
        file_max_bytes: int = REPOSITORY_FILE_MAX_BYTES,
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.file_max_bytes = file_max_bytes

    async def build(
        self,
        caller: Caller,
        repository: dict[str, Any],
        *,
        readme_path: str | None,
        parameter_template_path: str | None,
    ) -> RepositoryDefinition:
        """The definition a create with ``definitionRepository`` gets, or :class:`ApiError`."""
        check_connection(caller, str(repository["connectionArn"]))
        return await asyncio.to_thread(self._build, repository, readme_path, parameter_template_path)

    def build_now(
        self,
        caller: Caller,
        repository: dict[str, Any],
        *,
        readme_path: str | None,
        parameter_template_path: str | None,
    ) -> RepositoryDefinition:
        """:meth:`build` on the calling thread (for seeds, which load before serving)."""
        check_connection(caller, str(repository["connectionArn"]))
        return self._build(repository, readme_path, parameter_template_path)

    # --- on a worker thread -----------------------------------------------------------------------

    def _repo_dir(self, full_id: str) -> Path:
        owner, _, name = full_id.partition("/")
        parts_ok = all(_PART.fullmatch(p) and p not in (".", "..") for p in (owner, name))
        if not parts_ok:
            raise _invalid(f"fullRepositoryId {full_id} must be <owner>/<repository>")
        if self.root is None:
            raise _invalid(f"Repository {full_id} was not found through the connection")
        path = self.root / owner / name
        if not path.is_dir():
            raise _invalid(f"Repository {full_id} was not found through the connection")
        return path

    def _git(self, repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args],
                input=stdin,
                capture_output=True,
                timeout=_GIT_TIMEOUT,
                check=False,
                env={**os.environ, **_GIT_ENV},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ApiError("InternalServerException", "The repository could not be read") from exc
        if done.returncode != 0:
            raise _GitFailed(done.stderr.decode(errors="replace").strip())
        return done.stdout

    def _resolve(self, repo: Path, full_id: str, reference: dict[str, Any] | None) -> str:
        if reference is None:
            spec, what = "HEAD", "the default branch"
        else:
            kind, value = str(reference["type"]), str(reference["value"])
            what = f"{kind} {value}"
            if kind == "BRANCH":
                spec = f"refs/heads/{value}"
            elif kind == "TAG":
                spec = f"refs/tags/{value}"
            else:
                if not _SHA.fullmatch(value):
                    raise _invalid(f"sourceReference COMMIT {value} is not a commit id")
                spec = value
            if not value or value.startswith("-"):
                raise _invalid(f"sourceReference {what} is not valid")
        try:
            out = self._git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", spec + "^{commit}")
        except _GitFailed as exc:
            raise _invalid(f"{what} was not found in repository {full_id}") from exc
        return out.decode().strip()

    def _build(
        self, repository: dict[str, Any], readme_path: str | None, parameter_template_path: str | None
    ) -> RepositoryDefinition:
        full_id = str(repository["fullRepositoryId"])
        repo = self._repo_dir(full_id)
        reference = repository.get("sourceReference")
        commit = self._resolve(repo, full_id, reference)
        patterns = [str(p) for p in repository.get("excludeFilePatterns") or []]
        listing = self._git(repo, "ls-tree", "-r", "-z", "--long", commit)
        entries: list[tuple[str, str, int]] = []  # (path, object id, size) of every regular file
        everything: dict[str, str] = {}
        total = 0
        for record in listing.split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, oid, size = meta.split()
            path = raw_path.decode("utf-8", errors="surrogateescape")
            if kind != b"blob" or mode == b"120000":
                continue  # submodules and symbolic links are not part of a definition
            everything[path] = oid.decode()
            if excluded(path, patterns):
                continue
            length = int(size)
            if length > self.file_max_bytes:
                raise _invalid(
                    f"{path} in repository {full_id} is {length} bytes; the limit is "
                    f"{self.file_max_bytes} bytes a file"
                )
            total += length
            if total > self.max_bytes:
                raise _invalid(
                    f"The definition in repository {full_id} is over the {self.max_bytes}-byte limit"
                )
            entries.append((path, oid.decode(), length))
        extra = [p for p in (readme_path, parameter_template_path) if p is not None]
        for path in extra:
            if path not in everything:
                raise _invalid(f"{path} was not found in repository {full_id} at {commit[:12]}")
        wanted = {oid for _, oid, _ in entries} | {everything[p] for p in extra}
        blobs = self._blobs(repo, sorted(wanted))
        readme = None
        if readme_path is not None:
            raw = blobs[everything[readme_path]]
            if len(raw) > README_MAX_BYTES:
                raise _invalid(f"The README {readme_path} is larger than {README_MAX_BYTES} bytes")
            readme = raw.decode("utf-8", errors="replace")
        template = None
        if parameter_template_path is not None:
            try:
                template = json.loads(blobs[everything[parameter_template_path]])
            except ValueError as exc:
                raise _invalid(f"{parameter_template_path} is not a JSON parameter template") from exc
            if not isinstance(template, dict):
                raise _invalid(f"{parameter_template_path} is not a JSON parameter template")
        data = zip_files((path, blobs[oid]) for path, oid, _ in entries)
        details: dict[str, Any] = {
            "connectionArn": repository["connectionArn"],
            "fullRepositoryId": full_id,
            "providerType": PROVIDER_TYPE,
            "providerEndpoint": PROVIDER_ENDPOINT,
        }
        if reference is not None:
            details["sourceReference"] = {"type": reference["type"], "value": reference["value"]}
        return RepositoryDefinition(data, readme, template, details)

    def _blobs(self, repo: Path, oids: list[str]) -> dict[str, bytes]:
        """The content of each blob, read in one ``git cat-file --batch``."""
        if not oids:
            return {}
        out = self._git(repo, "cat-file", "--batch", stdin="".join(o + "\n" for o in oids).encode())
        blobs: dict[str, bytes] = {}
        at = 0
        for oid in oids:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            if len(header) != 3 or header[0].decode() != oid:
                raise ApiError("InternalServerException", "The repository could not be read")
            size = int(header[2])
            blobs[oid] = out[end + 1 : end + 1 + size]
            at = end + 1 + size + 1
        return blobs


class _GitFailed(Exception):
    """``git`` exited non-zero (its stderr is the message; never shown to a client)."""
