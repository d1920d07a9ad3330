"""The images section: a layer copied ECR -> store, again, and pushed store -> ECR (bench/images.py)."""

from __future__ import annotations

from bench import images as images_bench
from bench.measure import section
from bench.suite import Suite


@section("images", order=45)
def _images(suite: Suite) -> None:
    """1 GB layer (100 MB with --quick): copy and push MB/s, peak RSS, layer bytes of a second copy"""
    images_bench.record(suite)
