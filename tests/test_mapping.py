"""restore --mapping FILE: the file is validated, and every value it maps is rewritten and shown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from archiver._errors import UsageError
from archiver.cli import main
from archiver.mapping import load_mapping
from archiver.restore import EcrMapping, rewrite_registry_map

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "restore-mapping.yaml"
A, B = "123456789012", "444455556666"
SECRET_A = f"arn:aws:secretsmanager:us-east-1:{A}:secret:ecr-pullthroughcache/quay-AbCdEf"
SECRET_B = f"arn:aws:secretsmanager:us-west-2:{B}:secret:ecr-pullthroughcache/quay-GhIjKl"


def mapping_of(path: Path) -> EcrMapping:
    loaded = load_mapping(path)
    return EcrMapping(
        accounts=loaded.accounts,
        regions=loaded.regions,
        registries=loaded.registries,
        repository_prefixes=loaded.repository_prefixes,
        credentials=loaded.credentials,
        connections=loaded.connections,
    )


def test_the_example_maps_every_account_and_region_specific_value() -> None:
    loaded = load_mapping(EXAMPLE)
    assert loaded.staging_bucket == f"s3://omics-restore-staging-{B}/staging" and loaded.staging_owner == B
    mapping = mapping_of(EXAMPLE)
    assert mapping.map_uri(f"{A}.dkr.ecr.us-east-1.amazonaws.com/tools/bwa:0.7.17") == (
        f"{B}.dkr.ecr.us-west-2.amazonaws.com/tools/bwa:0.7.17"
    )
    # a whole registry moves (wins over the account map), and a repository prefix is renamed
    assert mapping.map_uri("210987654321.dkr.ecr.us-east-1.amazonaws.com/quay/biocontainers/salmon:1") == (
        f"{B}.dkr.ecr.us-west-2.amazonaws.com/mirror/quay/biocontainers/salmon:1"
    )
    registry_map = {
        "registryMappings": [
            {
                "upstreamRegistryUrl": "quay.io",
                "ecrRepositoryPrefix": "quay",
                "ecrAccountId": A,
                "credentialArn": SECRET_A,
            }
        ],
        "imageMappings": [
            {
                "sourceImage": "ubuntu:22.04",
                "destinationImage": f"{A}.dkr.ecr.us-east-1.amazonaws.com/u:22.04",
            }
        ],
    }
    out, changes = rewrite_registry_map(registry_map, mapping)
    assert out is not None
    entry = out["registryMappings"][0]
    assert (entry["ecrAccountId"], entry["credentialArn"], entry["ecrRepositoryPrefix"]) == (
        B,
        SECRET_B,
        "mirror/quay",
    )
    assert out["imageMappings"][0]["destinationImage"] == f"{B}.dkr.ecr.us-west-2.amazonaws.com/u:22.04"
    shown = {(c.file, c.old, c.new) for c in changes}  # the plan shows every value it changes, where
    assert shown == {
        ("containerRegistryMap.registryMappings[0].ecrAccountId", A, B),
        ("containerRegistryMap.registryMappings[0].credentialArn", SECRET_A, SECRET_B),
        ("containerRegistryMap.registryMappings[0].ecrRepositoryPrefix", "quay", "mirror/quay"),
        (
            "containerRegistryMap.imageMappings[0].destinationImage",
            f"{A}.dkr.ecr.us-east-1.amazonaws.com/u:22.04",
            f"{B}.dkr.ecr.us-west-2.amazonaws.com/u:22.04",
        ),
    }


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("accounts: {'123': '444455556666'}\n", "$.accounts"),
        ("regions: {us-east-1: mars-1}\n", "$.regions['us-east-1']"),
        ("credentials: {'arn:aws:s3:::bucket': 'x'}\n", "$.credentials"),
        ("stagin: {bucket: s3://b/p}\n", "$"),
        ("accounts: [unclosed\n", "line"),
    ],
)
def test_a_bad_mapping_file_is_a_usage_error_naming_file_and_place(
    tmp_path: Path, text: str, where: str
) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as exc:
        load_mapping(path)
    assert str(path) in exc.value.message and where in exc.value.message


def test_restore_refuses_a_bad_mapping_file_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mapping.yaml"
    shutil.copy(EXAMPLE, path)
    path.write_text(path.read_text().replace('"444455556666"      #', '"4444"      #'))
    store = tmp_path / "store"
    code = main(["restore", "--store", str(store), "--all", "--mapping", str(path), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and "$.accounts" in err and str(path) in err
