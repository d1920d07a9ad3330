"""How a benchmark plugs into ``python -m bench``: sections, measurements and their targets.

Why: every issue-11 target is reported side by side in one run, and several people add benchmarks.
A benchmark is a *section*: a function taking the running :class:`~bench.suite.Suite`, registered
with :func:`section` in a module of ``bench/sections/`` (every module there is imported, so adding a
file is all it takes). It records figures with ``suite.measure``::

    from bench.measure import section

    @section("restore", order=40)
    def restore(suite):
        ...
        suite.measure("restore.ratio", "restore: wall time / create-quota bound", ratio, "x",
                      target="<= 1.15")
        suite.measure("restore.calls", "restore: API calls", calls, "count")  # a figure, no target

``target`` is a comparison and a number (``<= 5``, ``< 150``, ``>= 1.5``, ``== 0``). In a
``--quick`` run a target is compared only if the measurement gives ``quick_target`` (the same text
for targets that hold at any size, e.g. ``quick_target="== 0"``); otherwise the line shows the
full-run target in parentheses and says "not compared". Repeated measurements of one key are
kept as runs; the report shows their median.
"""

from __future__ import annotations

import operator
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .suite import Suite

__all__ = ["SECTIONS", "Metric", "Section", "Target", "section"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}
_TARGET = re.compile(r"^\s*(<=|>=|==|<|>)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$")


@dataclass(frozen=True)
class Target:
    """A comparison against a number: ``<= 1.15``."""

    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Target:
        m = _TARGET.match(text)
        if not m:
            raise ValueError(f"not a target: {text!r} (write e.g. '<= 5', '>= 1.5', '== 0')")
        return cls(m.group(1), float(m.group(2)))

    def check(self, value: float) -> bool:
        return _OPS[self.op](value, self.value)

    def __str__(self) -> str:
        v = int(self.value) if self.value == int(self.value) else self.value
        return f"{self.op} {v}"


@dataclass
class Metric:
    """One named figure: its runs, median, and (if it has one) its target."""

    name: str
    unit: str
    runs: list[float] = field(default_factory=list)
    target: Target | None = None
    compared: bool = True  # False: a full-run target shown in a --quick run, not compared
    note: str = ""
    section: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    @property
    def passed(self) -> bool | None:
        m = self.median
        if self.target is None or not self.compared or m is None:
            return None
        return self.target.check(m)

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        return str(self.target) if self.compared else f"({self.target} full run)"

    @property
    def result(self) -> str:
        if self.target is not None and not self.compared:
            return "not compared"
        return {True: "PASS", False: "FAIL", None: ""}[self.passed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "runs": self.runs,
            "target": str(self.target) if self.target else None,
            "compared": self.compared if self.target else None,
            "passed": self.passed,
            "section": self.section or None,
            "note": self.note or None,
        }


@dataclass(frozen=True)
class Section:
    name: str
    run: Callable[[Suite], None]
    order: int
    help: str


SECTIONS: dict[str, Section] = {}


def section(
    name: str, *, order: int = 100, help: str = ""
) -> Callable[[Callable[[Suite], None]], Callable[[Suite], None]]:
    """Register ``fn(suite)`` as the benchmark section ``name`` (run in ``order``, then by name)."""

    def register(fn: Callable[[Suite], None]) -> Callable[[Suite], None]:
        if name in SECTIONS and SECTIONS[name].run is not fn:
            raise ValueError(f"two benchmark sections are named {name!r}")
        SECTIONS[name] = Section(name, fn, order, help or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return register
