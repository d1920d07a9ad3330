"""The container images of a WDL file: ``runtime { docker: ... | container: ... }``.

Not a WDL parser: a scanner that knows enough of the grammar to find the ``runtime`` (and WDL 1.2
``requirements``) sections of each task, their ``docker`` and ``container`` keys, and the value
expression of each. A string literal is an image; an array of literals (WDL 1.1 lets ``container``
list alternatives) is several; an identifier naming a ``String`` declared in the same task with a
literal default (``String docker = "..."``, the usual way to let a run override the image) is that
default, reported at the declaration's line. Anything else is recorded as unresolvable, with the
expression. Comments and strings are respected when matching braces.
"""

from __future__ import annotations

import re

from ._found import Occurrence, string_literal

__all__ = ["scan_wdl"]

_SECTION = re.compile(r"\b(runtime|requirements)\s*\{")
_TASK = re.compile(r"\btask\s+[A-Za-z_][A-Za-z0-9_]*\s*\{")
_KEY = re.compile(r"(?<![A-Za-z0-9_.])(docker|container)[ \t]*:[ \t]*")
_NEXT_KEY = re.compile(r"\s+[A-Za-z_][A-Za-z0-9_]*\s*:")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTES = "\"'"


def _mask(text: str) -> str:
    """``text`` with comments blanked and string contents replaced by ``_`` (same length and lines),
    so that braces and keys are only ever matched in code."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
        elif ch in _QUOTES:
            quote, i = ch, i + 1
            while i < n and text[i] != quote and text[i] != "\n":
                if text[i] == "\\":
                    out[i] = "_"
                    i += 1
                    if i < n and text[i] != "\n":
                        out[i] = "_"
                        i += 1
                    continue
                out[i] = "_"
                i += 1
            i += 1
        else:
            i += 1
    return "".join(out)


def _close(masked: str, open_at: int) -> int:
    """The index just past the ``}`` matching the ``{`` at ``open_at`` (end of text if none)."""
    depth = 0
    for index in range(open_at, len(masked)):
        if masked[index] == "{":
            depth += 1
        elif masked[index] == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(masked)


def _value_end(masked: str, start: int, end: int) -> int:
    """Where the value expression starting at ``start`` ends: the end of its line, or of the
    bracketed expression it opens (an array of images may span lines)."""
    depth = 0
    for index in range(start, end):
        ch = masked[index]
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "\n" and depth <= 0:
            return index
    return end


def _first_value(raw: str, masked: str) -> str:
    """The value expression alone, when more keys follow on its line (``{ docker: "x" cpu: 2 }``)."""
    follows = _NEXT_KEY.search(masked)
    return (raw[: follows.start()] if follows else raw).strip().rstrip(",")


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _declaration(text: str, masked: str, scope: tuple[int, int], name: str) -> tuple[str, int] | None:
    """The literal default of ``String name = "..."`` within ``scope``, and its line."""
    pattern = re.compile(rf"\bString\??[ \t]+{re.escape(name)}[ \t]*=[ \t]*")
    for match in pattern.finditer(masked, *scope):
        end = masked.find("\n", match.end(), scope[1])
        end = scope[1] if end < 0 else end
        value, _ = string_literal(text[match.end() : end], interpolating_quotes=_QUOTES)
        if value is not None:
            return value, _line(text, match.start())
    return None


def scan_wdl(path: str, text: str) -> list[Occurrence]:
    """Every image the ``runtime``/``requirements`` sections of the WDL source ``text`` name."""
    masked = _mask(text)
    tasks = [(m.start(), _close(masked, m.end() - 1)) for m in _TASK.finditer(masked)]
    found: list[Occurrence] = []
    for section in _SECTION.finditer(masked):
        start, end = section.end() - 1, _close(masked, section.end() - 1)
        scope = next(((a, b) for a, b in tasks if a <= start < b), (0, len(text)))
        for key in _KEY.finditer(masked, start + 1, end - 1):
            syntax = f"wdl-{section.group(1)}-{key.group(1)}"
            value_end = _value_end(masked, key.end(), end - 1)
            raw = _first_value(text[key.end() : value_end], masked[key.end() : value_end])
            line = _line(text, key.start())
            found += _values(path, line, syntax, raw, text, masked, scope)
    return found


def _values(
    path: str, line: int, syntax: str, raw: str, text: str, masked: str, scope: tuple[int, int]
) -> list[Occurrence]:
    if raw.startswith("[") and raw.endswith("]"):
        items = [i for i in re.split(r",\s*", raw[1:-1].strip()) if i.strip()]
        if items and all(string_literal(i, interpolating_quotes=_QUOTES)[0] for i in items):
            return [
                Occurrence(path, line, syntax, string_literal(i, interpolating_quotes=_QUOTES)[0])
                for i in items
            ]
    value, why = string_literal(raw, interpolating_quotes=_QUOTES)
    if value is not None:
        return [Occurrence(path, line, syntax, value)]
    if _IDENT.fullmatch(raw):
        declared = _declaration(text, masked, scope, raw)
        if declared is not None:
            note = (
                f"the default of `{raw}`, used by the runtime section at line {line}; a run may override it"
            )
            return [Occurrence(path, declared[1], syntax, declared[0], note=note)]
        why = f"`{raw}` has no literal default in its task: it is set at run time"
    return [Occurrence.unresolvable(path, line, syntax, raw, why or "not a literal")]
