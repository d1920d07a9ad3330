"""What the definition scanners report: one place in a file that names a container image.

Shared by the WDL, Nextflow and CWL scanners, with the small helper they all need: telling a plain
string literal (an image reference) from an expression that only a run could evaluate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Occurrence", "string_literal"]

_MAX_SHOWN = 200


@dataclass(frozen=True, slots=True)
class Occurrence:
    """An image named at ``file``:``line`` (1-based) by ``syntax`` (``wdl-runtime-docker``...).

    ``image`` is the reference when the text is a literal (or an input's literal default), else
    ``None`` with the text as written in ``expression`` and why it cannot be known in ``note``. A
    ``note`` on a literal says how it was found (``the default of input `docker```).
    """

    file: str
    line: int
    syntax: str
    image: str | None
    expression: str | None = None
    note: str | None = None

    @staticmethod
    def unresolvable(file: str, line: int, syntax: str, text: str, why: str) -> Occurrence:
        shown = text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
        return Occurrence(file, line, syntax, None, expression=shown, note=why)


_INTERPOLATION = re.compile(r"~\{|\$\{|\$[A-Za-z_]")


def string_literal(text: str, *, interpolating_quotes: str) -> tuple[str | None, str | None]:
    """``(value, None)`` if ``text`` is one plain string literal, else ``(None, why not)``.

    ``interpolating_quotes`` are the quote characters whose strings interpolate (``"'`` in WDL,
    ``"`` in Groovy); a literal in them containing ``~{``, ``${`` or ``$name`` is an expression.
    """
    text = text.strip()
    if len(text) >= 2 and text[0] in "\"'" and text[-1] == text[0] and text[0] not in text[1:-1]:
        value = text[1:-1]
        if text[0] in interpolating_quotes and _INTERPOLATION.search(value):
            return None, "the image name is interpolated at run time"
        if not value.strip():
            return None, "the image name is empty"
        return value.strip(), None
    return None, "the image is an expression evaluated at run time"
