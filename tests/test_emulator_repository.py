"""definitionRepository through the emulator's CodeConnections stand-in, and the members it returns."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from archiver.testing import Emulator, EmulatorConfig
from archiver.testing._definition import choose_main
from tests.emulator_helpers import omics_client, problems_fixture  # noqa: F401
from tests.git_helpers import CONNECTION, commit, git, make_repo

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub"
FILES = {
    "main.wdl": "version 1.0\nworkflow hello {}\n",
    "tasks/align.wdl": "version 1.0\ntask align { command {} }\n",
    "docs/README.md": "# Hello\nfrom git\n",
    "params.json": json.dumps({"sample": {"description": "a sample", "optional": False}}),
    "tests/big.bin": "x" * 3000,
    "notes.md": "not part of the definition\n",
}


@pytest.fixture(name="world")
def world_fixture(tmp_path: Path) -> Iterator[tuple[Emulator, Path]]:
    repo = make_repo(tmp_path, "octo/hello", FILES)
    config = EmulatorConfig(quotas=None, repositories_dir=str(tmp_path))
    with Emulator(config) as emu:
        yield emu, repo


@pytest.fixture(name="omics")
def omics_fixture(world: tuple[Emulator, Path], problems: list[str]) -> Iterator[Any]:
    client = omics_client(world[0].url, problems)
    yield client
    client.close()


def repository(reference: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"connectionArn": CONNECTION, "fullRepositoryId": "octo/hello", **extra}
    if reference is not None:
        spec["sourceReference"] = reference
    return spec


def exported(omics: Any, workflow_id: str) -> dict[str, bytes]:
    got = omics.get_workflow(id=workflow_id, export=["DEFINITION"])
    with urllib.request.urlopen(got["definition"]) as answer:
        data = answer.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_branch_tag_and_commit_resolve_to_their_trees(omics: Any, world: tuple[Emulator, Path]) -> None:
    repo = world[1]
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "v1")
    commit(repo, {"main.wdl": "version 1.0\nworkflow hello2 {}\n"}, "second")
    made = {}
    for label, reference in (
        ("branch", {"type": "BRANCH", "value": "main"}),
        ("tag", {"type": "TAG", "value": "v1"}),
        ("commit", {"type": "COMMIT", "value": first}),
    ):
        made[label] = omics.create_workflow(name=label, definitionRepository=repository(reference))["id"]
    assert b"hello2" in exported(omics, made["branch"])["main.wdl"]
    for label in ("tag", "commit"):
        assert exported(omics, made[label])["main.wdl"] == FILES["main.wdl"].encode()
    got = omics.get_workflow(id=made["tag"])
    assert got["status"] == "ACTIVE" and got["main"] == "main.wdl"
    assert got["definitionRepositoryDetails"] == {
        "connectionArn": CONNECTION,
        "fullRepositoryId": "octo/hello",
        "sourceReference": {"type": "TAG", "value": "v1"},
        "providerType": "GitHub",
        "providerEndpoint": "https://github.com",
    }
    for reference in ({"type": "BRANCH", "value": "nope"}, {"type": "COMMIT", "value": "HEAD~1"}):
        with pytest.raises(ClientError) as exc:
            omics.create_workflow(name="bad", definitionRepository=repository(reference))
        assert code_of(exc) == "ValidationException"


def test_excludes_readme_path_and_parameter_template_path(omics: Any) -> None:
    created = omics.create_workflow(
        name="full",
        definitionRepository=repository(excludeFilePatterns=["tests/**", "*.md"]),
        readmePath="docs/README.md",
        parameterTemplatePath="params.json",
    )
    files = exported(omics, created["id"])
    assert sorted(files) == ["main.wdl", "params.json", "tasks/align.wdl"]
    got = omics.get_workflow(id=created["id"], export=["README"])
    assert got["readmePath"] == "docs/README.md"
    assert got["parameterTemplate"] == {"sample": {"description": "a sample", "optional": False}}
    with urllib.request.urlopen(got["readme"]) as answer:
        assert answer.read() == FILES["docs/README.md"].encode()
    registry = {
        "registryMappings": [
            {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay", "credentialArn": SECRET}
        ]
    }
    version = omics.create_workflow_version(
        workflowId=created["id"],
        versionName="v1",
        definitionRepository=repository({"type": "BRANCH", "value": "main"}),
        containerRegistryMap=registry,
    )
    got_version = omics.get_workflow_version(workflowId=created["id"], versionName=version["versionName"])
    assert got_version["status"] == "ACTIVE"
    assert got_version["definitionRepositoryDetails"]["sourceReference"]["type"] == "BRANCH"
    assert got_version["containerRegistryMap"] == registry
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(name="x", definitionRepository=repository(), readmePath="missing.md")
    assert code_of(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(name="x", definitionZip=b"PK", readmePath="docs/README.md")
    assert code_of(exc) == "ValidationException"


def test_size_limits(omics: Any, world: tuple[Emulator, Path]) -> None:
    world[0].configure(repository_file_max_bytes=2000)
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(name="big", definitionRepository=repository())
    assert code_of(exc) == "ValidationException" and "tests/big.bin" in str(exc.value)
    created = omics.create_workflow(name="ok", definitionRepository=repository(excludeFilePatterns=["*.bin"]))
    assert omics.get_workflow(id=created["id"])["status"] == "ACTIVE"
    world[0].configure(repository_file_max_bytes=100 << 20, repository_max_bytes=1000)
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(name="total", definitionRepository=repository())
    assert code_of(exc) == "ValidationException" and "1000-byte limit" in str(exc.value)


@pytest.mark.parametrize(
    ("arn", "full_id", "code"),
    [
        (
            "arn:aws:codeconnections:us-east-1:210987654321:connection/x",
            "octo/hello",
            "AccessDeniedException",
        ),
        ("arn:aws:codeconnections:eu-west-1:123456789012:connection/x", "octo/hello", "ValidationException"),
        ("arn:aws:s3:us-east-1:123456789012:connection/x", "octo/hello", "ValidationException"),
        (CONNECTION, "octo/missing", "ValidationException"),
        (CONNECTION, "../hello", "ValidationException"),
    ],
)
def test_bad_connection_or_repository(omics: Any, arn: str, full_id: str, code: str) -> None:
    with pytest.raises(ClientError) as exc:
        omics.create_workflow(
            name="x", definitionRepository={"connectionArn": arn, "fullRepositoryId": full_id}
        )
    assert code_of(exc) == code
    assert omics.list_workflows()["items"] == []


@pytest.mark.parametrize(
    ("names", "engine", "main", "status"),
    [
        (["wf/only.wdl", "wf/sub/x.wdl"], None, "wf/only.wdl", "ACTIVE"),
        (["a.wdl", "main.wdl", "lib/b.wdl"], None, "main.wdl", "ACTIVE"),
        ([".hidden.wdl", ".git/x.wdl", "pipeline.wdl"], None, "pipeline.wdl", "ACTIVE"),
        (["a.wdl", "b.wdl"], None, None, "FAILED"),
        (["main.wdl", "main.nf"], None, None, "FAILED"),
        (["main.wdl", "main.nf", "x/y.cwl"], "NEXTFLOW", "main.nf", "ACTIVE"),
        (["README.md"], None, None, "FAILED"),
    ],
)
def test_main_file_rule(names: list[str], engine: str | None, main: str | None, status: str) -> None:
    verdict = choose_main(names, engine)
    assert (verdict.status, verdict.main) == (status, main)


def test_seeded_members_and_credential_arn_round_trip(tmp_path: Path, problems: list[str]) -> None:
    make_repo(tmp_path / "repos", "octo/hello", FILES)
    directory = tmp_path / "seed/accounts/123456789012/us-east-1/workflows/git"
    directory.mkdir(parents=True)
    registry = {
        "registryMappings": [
            {
                "upstreamRegistryUrl": "registry-1.docker.io",
                "ecrRepositoryPrefix": "docker-hub",
                "credentialArn": SECRET,
            }
        ]
    }
    (directory / "workflow.json").write_text(
        json.dumps(
            {
                "id": "7000001",
                "definitionRepository": repository({"type": "BRANCH", "value": "main"}),
                "readmePath": "docs/README.md",
                "metadata": {"source": "git", "note": "x" * 300},
                "profiles": ["small"],
                "profileParameterTemplates": {"small": {"sample": {"optional": True}}},
                "containerRegistryMap": registry,
            }
        )
    )
    config = EmulatorConfig(quotas=None, repositories_dir=str(tmp_path / "repos"))
    with Emulator(config, seed_dir=tmp_path / "seed") as emu:
        client = omics_client(emu.url, problems)
        got = client.get_workflow(id="7000001")
        client.close()
    assert got["metadata"] == {"source": "git", "note": "x" * 300}
    assert got["profiles"] == ["small"]
    assert got["profileParameterTemplates"] == {"small": {"sample": {"optional": True}}}
    assert got["readmePath"] == "docs/README.md"
    assert got["definitionRepositoryDetails"]["fullRepositoryId"] == "octo/hello"
    assert got["containerRegistryMap"] == registry
