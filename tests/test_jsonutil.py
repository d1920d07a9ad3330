"""pretty_json writes exactly what json.dumps writes (bundle digests depend on it), only faster."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from archiver._jsonutil import pretty_json

_TEXTS = [
    "",
    "plain",
    'quote " and \\ backslash',
    "tab\tnew\nline\x00\x1f",
    "é ü 漢字 🧬",
    "\u2028\u2029",
    "/</",
]


def _doc(rng: random.Random, depth: int) -> Any:
    pick = rng.randrange(9 if depth < 5 else 6)
    if pick == 0:
        return rng.choice(_TEXTS) + str(rng.randrange(1000))
    if pick == 1:
        return rng.choice([0, -1, 7, 2**70, -(2**65)])
    if pick == 2:
        return rng.choice([0.0, -0.0, 1.5, 1e300, -2.5e-300, 0.1 + 0.2, 123456789.0])
    if pick == 3:
        return rng.choice([True, False, None])
    if pick == 4:
        return rng.choice([{}, []])
    if pick == 5:
        return rng.choice(_TEXTS)
    if pick in (6, 7):
        return {rng.choice(_TEXTS) + str(i): _doc(rng, depth + 1) for i in range(rng.randrange(1, 6))}
    return [_doc(rng, depth + 1) for _ in range(rng.randrange(1, 5))]


def _dumps(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def test_pretty_json_is_byte_for_byte_json_dumps() -> None:
    rng = random.Random(11)
    for _ in range(400):
        doc = _doc(rng, 0)
        assert pretty_json(doc) == _dumps(doc), doc
    assert pretty_json((1, [2, (3,)])) == _dumps((1, [2, (3,)]))


class _Text(str):
    pass


@pytest.mark.parametrize(
    "odd",
    [{1: "int key"}, {"a": _Text("subclass")}, {"n": True, "deep": [{"k": 1 << 80}]}, {"e": {}, "l": []}],
)
def test_values_json_dumps_would_spell_differently_are_left_to_it(odd: Any) -> None:
    assert pretty_json(odd) == _dumps(odd)


@pytest.mark.parametrize(
    "bad", [float("nan"), {"x": float("inf")}, [-float("inf")], {"a": object()}, {1: 1, "a": 2}]
)
def test_what_json_refuses_is_refused(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        pretty_json(bad)
