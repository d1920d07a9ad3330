"""The Prometheus textfile written after backup and verify runs."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

from archiver._metrics import write_metrics
from archiver._report import BackupReport

LINE = re.compile(r'^[a-z_]+\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\} [-+0-9.eE]+$')


def _report(*, failed: bool = False) -> BackupReport:
    start = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    report = BackupReport(run_id="r", started_at=start, account="123456789012", region="us-east-1")
    report.finished_at = start + timedelta(seconds=42.5)
    report.bundles = [{"key": f"k{i}"} for i in range(12)]
    report.skipped = [{"workflowId": "6291456"}]
    report.stats.update(bundlesWritten=3, bytesWritten=123456)
    if failed:
        report.failed = [{"workflowId": "1"}]
    return report


def _values(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        assert LINE.match(line), line
        name, value = line.split("{", 1)[0], line.rsplit(" ", 1)[1]
        out[name] = float(value)
    return out


def test_backup_metrics_and_last_success_survives_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "omics-archiver-backup.prom"
    first = datetime(2026, 11, 24, 1, 1, tzinfo=UTC)
    write_metrics(path, job="nightly", report=_report(), now=first)
    text = path.read_text()
    assert "# TYPE omics_archiver_last_success_timestamp_seconds gauge" in text
    assert 'archiver_job="nightly"' in text and 'account="123456789012"' in text
    v = _values(text)
    assert v["omics_archiver_last_success_timestamp_seconds"] == first.timestamp()
    assert v["omics_archiver_last_run_success"] == 1
    assert v["omics_archiver_backup_workflows_archived"] == 12
    assert v["omics_archiver_backup_workflows_skipped"] == 1
    assert v["omics_archiver_backup_workflows_failed"] == 0
    assert v["omics_archiver_backup_bytes_written"] == 123456
    assert v["omics_archiver_last_run_duration_seconds"] == 42.5
    assert path.stat().st_mode & 0o777 == 0o644
    # a partial run is not a success: the last success time is carried over
    later = first + timedelta(days=1)
    write_metrics(path, job="nightly", report=_report(failed=True), now=later)
    v = _values(path.read_text())
    assert v["omics_archiver_last_run_success"] == 0
    assert v["omics_archiver_last_run_timestamp_seconds"] == later.timestamp()
    assert v["omics_archiver_last_success_timestamp_seconds"] == first.timestamp()
    assert v["omics_archiver_backup_workflows_failed"] == 1
    # a run that failed before it could report
    write_metrics(path, job="nightly", report=None, duration=3.0, now=later + timedelta(days=1))
    v = _values(path.read_text())
    assert v["omics_archiver_last_success_timestamp_seconds"] == first.timestamp()
    assert "omics_archiver_backup_workflows_archived" not in v
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _example_commands() -> list[list[str]]:
    """Every ``omics-archiver`` command line in examples/systemd and examples/cron, variables expanded."""
    env = {}
    for line in (EXAMPLES / "config" / "omics-archiver.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    text = "\n".join(
        p.read_text().replace("\\\n", " ")
        for p in [*sorted((EXAMPLES / "systemd").glob("*.service")), EXAMPLES / "cron" / "crontab"]
    )
    commands = []
    for match in re.finditer(r"omics-archiver (backup|prune|verify|report|drill)\b([^'>\n]*)", text):
        line = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), match.group(0))
        commands.append(shlex.split(line)[1:])
    return commands


def test_examples_use_real_options() -> None:
    from archiver.cli import build_parser

    commands = _example_commands()
    assert {c[0] for c in commands} == {"backup", "prune", "verify", "report", "drill"}
    parser = build_parser()
    for argv in commands:
        args, unknown = parser.parse_known_args(argv)
        assert args.store == "s3://example-org-healthomics-dr/archive"
        # until the backup command grows --metrics-file (its CLI calls archiver._metrics.write_metrics)
        assert unknown in (
            [],
            ["--metrics-file", "/var/lib/node_exporter/textfile_collector/omics-archiver-backup.prom"],
        )
        assert not unknown or argv[0] == "backup"
