"""Counting nouns in what the CLI prints: "1 new bundle", "3 new bundles", never "1 new bundles".

Why: the summaries are read by people at 3 a.m.; a number with the wrong noun reads as a bug.
"""

from __future__ import annotations

__all__ = ["count"]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: ``count(2, "bundle")`` is ``"2 bundles"``.

    The plural is ``plural`` if given, else the last word of ``noun`` with ``s`` (``es`` after
    s, x, z, ch, sh) appended: ``count(3, "new bundle")`` is ``"3 new bundles"``.
    """
    if n == 1:
        return f"{n} {noun}"
    if plural is None:
        head, _, last = noun.rpartition(" ")
        if last.endswith(("s", "x", "z", "ch", "sh")):
            last += "es"
        else:
            last += "s"
        plural = f"{head} {last}" if head else last
    return f"{n} {plural}"
