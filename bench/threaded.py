"""The stronger baseline: the 16-thread plain boto3 export script a user would write.

One boto3 client shared by 16 threads (botocore clients are thread-safe), connection pool sized
to match. The main thread lists the workflows and each workflow's versions; the pool exports each
item: ``get_workflow`` / ``get_workflow_version`` with ``export=[DEFINITION]``, download the
presigned URL with urllib and write the ZIP, uncompressed, with the metadata beside it. No rate
limiting (run it with the quotas lifted), boto3's default retries, no validation, no bundles, no
snapshot: it does less than the archiver.

    python -m bench.threaded --endpoint-url URL --out DIR [--threads 16]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config


def _download(url: str, dest: Path) -> int:
    with urllib.request.urlopen(url, timeout=300) as resp, open(dest, "wb") as out:
        shutil.copyfileobj(resp, out, 1 << 20)
    return dest.stat().st_size


def _export(omics: Any, out: Path, wf_id: str, version: str | None) -> int:
    if version is None:
        got = omics.get_workflow(id=wf_id, export=["DEFINITION"])
        dest = out / wf_id
    else:
        got = omics.get_workflow_version(workflowId=wf_id, versionName=version, export=["DEFINITION"])
        dest = out / wf_id / "versions" / version
    dest.mkdir(parents=True, exist_ok=True)
    size = _download(got["definition"], dest / "definition.zip")
    meta = {k: v for k, v in got.items() if k not in ("definition", "ResponseMetadata")}
    (dest / "metadata.json").write_text(json.dumps(meta, indent=2, default=str))
    return size


def export_all(endpoint_url: str | None, out: Path, threads: int) -> dict[str, int]:
    config = Config(inject_host_prefix=False, max_pool_connections=threads + 2)
    omics = boto3.client("omics", endpoint_url=endpoint_url, config=config)
    jobs: list[Future[int]] = []
    with ThreadPoolExecutor(threads) as pool:
        for page in omics.get_paginator("list_workflows").paginate(type="PRIVATE"):
            for item in page["items"]:
                wf_id = item["id"]
                jobs.append(pool.submit(_export, omics, out, wf_id, None))
                for vpage in omics.get_paginator("list_workflow_versions").paginate(workflowId=wf_id):
                    for version in vpage["items"]:
                        jobs.append(pool.submit(_export, omics, out, wf_id, version["versionName"]))
        sizes = [job.result() for job in jobs]
    return {"items": len(sizes), "definitionBytes": sum(sizes)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args(argv)
    json.dump(export_all(args.endpoint_url, args.out, args.threads), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
