"""The demo behind `make demo`: a seeded local HealthOmics emulator, backed up into ./archive.

Starts `omics-archiver emulator` seeded from examples/seed, runs an org-wide `omics-archiver backup
--targets examples/seed/targets.yaml` against it twice (every account and region of the example
organization, each through its role; the second run finds nothing changed and downloads no
definition), shows the files and the
container images the bundles record, verifies every bundle, lists the archived workflows, writes the
archive's report page, and stops the emulator. It uses fake credentials: it never talks to AWS. The
emulator is given their secret (`--credentials`), so it verifies every request's SigV4 signature as
AWS does. The seed fixes every uuid and creation time, so running the demo again into the same
archive writes nothing new.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "archiver.cli"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--archive", default="./archive", help="store URL or path (default: %(default)s)")
    parser.add_argument("--seed", default=str(HERE / "seed"), help="emulator seed directory")
    parser.add_argument(
        "--report", default="./archive-report.html", help="where the report page goes (default: %(default)s)"
    )
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="123456789012",
        AWS_SECRET_ACCESS_KEY="demo-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    secrets = tempfile.TemporaryDirectory(prefix="omics-demo-")
    credentials = Path(secrets.name) / "credentials.json"
    credentials.write_text(
        json.dumps({"123456789012": {"secret_access_key": "demo-secret", "account_id": "123456789012"}})
    )
    emulator = subprocess.Popen(
        [*CLI, "emulator", "--port", "0", "--seed", args.seed, "--credentials", str(credentials)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().strip()
        if not url.startswith("http"):
            print("the emulator did not start", file=sys.stderr)
            return 1
        print(f"== emulator at {url}, seeded from {args.seed}", flush=True)
        targets = str(Path(args.seed) / "targets.yaml")
        backup = [*CLI, "backup", "--store", args.archive, "--endpoint-url", url, "--log-format", "text"]
        backup += ["--targets", targets]
        print(
            f"== first backup: every account and region of the example organization ({targets})", flush=True
        )
        first = subprocess.run(backup, env=env, check=False).returncode
        print("== second backup (nothing changed: no definition is downloaded)", flush=True)
        second = subprocess.run(backup, env=env, check=False).returncode
        print(f"== archive in {args.archive}:", flush=True)
        root = Path(args.archive.removeprefix("file://"))
        for path in sorted(root.rglob("*")):
            if path.is_file():
                print(f"   {path.relative_to(root)}  ({path.stat().st_size} bytes)")
        show_images(root)
        print("== verify: every bundle decompressed and checked against its manifest", flush=True)
        checked = subprocess.run([*CLI, "verify", "--store", args.archive, "--read-data"], env=env).returncode
        print("== list", flush=True)
        listed = subprocess.run([*CLI, "list", "--store", args.archive, "--no-cache"], env=env).returncode
        print("== report: the archive at a glance, one static page", flush=True)
        report = [*CLI, "report", "--store", args.archive, "--no-cache", "--html", args.report]
        reported = subprocess.run(report, env=env).returncode
        return first or second or checked or listed or reported
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        secrets.cleanup()


def show_images(root: Path) -> None:
    """The image inventory of the archived bundles' manifests, one line per image and place."""
    from archiver._bundle import read_manifest

    print("== container images recorded in the bundles' manifests (resolved: ECR digest at backup)")
    seen: dict[tuple[str, str], str] = {}
    for bundle in sorted((root / "bundles").rglob("*.tar.zst")):
        images = read_manifest(bundle).get("images") or {"entries": []}
        for entry in images["entries"]:
            name = entry["image"] or entry["expression"]
            for place in entry["foundIn"]:
                where = place["field"] or f"{place['file']}:{place['line']}"
                state = entry["digest"][:19] if entry["digest"] else f"unresolved: {entry['reason']}"
                seen[(name, where)] = state
    for (name, where), state in sorted(seen.items()):
        print(f"   {name}  ({where})  {state}")


if __name__ == "__main__":
    sys.exit(main())
