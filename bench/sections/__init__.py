"""Benchmark sections: every module here is imported by ``python -m bench`` (see ``bench/measure.py``).

Add a module with a function decorated ``@section("name", order=...)``; it receives the running
:class:`~bench.suite.Suite` and records figures with ``suite.measure(key, name, value, unit,
target=..., quick_target=...)``. Built-in sections (startup, backup, memory) live in ``bench/suite.py``.
"""
