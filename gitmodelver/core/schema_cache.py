"""The manifest schema made cheap: a compiled yes/no, jsonschema's errors put in words, and the texts
that passed remembered.

jsonschema explains every error, which validation needs for its messages, but takes most of a millisecond
even to pass a small manifest, and ``verify --all`` asks about thousands of them. So the schema is also
compiled to Python predicates (``compile_schema``; ``compile_tables`` splits the root at its top-level
tables, so a table ``tomltext`` shares is judged once) that answer exactly as jsonschema's Draft 2020-12
validator with the manifest's type rules (a TOML float is no integer, a table is any Mapping), in
microseconds; jsonschema runs only to explain a failure. The compiler knows the keywords the manifest
schema uses: a schema with any other keyword is refused (``Unsupported``) rather than half-checked, and
jsonschema answers everything.

Texts that passed are also remembered by content and schema (``known_valid``, ``remember``) for status
and the hooks, which then skip even that; the path rules, which depend on the file system, always run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import numbers
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodelver.core import tomltext

SCHEMA_PATH = Path(__file__).parent.parent / "schemas" / "manifest.schema.json"
Location = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    location: Location
    message: str


@functools.lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


# --------------------------------------------------------------------------- the yes/no, compiled


Predicate = Callable[[Any], bool]

# Keywords that never change whether an instance is valid.
_ANNOTATIONS = frozenset(
    {"$schema", "$comment", "$defs", "title", "description", "x-message", "examples", "default", "deprecated"}
)
# Read together with another keyword (``properties``, ``if``), never alone.
_COMPANIONS = frozenset({"additionalProperties", "then", "else"})


class Unsupported(ValueError):
    """The schema uses something this compiler does not know: ask jsonschema instead."""


def compile_schema(schema: Mapping[str, Any]) -> Predicate:
    """The predicate of ``schema``; raises Unsupported when it cannot be exact."""
    return _Compiler(schema).node(schema)


# JSON Schema's types, with TOML's: an integer is an int (not a bool or a float), an object any Mapping.
# The exact types come first: an isinstance of an abstract class costs more than most checks.
def _is_number(instance: Any) -> bool:
    kind = type(instance)
    return kind is int or kind is float or (isinstance(instance, numbers.Number) and kind is not bool)


def _is_object(instance: Any) -> bool:
    return type(instance) is dict or isinstance(instance, Mapping)


_TYPES: dict[str, Predicate] = {
    "object": _is_object,
    "array": lambda i: isinstance(i, list),
    "string": lambda i: isinstance(i, str),
    "integer": lambda i: isinstance(i, int) and not isinstance(i, bool),
    "number": _is_number,
    "boolean": lambda i: isinstance(i, bool),
    "null": lambda i: i is None,
}


def _always(instance: Any) -> bool:
    return True


def _never(instance: Any) -> bool:
    return False


def _all(checks: list[Predicate]) -> Predicate:
    """All of ``checks``, chained (a generator per call would cost more than most checks)."""
    if not checks:
        return _always
    first, rest = checks[0], _all(checks[1:])
    return first if rest is _always else (lambda i: first(i) and rest(i))


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Predicate] = {}

    def node(self, schema: Any) -> Predicate:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, Mapping):
            raise Unsupported(f"a schema must be an object or a boolean, not {schema!r}")
        checks = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or keyword in _COMPANIONS:
                continue
            build = _KEYWORDS.get(keyword)
            if build is None:
                raise Unsupported(f"keyword {keyword!r}")
            checks.append(build(self, value, schema))
        if "additionalProperties" in schema and "properties" not in schema:
            checks.append(_properties(self, {}, schema))
        return _all(checks)  # `then` and `else` without `if` do nothing, as in jsonschema

    def ref(self, target: str) -> Predicate:
        """``#/$defs/…`` inside the same document, compiled once (definitions may refer to themselves)."""
        if target not in self.refs:
            cell: list[Predicate] = []
            self.refs[target] = lambda i: cell[0](i)
            cell.append(self.node(self._resolve(target)))
        return self.refs[target]

    def _resolve(self, target: str) -> Any:
        if not target.startswith("#/"):
            raise Unsupported(f"$ref {target!r} (only pointers into this document)")
        found: Any = self.root
        for part in target[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(found, Mapping) or key not in found:
                raise Unsupported(f"$ref {target!r} leads nowhere")
            found = found[key]
        return found


Builder = Callable[[_Compiler, Any, Mapping[str, Any]], Predicate]


def _type(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    names = [value] if isinstance(value, str) else list(value)
    unknown = [n for n in names if n not in _TYPES]
    if unknown:
        raise Unsupported(f"type {unknown[0]!r}")
    checks = [_TYPES[n] for n in names]
    if len(checks) == 1:
        return checks[0]
    return lambda i: any(check(i) for check in checks)


def _properties(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    known = {name: compiler.node(sub) for name, sub in value.items()}
    extra = compiler.node(schema["additionalProperties"]) if "additionalProperties" in schema else None
    if "patternProperties" in schema:
        raise Unsupported("patternProperties")

    def check(instance: Any) -> bool:
        if not _is_object(instance):
            return True
        for name, item in instance.items():
            sub = known.get(name)
            if sub is not None:
                if not sub(item):
                    return False
            elif extra is not None and not extra(item):
                return False
        return True

    return check


def _required(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    names = list(value)
    if len(names) == 1:
        (name,) = names
        return lambda i: not _is_object(i) or name in i
    return lambda i: not _is_object(i) or all(n in i for n in names)


def _pattern(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    search = re.compile(value).search  # jsonschema's re.search: unanchored unless the pattern says so
    return lambda i: not isinstance(i, str) or search(i) is not None


def _min_length(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    return lambda i: not isinstance(i, str) or len(i) >= value


def _max_length(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    return lambda i: not isinstance(i, str) or len(i) <= value


def _bound(test: Callable[[Any, Any], bool]) -> Builder:
    def build(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
        return lambda i: not _is_number(i) or test(i, value)

    return build


def _enum(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    if not all(isinstance(v, str) for v in value):
        raise Unsupported("enum of anything but strings")  # jsonschema's equality is subtle there
    options = frozenset(value)
    return lambda i: isinstance(i, str) and i in options


def _items(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    if "prefixItems" in schema:
        raise Unsupported("prefixItems")
    sub = compiler.node(value)
    return lambda i: not isinstance(i, list) or all(sub(item) for item in i)


def _any_of(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    subs = [compiler.node(s) for s in value]
    if len(subs) == 2:
        first, second = subs
        return lambda i: first(i) or second(i)
    return lambda i: any(sub(i) for sub in subs)


def _all_of(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    return _all([compiler.node(s) for s in value])


def _one_of(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    subs = [compiler.node(s) for s in value]
    return lambda i: sum(1 for sub in subs if sub(i)) == 1


def _not(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    sub = compiler.node(value)
    return lambda i: not sub(i)


def _if(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    test = compiler.node(value)
    then = compiler.node(schema.get("then", True))
    otherwise = compiler.node(schema.get("else", True))
    return lambda i: then(i) if test(i) else otherwise(i)


def _ref(compiler: _Compiler, value: Any, schema: Mapping[str, Any]) -> Predicate:
    if not isinstance(value, str):
        raise Unsupported(f"$ref {value!r}")
    return compiler.ref(value)


_KEYWORDS: dict[str, Builder] = {
    "type": _type,
    "properties": _properties,
    "required": _required,
    "pattern": _pattern,
    "minLength": _min_length,
    "maxLength": _max_length,
    # each written as jsonschema's failing comparison, negated: the same answer for every value
    "minimum": _bound(lambda i, v: not i < v),
    "maximum": _bound(lambda i, v: not i > v),
    "exclusiveMinimum": _bound(lambda i, v: not i <= v),
    "exclusiveMaximum": _bound(lambda i, v: not i >= v),
    "enum": _enum,
    "items": _items,
    "anyOf": _any_of,
    "allOf": _all_of,
    "oneOf": _one_of,
    "not": _not,
    "if": _if,
    "$ref": _ref,
}


@functools.lru_cache(maxsize=1)
def _valid() -> Predicate | None:
    """The schema as one compiled yes/no question; None when it uses a keyword the compiler lacks."""
    try:
        return compile_schema(manifest_schema())
    except Unsupported:
        return None


@dataclass(frozen=True)
class _Tables:
    """The root schema as its own checks and one per top-level table, so the verdict on a table
    ``tomltext`` shares (the same text in many manifests) is worked out once."""

    own: Predicate  # the root's keywords but ``properties`` and ``additionalProperties``
    known: dict[str, Predicate]  # ``properties``
    other: Predicate | None  # ``additionalProperties``

    def valid(self, data: Any) -> bool:
        if not self.own(data):
            return False
        if not _is_object(data):
            return True
        for name, table in data.items():
            check = self.known.get(name, self.other)
            if check is not None and not _table_verdict(check, table):
                return False
        return True


_ROOT_KEYWORDS = frozenset({"type", "required", "properties", "additionalProperties"})


def compile_tables(schema: Mapping[str, Any]) -> _Tables | None:
    """``schema`` split at its top-level tables; None when its root uses more than ``_ROOT_KEYWORDS``
    (then it is compiled whole). Raises Unsupported like ``compile_schema``."""
    if not set(schema) - _ANNOTATIONS <= _ROOT_KEYWORDS or "patternProperties" in schema:
        return None
    compiler = _Compiler(schema)
    own = compiler.node({k: v for k, v in schema.items() if k not in ("properties", "additionalProperties")})
    known = {name: compiler.node(sub) for name, sub in schema.get("properties", {}).items()}
    other = compiler.node(schema["additionalProperties"]) if "additionalProperties" in schema else None
    return _Tables(own, known, other)


_VERDICTS: tomltext.Memo[bool] = {}


def _table_verdict(check: Predicate, table: Any) -> bool:
    return tomltext.kept(_VERDICTS, table, check, lambda t, c: c(t))


@functools.lru_cache(maxsize=1)
def _tables() -> _Tables | None:
    try:
        return compile_tables(manifest_schema())
    except Unsupported:
        return None


def schema_valid(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` passes the schema (data that passed ``shape_problem``)."""
    tables = _tables()
    if tables is not None:
        return tables.valid(data)
    valid = _valid()
    return valid(data) if valid is not None else not any(True for _ in _validator().iter_errors(data))


# --------------------------------------------------------------------------- errors in words


_TYPE_NAMES = {
    "object": "a table",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}
_BOUNDS = {
    "minimum": "at least",
    "exclusiveMinimum": "more than",
    "maximum": "at most",
    "exclusiveMaximum": "less than",
}


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # lazy: hooks that never validate a manifest must not pay for this import

    base = jsonschema.Draft202012Validator
    # TOML tells integers from floats: `max_batch_size = 32.0` is not an integer, whatever JSON says.
    # Tables may come from tomlkit (Mapping subclasses), not only dicts.
    checker = base.TYPE_CHECKER.redefine_many({"integer": _is_integer, "object": _is_table})
    return jsonschema.validators.extend(base, type_checker=checker)(manifest_schema())


def _is_integer(checker: object, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_table(checker: object, instance: object) -> bool:
    return isinstance(instance, Mapping)


def problems(data: Mapping[str, Any]) -> Iterator[Problem]:
    """The schema's problems with ``data``, in words (data that passed ``validate.shape_problem``)."""
    # Most manifests are valid: the compiled check says so in microseconds; jsonschema, which takes
    # most of a millisecond, only runs to explain a failure.
    if schema_valid(data):
        return
    for error in _validator().iter_errors(data):
        yield from _explain(error)


def _explain(error: Any) -> Iterator[Problem]:
    """Readable problems for one jsonschema error (one error may name several keys)."""
    location: Location = tuple(error.absolute_path)
    keyword: str = error.validator
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    instance = error.instance
    template = _template(schema, keyword)
    if keyword == "required" and isinstance(instance, Mapping):
        # jsonschema yields one error per missing key but does not say which; dedupe happens later.
        for name in error.validator_value:
            if name not in instance:
                yield Problem(location, template or f"missing required key {name!r}")
        return
    if keyword == "additionalProperties" and error.validator_value is False:
        for name in _extra_keys(schema, instance):
            yield Problem((*location, name), _unknown_key(name, schema))
        return
    if template:
        yield Problem(location, template.format(value=_show(instance), type=_toml_type(instance)))
        return
    yield Problem(location, _generic_message(keyword, error.validator_value, instance, error.message))


def _template(schema: Mapping[str, Any], keyword: str) -> str | None:
    """The schema's own wording (``x-message``) for a failure of ``keyword``, if it has one."""
    custom = schema.get("x-message")
    if isinstance(custom, Mapping):
        custom = custom.get(keyword)
    return custom if isinstance(custom, str) else None


def _generic_message(keyword: str, expected: Any, instance: Any, fallback: str) -> str:
    value = _show(instance)
    if keyword == "type":
        wanted = [expected] if isinstance(expected, str) else list(expected)
        names = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        return f"expected {names}, got {_toml_type(instance)} {value}"
    if keyword in ("enum", "const"):
        options = expected if keyword == "enum" else [expected]
        return f"{value} is not one of {', '.join(_show(o) for o in options)}"
    if keyword == "pattern":
        return f"{value} does not match the pattern {expected!r}"
    if keyword in _BOUNDS:
        return f"{value} is out of range (must be {_BOUNDS[keyword]} {expected})"
    if keyword in ("minLength", "minItems", "minProperties"):
        return "must not be empty" if expected == 1 else f"needs at least {expected} entries"
    if keyword == "format":
        return f"{value} is not a valid {expected}"
    return str(fallback)


def _extra_keys(schema: Mapping[str, Any], instance: Any) -> list[str]:
    if not isinstance(instance, Mapping):
        return []
    known = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [k for k in instance if k not in known and not any(p.search(k) for p in patterns)]


def _unknown_key(name: str, schema: Mapping[str, Any]) -> str:
    known = sorted(schema.get("properties", {}))
    import difflib  # only to explain an unknown key

    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"unknown key {name!r} (did you mean {close[0]!r}?)"
    return f"unknown key {name!r} (known keys: {', '.join(known)})"


def _show(value: Any) -> str:
    import datetime  # messages only

    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return repr(value)


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, list):
        return "array"
    import datetime  # messages only

    if isinstance(value, datetime.datetime):
        return "date-time"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, datetime.time):
        return "time"
    return type(value).__name__


# --------------------------------------------------------------------------- texts that passed


FILE = "schema-valid"
KEEP = 32


@functools.lru_cache(maxsize=1)
def _schema_hash() -> bytes:
    return hashlib.sha256(SCHEMA_PATH.read_bytes()).digest()


def _key(text: str) -> str:
    return hashlib.sha256(_schema_hash() + text.encode("utf-8")).hexdigest()


def _entries(folder: Path) -> list[str]:
    try:
        return (folder / FILE).read_text("ascii").split()
    except (OSError, UnicodeDecodeError):
        return []


def known_valid(folder: Path | None, text: str) -> bool:
    return folder is not None and _key(text) in _entries(folder)


def remember(folder: Path | None, text: str) -> None:
    if folder is None:
        return
    entries = [_key(text), *_entries(folder)][:KEEP]
    tmp = folder / f"{FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text("\n".join(entries) + "\n", "ascii")
        os.replace(tmp, folder / FILE)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only repository only loses the shortcut
