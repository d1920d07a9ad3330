"""The image scanners, one language at a time: every image with its file and line."""

from __future__ import annotations

import io
import random
import zipfile

from archiver.images import build_inventory, normalize, parse_ecr, scan_definition
from archiver.images._cwl import scan_cwl
from archiver.images._nextflow import scan_nextflow
from archiver.images._scan import MAX_FILE_BYTES, check_and_scan
from archiver.images._wdl import _close, _mask, scan_wdl

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def found(occurrences: list) -> list[tuple[str, int, str | None, str | None]]:  # type: ignore[type-arg]
    return [(o.file, o.line, o.syntax, o.image) for o in occurrences]


def test_wdl_literals_input_defaults_arrays_and_expressions() -> None:
    text = f"""version 1.1
# runtime {{ docker: "commented/out:1" }}
task align {{
  input {{
    String docker = "{ECR}/tools/bwa:0.7.17"
    String tag
  }}
  command <<< echo "runtime {{ docker: 'not/this:1' }}" >>>
  runtime {{
    docker: docker
    memory: "4 GiB"
  }}
}}
task sort {{
  runtime {{
    container: ["{ECR}/samtools:1.20", "quay.io/biocontainers/samtools:1.20--h50ea8bc_0"]
  }}
}}
task call {{
  input {{ String tag }}
  runtime {{ docker: "{ECR}/gatk:~{{tag}}" }}
  requirements {{
    container: "ubuntu:22.04"
  }}
}}
task tagged {{
  input {{ String image }}
  runtime {{ docker: image }}
}}
"""
    got = scan_wdl("main.wdl", text)
    assert found(got) == [
        ("main.wdl", 5, "wdl-runtime-docker", f"{ECR}/tools/bwa:0.7.17"),
        ("main.wdl", 16, "wdl-runtime-container", f"{ECR}/samtools:1.20"),
        ("main.wdl", 16, "wdl-runtime-container", "quay.io/biocontainers/samtools:1.20--h50ea8bc_0"),
        ("main.wdl", 21, "wdl-runtime-docker", None),
        ("main.wdl", 23, "wdl-requirements-container", "ubuntu:22.04"),
        ("main.wdl", 28, "wdl-runtime-docker", None),
    ]
    assert "line 10" in (got[0].note or "") and "override" in (got[0].note or "")
    assert got[3].expression == f'"{ECR}/gatk:~{{tag}}"' and "interpolated" in (got[3].note or "")
    assert got[5].expression == "image" and "set at run time" in (got[5].note or "")


def test_nextflow_directives_and_config_selectors() -> None:
    script = """process SALMON {
    // container 'commented:1'
    container 'quay.io/biocontainers/salmon:1.10.1--h7e5ed60_0'
    script: "salmon"
}
process PY {
    container "${params.registry}/python:3.12"
    container("docker.io/library/python:3.12-slim")
}
process FROM_PARAMS {
    container params.image
}
"""
    assert found(scan_nextflow("modules/salmon.nf", script)) == [
        ("modules/salmon.nf", 3, "nextflow-container", "quay.io/biocontainers/salmon:1.10.1--h7e5ed60_0"),
        ("modules/salmon.nf", 7, "nextflow-container", None),
        ("modules/salmon.nf", 8, "nextflow-container", "docker.io/library/python:3.12-slim"),
        ("modules/salmon.nf", 11, "nextflow-container", None),
    ]
    config = f"""process.container = '{ECR}/base:1'
/* process {{ container = 'in/a-comment:1' }} */
process {{
    withName: 'SALMON' {{
        container = "{ECR}/salmon:1.10.1"
    }}
    withLabel: big {{ cpus = 8 }}
}}
docker.enabled = true
"""
    assert found(scan_nextflow("conf/base.config", config)) == [
        ("conf/base.config", 1, "nextflow-config", f"{ECR}/base:1"),
        ("conf/base.config", 5, "nextflow-config", f"{ECR}/salmon:1.10.1"),
    ]


