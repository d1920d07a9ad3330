"""The baseline: the plain sequential boto3 export script a user would otherwise write.

For every private workflow: GetWorkflow with ``export=[DEFINITION, README]``, download both URLs
with urllib, write the metadata, the definition ZIP and the README to a directory; then list the
workflow's versions and do the same for each. One call at a time, no rate limiting, boto3's default
retries. It does none of the archiver's work (validation, bundles, content addressing, snapshot),
so it is if anything flattered by the comparison.

    python -m bench.sequential --endpoint-url URL --out DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config


def download(url: str, dest: Path) -> int:
    with urllib.request.urlopen(url, timeout=300) as resp, open(dest, "wb") as out:
        shutil.copyfileobj(resp, out, 1 << 20)
    return dest.stat().st_size


def save(response: dict[str, Any], dest: Path) -> int:
    """Write one export (metadata, definition, README) to ``dest``; return definition bytes."""
    dest.mkdir(parents=True, exist_ok=True)
    size = 0
    if response.get("definition"):
        size = download(response["definition"], dest / "definition.zip")
    if response.get("readme"):
        download(response["readme"], dest / "README.md")
    meta = {k: v for k, v in response.items() if k not in ("definition", "readme", "ResponseMetadata")}
    (dest / "metadata.json").write_text(json.dumps(meta, indent=2, default=str))
    return size


def export_all(endpoint_url: str | None, out: Path) -> dict[str, int]:
    omics = boto3.client("omics", endpoint_url=endpoint_url, config=Config(inject_host_prefix=False))
    counts = {"workflows": 0, "versions": 0, "definitionBytes": 0}
    for page in omics.get_paginator("list_workflows").paginate(type="PRIVATE"):
        for item in page["items"]:
            wf_id = item["id"]
            wf = omics.get_workflow(id=wf_id, export=["DEFINITION", "README"])
            counts["definitionBytes"] += save(wf, out / wf_id)
            counts["workflows"] += 1
            pages = omics.get_paginator("list_workflow_versions").paginate(workflowId=wf_id)
            for vpage in pages:
                for version in vpage["items"]:
                    name = version["versionName"]
                    ver = omics.get_workflow_version(
                        workflowId=wf_id, versionName=name, export=["DEFINITION", "README"]
                    )
                    counts["definitionBytes"] += save(ver, out / wf_id / "versions" / name)
                    counts["versions"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    counts = export_all(args.endpoint_url, args.out)
    json.dump(counts, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
