"""A schema compiled to plain Python checks: "is this document valid?" at a fraction of the cost.

Validation sits on the hot paths: every archived item's metadata and manifest, every snapshot a
run reads or writes (a snapshot of 600 entries took jsonschema ~0.5 s to walk, twice per nightly
run). The archiver's schemas use a small, fixed part of JSON Schema 2020-12, so each schema is
compiled once into nested closures that answer only *whether* a document is valid. Reporting what
is wrong stays with jsonschema (``archiver._schema``): it walks only a document this check
rejects, so the messages are unchanged.

Safety rests on one rule: a keyword the compiler does not know makes :func:`compile_schema` raise
:class:`Unsupported`, and the caller falls back to jsonschema for that schema. A check can never
silently ignore a rule. ``tests/test_schema_fast.py`` holds the compiled checks to jsonschema's
verdict on every schema with valid documents and thousands of mutations of them.

Semantics follow jsonschema's Draft 2020-12 validator: ``integer`` accepts ``1.0``; booleans are
neither integers nor numbers; ``enum``/``const`` compare ``True`` and ``1`` as different;
``pattern`` and ``patternProperties`` search (not full-match); a format the caller does not name is
not checked (as with jsonschema's ``FormatChecker``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Check", "Unsupported", "compile_schema"]

Check = Callable[[object], bool]

# Keywords that say something about the schema, not about the document.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated"}
)


_STRING_KEYWORDS = frozenset({"type", "pattern", "minLength", "maxLength", "format"})


class Unsupported(Exception):
    """The schema uses a keyword (or form) this compiler does not check."""


def compile_schema(schema: object, *, formats: Mapping[str, Check] | None = None) -> Check:
    """``schema`` (local references already inlined) as one function ``document -> valid?``."""
    return _Compiler(formats or {}).node(schema, depth=0)


def _always(_: object) -> bool:
    return True


def _never(_: object) -> bool:
    return False


_TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": lambda x: isinstance(x, int | float) and not isinstance(x, bool),
    "integer": lambda x: (
        (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer())
    ),
}


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def equal(one: object, two: object) -> bool:
    """JSON equality as jsonschema has it: ``True != 1``, ``1 == 1.0``, containers compared deeply."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return one == two