def test_cwl_yaml_and_json_in_both_requirement_forms() -> None:
    yaml_text = f"""cwlVersion: v1.2
class: CommandLineTool
requirements:
  - class: DockerRequirement
    dockerPull: {ECR}/bwa:0.7.17
hints:
  DockerRequirement:
    dockerPull: "quay.io/biocontainers/samtools:1.20"
baseCommand: [bwa, mem]
"""
    assert found(scan_cwl("tools/bwa.cwl", yaml_text)) == [
        ("tools/bwa.cwl", 5, "cwl-docker-pull", f"{ECR}/bwa:0.7.17"),
        ("tools/bwa.cwl", 8, "cwl-docker-pull", "quay.io/biocontainers/samtools:1.20"),
    ]
    json_text = (
        '{"cwlVersion": "v1.2", "$graph": [\n'
        ' {"class": "CommandLineTool", "id": "a",\n'
        '  "requirements": [{"class": "DockerRequirement",\n'
        f'   "dockerPull": "{ECR}/a:1"}}]}}\n'
        "]}\n"
    )
    assert found(scan_cwl("packed.cwl", json_text)) == [("packed.cwl", 4, "cwl-docker-pull", f"{ECR}/a:1")]
    bomb = 'a: &a ["x","x"]\n' + "".join(
        f"{c}: &{c} [*{p},*{p},*{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    assert scan_cwl("bomb.cwl", bomb + "z: {dockerPull: nothing}\n") == []  # walked once per node


def test_definition_zip_is_scanned_with_bounds() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("main.wdl", f'version 1.0\ntask t {{\n  runtime {{ docker: "{ECR}/x:1" }}\n}}\n')
        archive.writestr("tools/t.cwl", "class: DockerRequirement\ndockerPull: a/b:1\n")
        archive.writestr("bin/huge.nf", "container 'a:1'\n" + " " * (MAX_FILE_BYTES + 1))
        archive.writestr("bad.cwl", "key: [unclosed\n")
        archive.writestr("README.md", "docker: not/scanned:1")
    scan = scan_definition(buffer.getvalue())
    assert found(scan.occurrences) == [
        ("main.wdl", 3, "wdl-runtime-docker", f"{ECR}/x:1"),
        ("tools/t.cwl", 2, "cwl-docker-pull", "a/b:1"),
    ]
    assert len(scan.problems) == 2
    assert any(p.startswith("bin/huge.nf: not scanned (over") for p in scan.problems)
    assert any(
        p.startswith("bad.cwl: not scanned (bad.cwl is not a YAML/JSON document at line 2")
        for p in scan.problems
    )
    assert scan_definition(b"not a zip").problems == [
        "the definition is not a readable ZIP (File is not a zip file)"
    ]


def _patched(data: bytes, offset: int, value: int, *, local_offset: int) -> bytes:
    """``data`` with the 2-byte field at ``offset`` of the central header (``local_offset`` of the
    local header) set to ``value``."""
    out = bytearray(data)
    for signature, at in ((b"PK\x01\x02", offset), (b"PK\x03\x04", local_offset)):
        start = out.find(signature)
        out[start + at : start + at + 2] = value.to_bytes(2, "little")
    return bytes(out)


def test_zips_python_cannot_read_are_problems_not_exceptions() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("main.wdl", f'version 1.0\ntask t {{\n  runtime {{ docker: "{ECR}/x:1" }}\n}}\n')
    sound = buffer.getvalue()
    flags = int.from_bytes(sound[sound.find(b"PK\x01\x02") + 8 :][:2], "little")
    unreadable = {
        "zip file version 7.0": _patched(sound, 6, 70, local_offset=4),  # refused as it opens
        "compression method is not supported": _patched(sound, 10, 9, local_offset=8),  # deflate64
        "is encrypted": _patched(sound, 8, flags | 1, local_offset=6),
    }
    for reason, data in unreadable.items():
        checked = check_and_scan(data)
        assert checked.zip_problem is not None and reason in checked.zip_problem, reason
        assert checked.scan.occurrences == [] and any(reason in p for p in checked.scan.problems), reason
        assert any(reason in p for p in scan_definition(data).problems), reason


def test_references() -> None:
    image = parse_ecr(f"{ECR}/tools/bwa:0.7.17")
    assert image is not None and (image.account, image.region, image.repository, image.tag) == (
        "123456789012",
        "us-east-1",
        "tools/bwa",
        "0.7.17",
    )
    pinned = parse_ecr(f"{ECR}/bwa@sha256:" + "a" * 64)
    assert pinned is not None and pinned.image_id == {"imageDigest": "sha256:" + "a" * 64}
    assert parse_ecr(f"{ECR}/bwa") is not None and parse_ecr(f"{ECR}/bwa").image_id == {"imageTag": "latest"}  # type: ignore[union-attr]
    assert parse_ecr("quay.io/biocontainers/bwa:0.7.17") is None
    assert normalize("ubuntu") == "docker.io/library/ubuntu:latest"
    assert normalize("registry-1.docker.io/library/python:3.12-slim") == "docker.io/library/python:3.12-slim"
    assert normalize("localhost:5000/x@sha256:" + "b" * 64) == "localhost:5000/x@sha256:" + "b" * 64


async def test_inventory_stays_small_whatever_the_definition() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("main.nf", "container 'ubuntu:22.04'\n" * 300 + "container 'x" + "y" * 600 + "'\n")
        for n in range(150):
            archive.writestr(f"bad{n}.cwl", "key: [unclosed\n")
    metadata = {
        "containerRegistryMap": {
            "imageMappings": [{"sourceImage": "ubuntu:22.04", "destinationImage": f"{ECR}/u:1"}]
        }
    }
    inventory = await build_inventory(
        buffer.getvalue(), metadata, account="123456789012", region="us-east-1", resolver=None
    )
    ubuntu, long_one = inventory["entries"][1], inventory["entries"][2]
    assert ubuntu["image"] == "ubuntu:22.04" and len(ubuntu["foundIn"]) == 100
    assert (
        ubuntu["pullImage"] == f"{ECR}/u:1" and ubuntu["mappedBy"] == "containerRegistryMap.imageMappings[0]"
    )
    assert ubuntu["reason"] == "ECR was not asked (no ECR access configured)"
    assert long_one["image"] is None and long_one["reason"] == "the reference is longer than 512 characters"
    assert len(inventory["problems"]) == 100 and inventory["problems"][-1] == "and 52 more problems"


def _mask_by_hand(text: str) -> str:
    """The character loop ``_wdl._mask`` replaced (kept here as the reference it must match)."""
    out, i, n = list(text), 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
        elif ch in "\"'":
            quote, i = ch, i + 1
            while i < n and text[i] != quote and text[i] != "\n":
                if text[i] == "\\":
                    out[i] = "_"
                    i += 1
                    if i < n and text[i] != "\n":
                        out[i] = "_"
                        i += 1
                    continue
                out[i] = "_"
                i += 1
            i += 1
        else:
            i += 1
    return "".join(out)


def test_wdl_masking_blanks_exactly_comments_and_string_contents() -> None:
    rng = random.Random(7)
    alphabet = ['"', "'", "\\", "#", "\n", "{", "}", "a", " ", "x"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert _mask(text) == _mask_by_hand(text), repr(text)
    masked = _mask('task t { runtime { docker: "a}b" # }\n } }')
    assert masked == 'task t { runtime { docker: "___"    \n } }'
    assert _close(masked, masked.index("{", 8)) == len(masked) - 2
    assert _close("{ {", 0) == 3
