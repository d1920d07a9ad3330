"""The container images of Nextflow scripts and configuration files.

In a script (``*.nf``) a process names its image with the ``container`` directive
(``container 'image'``, ``container "image"``, ``container('image')``). In a configuration file
(``nextflow.config``, ``conf/*.config``, any ``*.config``) it is an assignment:
``process.container = '...'``, or ``container = '...'`` inside ``process { }`` and its
``withName:``/``withLabel:`` selectors. Single-quoted Groovy strings are literal; double-quoted ones
are literal unless they interpolate (``${...}``, ``$name``). Anything else (``params.image``, a
ternary on ``workflow.containerEngine``, a closure) is recorded as unresolvable with its text.
``//`` and ``/* */`` comments are skipped.
"""

from __future__ import annotations

import re

from archiver.images._found import Occurrence, string_literal

__all__ = ["scan_nextflow"]

_DIRECTIVE = re.compile(r"(?m)^[ \t]*container\b[ \t]*(?:\(|(?=['\"A-Za-z_$]))")
_ASSIGNMENT = re.compile(r"(?m)^[ \t]*(?:process[ \t]*\.[ \t]*)?container[ \t]*=[ \t]*")


def _strip_comments(text: str) -> str:
    """``text`` with ``//`` and ``/* */`` comments blanked (lines kept), strings left alone."""
    out = list(text)
    i, n = 0, len(text)
    quote: str | None = None
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote or ch == "\n":
                quote = None
            i += 1
        elif ch in "'\"":
            quote = ch
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            for j in range(i, end):
                if out[j] != "\n":
                    out[j] = " "
            i = end
        else:
            i += 1
    return "".join(out)


def scan_nextflow(path: str, text: str) -> list[Occurrence]:
    """Every image the Nextflow script or config ``text`` (at ``path``) names."""
    code = _strip_comments(text)
    config = path.endswith(".config")
    pattern, syntax = (_ASSIGNMENT, "nextflow-config") if config else (_DIRECTIVE, "nextflow-container")
    found: list[Occurrence] = []
    for match in pattern.finditer(code):
        end = code.find("\n", match.end())
        raw = code[match.end() : len(code) if end < 0 else end].strip()
        if match.group(0).rstrip().endswith("("):
            raw = raw[:-1].strip() if raw.endswith(")") else raw
        line = code.count("\n", 0, match.start()) + 1
        value, why = string_literal(raw, interpolating_quotes='"')
        if value is not None:
            found.append(Occurrence(path, line, syntax, value))
        else:
            found.append(Occurrence.unresolvable(path, line, syntax, raw, why or "not a literal"))
    return found
