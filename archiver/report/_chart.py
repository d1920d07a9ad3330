"""Small inline SVG line charts for the report page: no JavaScript, no fonts or files to load.

Why: a page that must open years later, offline, on an auditor's laptop cannot depend on a charting
library or a CDN. A chart here is a few polylines in an ``<svg>`` element, sized in the page's own
units, with a ``<title>`` for each point so the numbers stay readable (and selectable as text in
the table the page prints next to it). Every text that goes into the SVG is escaped by the caller's
``escape`` function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Series", "line_chart"]

_W, _H = 560, 170
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 12, 12, 30


@dataclass(frozen=True)
class Series:
    """One line: its name, CSS class (colour) and one value per x position (``None``: not recorded)."""

    name: str
    css: str
    values: Sequence[int | None]


def _nice_max(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^k that is at least ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def line_chart(
    title: str, labels: Sequence[str], series: Sequence[Series], escape: Callable[[str], str]
) -> str:
    """An ``<svg>`` with one polyline per series over ``labels`` (x positions, oldest first)."""
    n = len(labels)
    top = _nice_max(max((v for s in series for v in s.values if v is not None), default=0))
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(i: int) -> float:
        return _LEFT + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: int) -> float:
        return _TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in (0, top // 2 if top >= 2 else None, top):
        if tick is None:
            continue
        ty = y(tick)
        parts.append(f'<line class="grid" x1="{_LEFT}" y1="{ty:.1f}" x2="{_W - _RIGHT}" y2="{ty:.1f}"/>')
        parts.append(f'<text class="tick" x="{_LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick}</text>')
    if n:
        parts.append(
            f'<text class="tick" x="{_LEFT}" y="{_H - 8}" text-anchor="start">{escape(labels[0])}</text>'
        )
        if n > 1:
            parts.append(
                f'<text class="tick" x="{_W - _RIGHT}" y="{_H - 8}" text-anchor="end">'
                f"{escape(labels[-1])}</text>"
            )
    for s in series:
        points = [(x(i), y(v), v) for i, v in enumerate(s.values) if v is not None]
        if not points:
            continue
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
            parts.append(f'<polyline class="line {s.css}" points="{path}"/>')
        for (px, py, v), label in zip(
            points, (labels[i] for i, v in enumerate(s.values) if v is not None), strict=True
        ):
            parts.append(
                f'<circle class="dot {s.css}" cx="{px:.1f}" cy="{py:.1f}" r="2.5">'
                f"<title>{escape(f'{s.name}: {v} ({label})')}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)
