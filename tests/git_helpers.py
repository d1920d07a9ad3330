"""A local Git repository for ``definitionRepository`` tests, made with the ``git`` binary."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CONNECTION = "arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-emulated"


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str | bytes], message: str) -> str:
    """Write ``files`` into the work tree, commit everything, return the commit id."""
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_repo(root: Path, full_id: str, files: dict[str, str | bytes]) -> Path:
    """``root/<owner>/<name>``: a repository on branch ``main`` with one commit of ``files``."""
    repo = root / full_id
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    commit(repo, files, "first")
    return repo
