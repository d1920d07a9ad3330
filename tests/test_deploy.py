"""deploy/ is checked, not just shipped: templates linted, the manifest schema-validated, IAM exact.

- every CloudFormation template passes ``cfn-lint``;
- the Kubernetes manifest validates against the Kubernetes OpenAPI-derived JSON schemas that
  ``kubernetes-validate`` ships in its wheel (offline), strictly (unknown fields fail);
- the member roles' IAM actions (template and README) are exactly the operations a real backup,
  restore and drill call, as the emulator's statistics record them: no more, no fewer;
- the Dockerfile (it cannot be built here: no Docker engine) is checked for its shape only.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import kubernetes_validate
import pytest
import yaml
from cfnlint.decode import cfn_yaml

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig
from tests.emulator_helpers import KNOWN_KEYS
from tests.test_backup_e2e import SEED

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
TEMPLATES = sorted((DEPLOY / "cloudformation").glob("*.yaml"))
MANIFEST = DEPLOY / "kubernetes" / "cronjob.yaml"
STACKSET = DEPLOY / "cloudformation" / "member-roles-stackset.yaml"
K8S_VERSION = "1.30.0"  # CronJob timeZone and backoffLimitPerIndex are in 1.30's schema
NO_PERMISSION = {"GetCallerIdentity"}  # STS GetCallerIdentity needs no IAM permission
NIGHTLY = DEPLOY / "cloudformation" / "nightly-backup.yaml"
# Tag-on-create: restore passes tags to these, which AWS authorizes as omics:TagResource too.
DEPENDENT = {"CreateWorkflow": {"omics:TagResource"}, "CreateWorkflowVersion": {"omics:TagResource"}}
# Restore awaits status with List calls; it reads a workflow or version only when its create FAILED,
# for the status message a list does not carry (archiver/restore/_run.py, _Restorer._status_message).
RESTORE_ON_FAILURE = {"omics:GetWorkflow", "omics:GetWorkflowVersion"}


def test_templates_exist_and_pass_cfn_lint() -> None:
    assert {t.name for t in TEMPLATES} == {"nightly-backup.yaml", "member-roles-stackset.yaml"}
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), *map(str, TEMPLATES)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = (DEPLOY / "cloudformation" / "nightly-backup.yaml").read_text()
    broken.write_text(text.replace("PlatformCapabilities: [FARGATE]", "PlatformCapabilities: [FARGATEX]"))
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(broken)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "E3030" in result.stdout


def _manifest() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc]


def test_kubernetes_manifest_validates_offline_and_is_an_indexed_cronjob() -> None:
    docs = _manifest()
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    (cron,) = [d for d in docs if d["kind"] == "CronJob"]
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed" and job["completions"] == job["parallelism"]
    pod = job["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["OMICS_ARCHIVER_SHARD_COUNT"] == str(job["completions"])
    assert container["args"][:3] == ["backup", "--targets", "/etc/omics-archiver/targets.yaml"]


@pytest.mark.parametrize(
    "breakage",
    [
        lambda c: c["spec"]["jobTemplate"]["spec"].__setitem__("completions", "four"),
        lambda c: c["spec"]["jobTemplate"]["spec"]["template"]["spec"].__setitem__("restartPolicyy", "Never"),
    ],
)
def test_the_kubernetes_validator_can_fail(breakage: Any) -> None:
    (cron,) = [copy.deepcopy(d) for d in _manifest() if d["kind"] == "CronJob"]
    breakage(cron)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cron, K8S_VERSION, strict=True)


def test_dockerfile_shape() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    last_run = max(i for i, line in enumerate(final) if line.startswith("RUN "))
    assert max(i for i, line in enumerate(final) if line.startswith("USER ")) > last_run
    assert 'ENTRYPOINT ["omics-archiver"]' in final
    assert any("pip install" in line and ".whl" in line for line in final)
    assert any("python -m build --wheel" in line for line in lines)


# --- IAM: exactly what the code calls ----------------------------------------------------------------


def _role_actions(resource: str, template_path: Path = STACKSET) -> set[str]:
    template = cfn_yaml.load(str(template_path))
    actions: set[str] = set()
    for policy in template["Resources"][resource]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def _readme_actions(role: str) -> set[str]:
    rows = re.findall(r"^\| `((?:omics|ecr):\w+)` \| ([a-z, ]+) \|", (DEPLOY / "README.md").read_text(), re.M)
    return {action for action, roles in rows if role in roles.split(", ")}


def _iam(calls: dict[str, int]) -> set[str]:
    """IAM actions of the emulator's operation counts (omics first: the counts carry no service)."""
    session = botocore.session.get_session()
    names = ("omics", "ecr", "sts", "organizations")
    services = {name: set(session.get_service_model(name).operation_names) for name in names}
    actions: set[str] = set()
    for op, count in calls.items():
        if not count or op in NO_PERMISSION:
            continue
        service = next(name for name, ops in services.items() if op in ops)
        actions |= {f"{service}:{op}", *DEPENDENT.get(op, set())}
    return actions


