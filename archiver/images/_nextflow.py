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

from ._found import Occurrence, string_literal

__all__ = ["scan_nextflow"]

_DIRECTIVE = re.compile(r"(?m)^[ \t]*container\b[ \t]*(?:\(|(?=['\"A-Za-z_$]))")
_ASSIGNMENT = re.compile(r"(?m)^[ \t]*(?:process[ \t]*\.[ \t]*)?container[ \t]*=[ \t]*")


# What a left-to-right walk of Groovy meets: a string (a quote, then escapes that take the next
# character whatever it is, or anything but the quote and a newline, to the closing quote or the end
# of the line, both included), a ``//`` comment to the end of the line, or a ``/* */`` comment (to the
# text's end if unclosed). Strings are kept; a comment's characters other than newlines are blanked.
# A string's content is "unrolled" (a run of plain characters, then escapes each followed by a run).
_TOKEN = re.compile(
    r"""'[^\\'\n]*(?:\\[\s\S]?[^\\'\n]*)*['\n]?|"[^\\"\n]*(?:\\[\s\S]?[^\\"\n]*)*["\n]?|//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)"""
)
_NOT_NEWLINE = re.compile(r"[^\n]")


def _blank(token: re.Match[str]) -> str:
    found = token.group()
    return found if found[0] in "'\"" else _NOT_NEWLINE.sub(" ", found)


def _strip_comments(text: str) -> str:
    """``text`` with ``//`` and ``/* */`` comments blanked (lines kept), strings left alone."""
    return _TOKEN.sub(_blank, text)


def scan_nextflow(path: str, text: str) -> list[Occurrence]:
    """Every image the Nextflow script or config ``text`` (at ``path``) names."""
    if "container" not in text:  # both patterns match it in ``code``, the text with blanks only
        return []
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
