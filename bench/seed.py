"""Seed directories for the benchmarks (format: ``docs/emulator.md``, "Seed directory format").

``write_corpus`` writes N workflows with M versions each, every one a small but real-looking WDL
workflow (a main file and a tasks file) whose text differs per workflow and version, so every
definition ZIP, and so every digest, is distinct. ``write_big`` writes one workflow whose
definition holds a file of incompressible random bytes, for the peak-memory benchmark.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

__all__ = ["ACCOUNT", "REGION", "write_big", "write_corpus"]

ACCOUNT = "123456789012"
REGION = "us-east-1"

_TOOLS = [
    ("fastqc", "quay.io/biocontainers/fastqc:0.12.1--hdfd78af_0"),
    ("bwa_mem", "quay.io/biocontainers/bwa:0.7.18--he4a0461_0"),
    ("samtools_sort", "quay.io/biocontainers/samtools:1.20--h50ea8bc_0"),
    ("gatk_haplotypecaller", "broadinstitute/gatk:4.5.0.0"),
    ("multiqc", "quay.io/biocontainers/multiqc:1.21--pyhdfd78af_0"),
    ("bcftools_norm", "quay.io/biocontainers/bcftools:1.20--h8b25389_0"),
]


def _workflows_dir(seed: Path) -> Path:
    path = seed / "accounts" / ACCOUNT / REGION / "workflows"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tasks_wdl(index: int, version: str, rng: random.Random) -> str:
    blocks = ["version 1.0", "", f"# tasks of bench-workflow-{index:04d}, release {version}", ""]
    for name, image in [_TOOLS[0], *rng.sample(_TOOLS[1:], 2)]:
        cpu = rng.choice([2, 4, 8, 16])
        mem = rng.choice([4, 8, 16, 32])
        blocks.append(
            f"""task {name} {{
  input {{
    File input_file
    String sample_id
    Int threads = {cpu}
  }}

  command <<<
    set -euo pipefail
    {name.replace("_", " ")} --threads ~{{threads}} ~{{input_file}} > ~{{sample_id}}.{name}.out
    echo "bench {index} {version} {rng.getrandbits(64):016x}" >> ~{{sample_id}}.{name}.out
  >>>

  output {{
    File out = "~{{sample_id}}.{name}.out"
  }}

  runtime {{
    docker: "{image}"
    cpu: {cpu}
    memory: "{mem} GiB"
  }}
}}
"""
        )
    return "\n".join(blocks)


def _main_wdl(index: int, version: str, rng: random.Random) -> str:
    samples = rng.randint(2, 96)
    return f"""version 1.0

# bench-workflow-{index:04d} {version}: a per-sample pipeline over {samples} samples at most.

import "tasks/steps.wdl" as steps

workflow BenchWorkflow{index:04d} {{
  input {{
    Array[File] inputs
    Array[String] sample_ids
    String run_name = "bench-{index:04d}-{version}"
  }}

  scatter (i in range(length(inputs))) {{
    call steps.fastqc as first {{
      input:
        input_file = inputs[i],
        sample_id = sample_ids[i]
    }}
  }}

  output {{
    Array[File] results = first.out
  }}

  meta {{
    author: "bench"
    description: "synthetic workflow {index} release {version}; nonce {rng.getrandbits(64):016x}"
  }}
}}
"""


def _write_definition(dest: Path, index: int, version: str, rng: random.Random) -> None:
    (dest / "tasks").mkdir(parents=True, exist_ok=True)
    (dest / "main.wdl").write_text(_main_wdl(index, version, rng))
    (dest / "tasks" / "steps.wdl").write_text(_tasks_wdl(index, version, rng))


def _readme(index: int, version: str | None) -> str:
    what = f"version {version} of bench-workflow-{index:04d}" if version else f"bench-workflow-{index:04d}"
    return f"# {what}\n\nSynthetic workflow for the omics-archiver benchmark.\n\n- inputs: FASTQ or BAM\n"


def write_corpus(seed: Path, *, workflows: int, versions: int, random_seed: int = 1) -> None:
    """Write ``workflows`` PRIVATE workflows with ``versions`` versions each under ``seed``."""
    rng = random.Random(random_seed)
    root = _workflows_dir(seed)
    for i in range(workflows):
        wf_dir = root / f"bench-{i:04d}"
        _write_definition(wf_dir / "definition", i, "0", rng)
        (wf_dir / "README.md").write_text(_readme(i, None))
        spec = {
            "id": f"{2_000_000 + i}",
            "name": f"bench-workflow-{i:04d}",
            "description": f"Synthetic benchmark workflow {i}",
            "engine": "WDL",
            "main": "main.wdl",
            "parameterTemplate": {
                "inputs": {"description": "input files", "optional": False},
                "sample_ids": {"description": "one id per input", "optional": False},
            },
            "storageType": "DYNAMIC",
            "tags": {"team": "bench", "index": str(i)},
        }
        (wf_dir / "workflow.json").write_text(json.dumps(spec, indent=2))
        for v in range(versions):
            name = f"1.{v}.0"
            v_dir = wf_dir / "versions" / name
            _write_definition(v_dir / "definition", i, name, rng)
            (v_dir / "README.md").write_text(_readme(i, name))
            (v_dir / "version.json").write_text(
                json.dumps({"description": f"release {name}", "order": v, "storageType": "DYNAMIC"})
            )


def write_big(seed: Path, *, size: int) -> None:
    """Write one workflow whose definition holds ``size`` random (incompressible) bytes."""
    wf_dir = _workflows_dir(seed) / "big-definition"
    data_dir = wf_dir / "definition" / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    (wf_dir / "definition" / "main.wdl").write_text(
        'version 1.0\n\nworkflow Big {\n  input {\n    File reference = "data/blob.bin"\n  }\n}\n'
    )
    chunk = 1 << 20
    with open(data_dir / "blob.bin", "wb") as out:
        left = size
        while left > 0:
            n = min(chunk, left)
            out.write(os.urandom(n))
            left -= n
    (wf_dir / "README.md").write_text("# big-definition\n\nA 100 MB definition for the memory benchmark.\n")
    spec = {"id": "3000000", "name": "big-definition", "engine": "WDL", "main": "main.wdl"}
    (wf_dir / "workflow.json").write_text(json.dumps(spec, indent=2))
