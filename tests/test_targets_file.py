"""The targets file and the shard choice, as units: what is accepted, what is refused, how stable."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from archiver._errors import UsageError
from archiver.cli._backup_targets import shard_from
from archiver.mapping import load_mapping
from archiver.targets import (
    Shard,
    Source,
    Target,
    load_targets,
    pair_sources,
    parse_shard,
    parse_targets,
    select_shard,
    shard_of,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

ISSUE_FORM = """
role_name: OmicsArchiverReader        # for accounts without their own role
accounts:
  - id: "111111111111"
    regions: [us-east-1, us-west-2]
  - id: "222222222222"
    regions: [us-east-1]
    role: arn:aws:iam::222222222222:role/Other
    external_id: xyz
"""


def test_the_form_of_the_issue(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(ISSUE_FORM)
    targets = load_targets(path)
    assert [(t.account, t.region, t.role_arn, t.external_id) for t in targets] == [
        ("111111111111", "us-east-1", "arn:aws:iam::111111111111:role/OmicsArchiverReader", None),
        ("111111111111", "us-west-2", "arn:aws:iam::111111111111:role/OmicsArchiverReader", None),
        ("222222222222", "us-east-1", "arn:aws:iam::222222222222:role/Other", "xyz"),
    ]


@pytest.mark.parametrize(
    "path", [EXAMPLES / "targets.yaml", EXAMPLES / "seed" / "targets.yaml", EXAMPLES / "restore-targets.yaml"]
)
def test_the_examples_load(path: Path) -> None:
    targets = load_targets(path, default_regions=["eu-west-1"])
    assert targets and all(t.role_arn and t.role_arn.split(":")[4] == t.account for t in targets)


def test_filters_tags_and_defaults() -> None:
    (target,) = parse_targets(
        {
            "role_name": "Reader",
            "regions": ["eu-west-1"],
            "accounts": [
                {
                    "id": "111111111111",
                    "role": "Special",
                    "filters": {"names": ["rna-*"], "tags": {"backup": "yes"}, "workflow_ids": ["1"]},
                    "tags": {"env": "prod"},
                }
            ],
        }
    )
    assert target.role_arn == "arn:aws:iam::111111111111:role/Special" and target.region == "eu-west-1"
    assert target.filters.names == ("rna-*",) and dict(target.filters.tags) == {"backup": "yes"}
    assert dict(target.tags) == {"env": "prod"}
    (china,) = parse_targets(
        {"role_name": "R", "accounts": [{"id": "111111111111", "regions": ["cn-north-1"]}]}
    )
    assert china.role_arn == "arn:aws-cn:iam::111111111111:role/R"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"accounts": [{"id": 111111111111}]}, "$.accounts[0].id"),
        ({"accounts": [{"id": "11111111111", "regions": ["us-east-1"]}]}, "$.accounts[0].id"),
        ({"accounts": [{"id": "111111111111", "region": ["us-east-1"]}]}, "region"),
        ({"accounts": [{"id": "111111111111", "regions": ["us east"]}]}, "$.accounts[0].regions[0]"),
        ({"accounts": [{"id": "111111111111"}]}, "has no regions"),
        (
            {"accounts": [{"id": "111111111111", "regions": ["us-east-1"], "role": "arn:aws:iam::2:role/X"}]},
            "$.accounts[0].role",
        ),
        (
            {
                "accounts": [
                    {
                        "id": "111111111111",
                        "regions": ["us-east-1"],
                        "role": "arn:aws:iam::222222222222:role/X",
                    }
                ]
            },
            "is a role of account 222222222222",
        ),
        (
            {"regions": ["us-east-1"], "accounts": [{"id": "111111111111"}, {"id": "111111111111"}]},
            "listed twice",
        ),
        ({"accounts": []}, "$.accounts"),
        ("just a string", "$"),
    ],
)
def test_a_wrong_file_is_refused_naming_where(document: object, message: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse_targets(document, where="--targets t.yaml")
    assert message in exc.value.message and exc.value.message.startswith("--targets t.yaml: ")


def test_unreadable_or_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read it"):
        load_targets(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts: [\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_targets(bad)
    assert yaml.safe_load(ISSUE_FORM)  # the fixture itself is fine


def _targets(n: int) -> list[Target]:
    return [Target(account=f"{100000000000 + i}", region=("us-east-1", "eu-west-1")[i % 2]) for i in range(n)]


def test_shards_are_disjoint_complete_balanced_and_stable() -> None:
    targets = _targets(400)
    shards = [set(select_shard(targets, Shard(i, 4))) for i in range(4)]
    assert set().union(*shards) == set(targets) and sum(map(len, shards)) == 400
    assert all(60 <= len(s) <= 140 for s in shards)
    # adding targets moves no other target
    more = _targets(450)
    assert all(shard_of(t, 4) == shard_of(m, 4) for t, m in zip(targets, more, strict=False))
    # one more shard moves only what the new shard takes (about 1 in 5), and only to it
    moved = [t for t in targets if shard_of(t, 4) != shard_of(t, 5)]
    assert all(shard_of(t, 5) == 4 for t in moved) and 40 <= len(moved) <= 120
    assert select_shard(targets, None) == tuple(targets)


@pytest.mark.parametrize(("text", "shard"), [("0/1", Shard(0, 1)), ("3/4", Shard(3, 4))])
def test_parse_shard(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["4/4", "-1/4", "1", "a/b", "0/0", "1/2/3"])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


def test_shard_from_the_environment() -> None:
    args = argparse.Namespace(shard=None, shard_count=None)
    assert shard_from(args, {}) is None
    batch = {"AWS_BATCH_JOB_ARRAY_INDEX": "2", "OMICS_ARCHIVER_SHARD_COUNT": "3"}
    assert shard_from(args, batch) == Shard(2, 3)
    assert shard_from(args, {"JOB_COMPLETION_INDEX": "0", "OMICS_ARCHIVER_SHARD_COUNT": "2"}) == Shard(0, 2)
    assert shard_from(argparse.Namespace(shard=None, shard_count=5), {"JOB_COMPLETION_INDEX": "4"}) == Shard(
        4, 5
    )
    assert shard_from(argparse.Namespace(shard="1/2", shard_count=None), batch) == Shard(1, 2)
    for env in ({"AWS_BATCH_JOB_ARRAY_INDEX": "1"}, {**batch, "OMICS_ARCHIVER_SHARD_COUNT": "2"}):
        with pytest.raises(UsageError):
            shard_from(args, env)
    with pytest.raises(UsageError, match="--shard-count needs"):
        shard_from(argparse.Namespace(shard=None, shard_count=2), {})


def test_the_org_migration_example_pairs_each_archived_account_region_with_its_destination() -> None:
    """examples/restore-targets.yaml with examples/restore-org-mapping.yaml (restore/drill --targets)."""
    destinations = load_targets(EXAMPLES / "restore-targets.yaml")
    mapping = load_mapping(EXAMPLES / "restore-org-mapping.yaml")
    held = [
        Source("aws", a, r)
        for a, r in [(R1, "us-east-1"), (R1, "us-west-2"), (C2, "us-east-1"), (L3, "us-east-1")]
    ]
    pairing = pair_sources(held, destinations, accounts=mapping.accounts, regions=mapping.regions)
    assert {d.target.key: [s.key for s in d.sources] for d in pairing.destinations} == {
        "444455556666/us-east-1": [f"{R1}/us-east-1"],
        "444455556666/eu-west-1": [f"{R1}/us-west-2"],
        "777788889999/us-east-1": [f"{C2}/us-east-1"],
    }
    assert [(s.key, a, r) for s, a, r in pairing.unmatched] == [(f"{L3}/us-east-1", L3, "us-east-1")]
    assert mapping.staging_bucket == "s3://omics-restore-staging-{account}-{region}/staging"
    # filtered to one source: the destinations nothing maps to are left out, not an error
    (only,) = pair_sources(
        held, destinations, accounts=mapping.accounts, regions=mapping.regions, account=C2
    ).destinations
    assert only.target.key == "777788889999/us-east-1"
    # unfiltered, a destination nothing maps to is the user's mistake, before any AWS call
    with pytest.raises(UsageError, match="nothing archived maps to 777788889999/us-east-1"):
        pair_sources(held[:2], destinations, accounts=mapping.accounts, regions=mapping.regions)
    with pytest.raises(UsageError, match="no archived account-region maps to any of its destinations"):
        pair_sources(held[3:], destinations, accounts=mapping.accounts, regions=mapping.regions)


R1, C2, L3 = "111111111111", "222222222222", "333333333333"