def test_member_role_actions_are_exactly_what_backup_restore_and_drill_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(
        "[target]\naws_access_key_id = 444455556666\naws_secret_access_key = testing-secret\n"
    )
    store = str(tmp_path / "archive")
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN_KEYS), seed_dir=SEED) as emu:
        # the nightly job's command (nightly-backup.yaml): the organization, a role in each account;
        # the seed refuses one account's role (exit 3), which changes no permission
        nightly = ["--organization", "--role-name", "OmicsArchiverReader", "--include-management-account"]
        org_store = str(tmp_path / "org-archive")
        org = ["backup", "--store", org_store, "--endpoint-url", emu.url, "--no-rate-limit", *nightly]
        assert main([*org, "--target-region", "us-east-1,us-west-2"]) == 3
        org_calls = dict(emu.stats().calls)
        emu.reset_stats()
        assert main(["backup", "--store", store, "--endpoint-url", emu.url, "--no-rate-limit"]) == 0
        backup_calls = dict(emu.stats().calls)
        emu.reset_stats()
        restore = ["restore", "--store", store, "--endpoint-url", emu.url, "--no-rate-limit", "--all"]
        target = ["--profile", "target", "--region", "us-west-2", "--poll-interval", "50ms"]
        # a migration: the images move to B's ECR in us-west-2, where they are looked for (DescribeImages)
        target += ["--map-account", "123456789012=444455556666", "--map-region", "us-east-1=us-west-2"]
        target += ["--allow-missing-images"]  # and not found: restored anyway, each reported
        assert main([*restore, *target]) == 0  # into an empty account: creates
        assert main([*restore, *target]) == 0  # again: finds the earlier restore by its tags
        restore_calls = dict(emu.stats().calls)
        emu.reset_stats()
        capsys.readouterr()
        # a drill into the sandbox (the same account, a region of its own): restores, checks, deletes
        drill = ["drill", "--store", store, "--endpoint-url", emu.url, "--no-rate-limit", "--json"]
        drill += ["--profile", "target", "--region", "eu-west-1", "--poll-interval", "50ms"]
        drill += ["--map-account", "123456789012=444455556666", "--map-region", "us-east-1=eu-west-1"]
        assert main([*drill, "--allow-missing-images"]) == 1  # the images are not there: a failed check
        drill_calls = dict(emu.stats().calls)
    drilled = json.loads(capsys.readouterr().out)
    assert {c["check"] for c in drilled["checks"] if not c["ok"]} == {"image-present"}
    assert drilled["cleanup"] and all(c["deleted"] for c in drilled["cleanup"])
    assert backup_calls.get("GetCallerIdentity") and restore_calls.get("CreateWorkflowVersion")
    job = {"sts:AssumeRole", "organizations:ListAccounts"}
    assert _iam(org_calls) & job == job  # really called, so the job role's actions are checked too
    job_role = {a for a in _role_actions("JobRole", NIGHTLY) if a.split(":")[0] not in ("s3", "kms")}
    assert job_role == _iam(org_calls) & job
    assert _role_actions("BackupRole") == _iam(org_calls) - job == _iam(backup_calls)
    assert not RESTORE_ON_FAILURE & _iam(restore_calls), "restore read items although none failed"
    assert _role_actions("RestoreRole") == _iam(restore_calls) | RESTORE_ON_FAILURE
    assert _readme_actions("backup") == _iam(backup_calls)
    assert _readme_actions("restore") == _iam(restore_calls) | RESTORE_ON_FAILURE
    assert {"omics:DeleteWorkflow", "omics:DeleteWorkflowVersion"} <= _iam(drill_calls)
    assert _iam(drill_calls) >= RESTORE_ON_FAILURE  # a drill reads back (exports) what it restored
    assert _role_actions("DrillRole") == _iam(drill_calls)
    assert _readme_actions("drill") == _iam(drill_calls)