class _Compiler:
    def __init__(self, formats: Mapping[str, Check]) -> None:
        self.formats = formats

    def node(self, schema: object, *, depth: int) -> Check:
        if depth > 64:
            raise Unsupported("schema nests deeper than 64 levels")
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise Unsupported(f"a schema must be an object or a boolean, not {type(schema).__name__}")
        if schema.get("type") == "string" and set(schema) - _ANNOTATIONS <= _STRING_KEYWORDS:
            return self._string(schema)
        checks: list[Check] = []
        handled = set(_ANNOTATIONS)
        for keyword, build in self._KEYWORDS.items():
            if keyword in schema:
                handled.add(keyword)
                check = build(self, schema, depth + 1)
                if check is not None:
                    checks.append(check)
        # properties / patternProperties / additionalProperties are judged together
        handled |= {"properties", "patternProperties", "additionalProperties"}
        objects = self._object_members(schema, depth + 1)
        if objects is not None:
            checks.append(objects)
        handled |= {"if", "then", "else"}
        conditional = self._conditional(schema, depth + 1)
        if conditional is not None:
            checks.append(conditional)
        unknown = set(schema) - handled
        if unknown:
            raise Unsupported(f"keywords not compiled: {', '.join(sorted(unknown))}")
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        frozen = tuple(checks)

        def every(x: object) -> bool:
            for check in frozen:  # noqa: SIM110 - no generator per call on the hot path
                if not check(x):
                    return False
            return True

        return every

    def _string(self, schema: dict[str, Any]) -> Check:
        """A string schema (``type`` with ``pattern``, ``minLength``, ``maxLength``, ``format``)
        as one function: the most common node of every schema here, checked without a call per
        keyword."""
        search = re.compile(schema["pattern"]).search if "pattern" in schema else None
        low = _count(schema, "minLength") if "minLength" in schema else 0
        high = _count(schema, "maxLength") if "maxLength" in schema else None
        conforms = self._format(schema, 0) if "format" in schema else None

        def string(x: object) -> bool:
            if not isinstance(x, str):
                return False
            if len(x) < low or (high is not None and len(x) > high):
                return False
            if search is not None and search(x) is None:
                return False
            return conforms is None or conforms(x)

        return string

    # -- keywords ------------------------------------------------------------------------------

    def _type(self, schema: dict[str, Any], depth: int) -> Check:
        wanted = schema["type"]
        names = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(names, list) or not names or any(n not in _TYPES for n in names):
            raise Unsupported(f"type {wanted!r}")
        if len(names) == 1:
            return _TYPES[names[0]]
        tests = tuple(_TYPES[n] for n in names)
        return lambda x: any(t(x) for t in tests)

    def _enum(self, schema: dict[str, Any], depth: int) -> Check:
        values = schema["enum"]
        if not isinstance(values, list):
            raise Unsupported("enum must be an array")
        if all(isinstance(v, str) for v in values):
            allowed = frozenset(values)
            return lambda x: isinstance(x, str) and x in allowed
        return lambda x: any(equal(x, v) for v in values)

    def _const(self, schema: dict[str, Any], depth: int) -> Check:
        value = schema["const"]
        return lambda x: equal(x, value)

    def _pattern(self, schema: dict[str, Any], depth: int) -> Check:
        search = re.compile(schema["pattern"]).search
        return lambda x: not isinstance(x, str) or search(x) is not None

    def _format(self, schema: dict[str, Any], depth: int) -> Check | None:
        conforms = self.formats.get(schema["format"])
        return conforms  # a format not named is not checked, as with jsonschema's FormatChecker

    def _max_length(self, schema: dict[str, Any], depth: int) -> Check:
        n = _count(schema, "maxLength")
        return lambda x: not isinstance(x, str) or len(x) <= n

    def _min_length(self, schema: dict[str, Any], depth: int) -> Check:
        n = _count(schema, "minLength")
        return lambda x: not isinstance(x, str) or len(x) >= n

    def _minimum(self, schema: dict[str, Any], depth: int) -> Check:
        low = _bound(schema, "minimum")
        return lambda x: not _is_number(x) or x >= low

    def _maximum(self, schema: dict[str, Any], depth: int) -> Check:
        high = _bound(schema, "maximum")
        return lambda x: not _is_number(x) or x <= high

    def _max_items(self, schema: dict[str, Any], depth: int) -> Check:
        n = _count(schema, "maxItems")
        return lambda x: not isinstance(x, list) or len(x) <= n

    def _min_items(self, schema: dict[str, Any], depth: int) -> Check:
        n = _count(schema, "minItems")
        return lambda x: not isinstance(x, list) or len(x) >= n

    def _unique_items(self, schema: dict[str, Any], depth: int) -> Check | None:
        if schema["uniqueItems"] is not True:
            return None

        def unique(x: object) -> bool:
            if not isinstance(x, list):
                return True
            return not any(equal(a, b) for i, a in enumerate(x) for b in x[i + 1 :])

        return unique

    def _items(self, schema: dict[str, Any], depth: int) -> Check:
        each = self.node(schema["items"], depth=depth)  # 2020-12: one schema for every item

        def items(x: object) -> bool:
            if not isinstance(x, list):
                return True
            for item in x:  # noqa: SIM110 - no generator per call on the hot path
                if not each(item):
                    return False
            return True

        return items

    def _required(self, schema: dict[str, Any], depth: int) -> Check:
        names = schema["required"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise Unsupported("required must be an array of strings")
        frozen = tuple(names)
        return lambda x: not isinstance(x, dict) or all(n in x for n in frozen)

    def _max_properties(self, schema: dict[str, Any], depth: int) -> Check:
        n = _count(schema, "maxProperties")
        return lambda x: not isinstance(x, dict) or len(x) <= n

    def _property_names(self, schema: dict[str, Any], depth: int) -> Check:
        each = self.node(schema["propertyNames"], depth=depth)
        return lambda x: not isinstance(x, dict) or all(each(k) for k in x)

    def _all_of(self, schema: dict[str, Any], depth: int) -> Check:
        parts = self._list(schema, "allOf", depth)
        return lambda x: all(p(x) for p in parts)

    def _any_of(self, schema: dict[str, Any], depth: int) -> Check:
        parts = self._list(schema, "anyOf", depth)
        return lambda x: any(p(x) for p in parts)

    def _one_of(self, schema: dict[str, Any], depth: int) -> Check:
        parts = self._list(schema, "oneOf", depth)
        if _disjoint_types(schema["oneOf"]):
            # Branches that each demand their own JSON type (``null`` or a string, say): at most
            # one can pass, so "exactly one" is "any", decided at the first that does.
            def first(x: object) -> bool:
                for part in parts:  # noqa: SIM110 - no generator per call on the hot path
                    if part(x):
                        return True
                return False

            return first
        return lambda x: sum(1 for p in parts if p(x)) == 1

    def _not(self, schema: dict[str, Any], depth: int) -> Check:
        inner = self.node(schema["not"], depth=depth)
        return lambda x: not inner(x)

    _KEYWORDS: dict[str, Callable[[_Compiler, dict[str, Any], int], Check | None]] = {
        "type": _type,
        "enum": _enum,
        "const": _const,
        "pattern": _pattern,
        "format": _format,
        "maxLength": _max_length,
        "minLength": _min_length,
        "minimum": _minimum,
        "maximum": _maximum,
        "maxItems": _max_items,
        "minItems": _min_items,
        "uniqueItems": _unique_items,
        "items": _items,
        "required": _required,
        "maxProperties": _max_properties,
        "propertyNames": _property_names,
        "allOf": _all_of,
        "anyOf": _any_of,
        "oneOf": _one_of,
        "not": _not,
    }

    def _list(self, schema: dict[str, Any], keyword: str, depth: int) -> tuple[Check, ...]:
        parts = schema[keyword]
        if not isinstance(parts, list) or not parts:
            raise Unsupported(f"{keyword} must be a non-empty array")
        return tuple(self.node(p, depth=depth) for p in parts)

    def _object_members(self, schema: dict[str, Any], depth: int) -> Check | None:
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        additional = schema.get("additionalProperties", True)
        if not isinstance(props, dict) or not isinstance(patterns, dict):
            raise Unsupported("properties and patternProperties must be objects")
        named = {k: self.node(v, depth=depth) for k, v in props.items()}
        by_pattern = tuple((re.compile(p).search, self.node(v, depth=depth)) for p, v in patterns.items())
        rest = self.node(additional, depth=depth)
        if not named and not by_pattern and rest is _always:
            return None

        if not by_pattern:
            # No patternProperties (every schema here): a member is judged by its name, or by
            # additionalProperties.
            def named_members(x: object) -> bool:
                if not isinstance(x, dict):
                    return True
                for key, value in x.items():
                    check = named.get(key)
                    if check is None:
                        if not rest(value):
                            return False
                    elif not check(value):
                        return False
                return True

            return named_members

        def members(x: object) -> bool:
            if not isinstance(x, dict):
                return True
            for key, value in x.items():
                check = named.get(key)
                matched = check is not None
                if matched and not check(value):  # type: ignore[misc]
                    return False
                for search, each in by_pattern:
                    if search(key) is not None:
                        matched = True
                        if not each(value):
                            return False
                if not matched and not rest(value):
                    return False
            return True

        return members

    def _conditional(self, schema: dict[str, Any], depth: int) -> Check | None:
        if "if" not in schema:
            return None  # then/else without if are ignored, as the specification says
        test = self.node(schema["if"], depth=depth)
        then = self.node(schema.get("then", True), depth=depth)
        otherwise = self.node(schema.get("else", True), depth=depth)
        return lambda x: then(x) if test(x) else otherwise(x)


# Which JSON types each ``type`` name admits, for telling branches apart (``integer`` is a number).
_ADMITS = {
    "object": {"object"},
    "array": {"array"},
    "string": {"string"},
    "boolean": {"boolean"},
    "null": {"null"},
    "number": {"integer", "number"},
    "integer": {"integer", "number"},  # 1.0 is an integer too: integer and number overlap
}


def _disjoint_types(branches: object) -> bool:
    """Whether every branch has a ``type`` and no JSON value can have the types of two of them."""
    if not isinstance(branches, list):
        return False
    seen: set[str] = set()
    for branch in branches:
        wanted = branch.get("type") if isinstance(branch, dict) else None
        names = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(names, list) or not names or any(n not in _ADMITS for n in names):
            return False
        admitted = set().union(*(_ADMITS[n] for n in names))
        if admitted & seen:
            return False
        seen |= admitted
    return True


def _count(schema: dict[str, Any], keyword: str) -> int:
    value = schema[keyword]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Unsupported(f"{keyword} must be a non-negative integer")
    return value


def _bound(schema: dict[str, Any], keyword: str) -> Any:
    value = schema[keyword]
    if not _is_number(value):
        raise Unsupported(f"{keyword} must be a number")
    return value
