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

import functools
import re
from collections.abc import Callable

from ._found import Occurrence, string_literal

__all__ = ["scan_wdl"]

# Each starts with a literal, so that ``re`` can skip ahead fast; the word boundary before it (a
# leading ``\b`` or look-behind would make every position a candidate, ~25x slower) is checked by
# ``_at_word_start``.
_SECTION = re.compile(r"(runtime|requirements)\s*\{")
_TASK = re.compile(r"task\s+[A-Za-z_][A-Za-z0-9_]*\s*\{")
_KEY = re.compile(r"(docker|container)[ \t]*:[ \t]*")
_KEY_NOT_AFTER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")
_NEXT_KEY = re.compile(r"\s+[A-Za-z_][A-Za-z0-9_]*\s*:")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTES = "\"'"


# A comment (``#`` to the end of the line) or a string: an opening quote, its content (an escape
# takes the next character, never a newline; WDL strings do not span lines) in group 1 or 2, and
# the closing quote if there is one. ``finditer`` finds each where a left-to-right walk would. The
# content is written "unrolled" (runs of plain characters, then escapes each followed by a run), so
# that ``re`` takes a run in one step instead of trying three alternatives at every character.
_HOLE = re.compile(r"""#[^\n]*|"([^\\\n"]*(?:\\[^\n]?[^\\\n"]*)*)"?|'([^\\\n']*(?:\\[^\n]?[^\\\n']*)*)'?""")
_BRACES = re.compile(r"[{}]")
_VALUE_STOPS = re.compile(r"[][()\n]")


def _blank(hole: re.Match[str]) -> str:
    found = hole.group()
    if hole.lastindex is None:  # a comment
        return " " * len(found)
    content = hole.end(hole.lastindex) - hole.start(hole.lastindex)
    return found[0] + "_" * content + found[1 + content :]


def _mask(text: str) -> str:
    """``text`` with comments blanked and string contents replaced by ``_`` (same length and lines),
    so that braces and keys are only ever matched in code."""
    return _HOLE.sub(_blank, text)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # what ``\b`` takes for a word character


def _at_word_start(
    pattern: re.Pattern[str], text: str, pos: int = 0, endpos: int | None = None, *, keys: bool = False
) -> list[re.Match[str]]:
    """``pattern.finditer`` keeping only matches not preceded by a word character (for ``keys``: by
    an ASCII letter, digit, ``_`` or ``.``); a match that is refused is retried one character on."""
    endpos = len(text) if endpos is None else endpos
    found: list[re.Match[str]] = []
    while (match := pattern.search(text, pos, endpos)) is not None:
        start = match.start()
        if start > 0 and (text[start - 1] in _KEY_NOT_AFTER if keys else _is_word(text[start - 1])):
            pos = start + 1
            continue
        found.append(match)
        pos = max(match.end(), start + 1)
    return found


def _close(masked: str, open_at: int) -> int:
    """The index just past the ``}`` matching the ``{`` at ``open_at`` (end of text if none)."""
    depth = 0
    for brace in _BRACES.finditer(masked, open_at):
        if brace.group() == "{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return brace.end()
    return len(masked)


def _value_end(masked: str, start: int, end: int) -> int:
    """Where the value expression starting at ``start`` ends: the end of its line, or of the
    bracketed expression it opens (an array of images may span lines)."""
    depth = 0
    for stop in _VALUE_STOPS.finditer(masked, start, end):
        ch = stop.group()
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif depth <= 0:  # a newline
            return stop.start()
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


class _Tasks:
    """The tasks of a masked text, found when a value first needs its task (an identifier)."""

    def __init__(self, masked: str) -> None:
        self.masked = masked
        self.spans: list[tuple[int, int]] | None = None

    def scope(self, at: int) -> tuple[int, int]:
        """The task around ``at``, or the whole text."""
        if self.spans is None:
            self.spans = [
                (m.start(), _close(self.masked, m.end() - 1)) for m in _at_word_start(_TASK, self.masked)
            ]
        return next(((a, b) for a, b in self.spans if a <= at < b), (0, len(self.masked)))


def scan_wdl(path: str, text: str) -> list[Occurrence]:
    """Every image the ``runtime``/``requirements`` sections of the WDL source ``text`` name."""
    # Every place an image is named needs a section (``runtime``/``requirements``) and a key
    # (``docker``/``container``) matched in the masked text, whose every character is the text's own
    # or a blank (space or ``_``): a text without these words cannot name an image.
    if not ("runtime" in text or "requirements" in text) or not ("docker" in text or "container" in text):
        return []
    masked = _mask(text)
    tasks = _Tasks(masked)
    found: list[Occurrence] = []
    for section in _at_word_start(_SECTION, masked):
        start, end = section.end() - 1, _close(masked, section.end() - 1)
        for key in _at_word_start(_KEY, masked, start + 1, end - 1, keys=True):
            syntax = f"wdl-{section.group(1)}-{key.group(1)}"
            value_end = _value_end(masked, key.end(), end - 1)
            raw = _first_value(text[key.end() : value_end], masked[key.end() : value_end])
            line = _line(text, key.start())
            found += _values(path, line, syntax, raw, text, masked, functools.partial(tasks.scope, start))
    return found


def _values(
    path: str, line: int, syntax: str, raw: str, text: str, masked: str, scope: Callable[[], tuple[int, int]]
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
        declared = _declaration(text, masked, scope(), raw)
        if declared is not None:
            note = (
                f"the default of `{raw}`, used by the runtime section at line {line}; a run may override it"
            )
            return [Occurrence(path, declared[1], syntax, declared[0], note=note)]
        why = f"`{raw}` has no literal default in its task: it is set at run time"
    return [Occurrence.unresolvable(path, line, syntax, raw, why or "not a literal")]
