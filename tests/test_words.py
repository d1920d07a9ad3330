"""The CLI's counted nouns: one bundle, two bundles."""

from __future__ import annotations

from archiver.cli._words import count


def test_count_agrees_with_its_number() -> None:
    assert count(1, "new bundle") == "1 new bundle"
    assert count(0, "new bundle") == "0 new bundles"
    assert count(2, "workflow") == "2 workflows"
    assert count(3, "match") == "3 matches"
    assert count(2, "index", "indices") == "2 indices"
