"""The States Language's intrinsic functions (``States.Format('{}', $.x)`` and the other 17).

An expression is parsed once (``parse``; a definition with a bad one is refused when it is
created) and evaluated against the state's data and the context object. Arguments are string
literals in single quotes (``\\'``, ``\\{``, ``\\}`` and ``\\\\`` escape), numbers, ``true``,
``false``, ``null``, paths and, nested, other calls. A failure raises ``States.IntrinsicFailure``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

from mlyard.workflow import paths
from mlyard.workflow.errors import INTRINSIC_FAILURE, StatesError

__all__ = ["is_call", "parse", "evaluate", "IntrinsicSyntaxError", "FUNCTIONS"]

_MAX_ITEMS = 1000
_MAX_BASE64 = 10000


class IntrinsicSyntaxError(ValueError):
    """An expression that does not parse, or calls what is not an intrinsic function."""


def is_call(text: Any) -> bool:
    return isinstance(text, str) and text.startswith("States.")


# An expression: ("call", name, [args]) | ("lit", value[, text as written]) | ("path", path)
Node = tuple[Any, ...]


def parse(text: str) -> Node:
    parser = _Parser(text)
    node = parser.call()
    parser.space()
    if parser.pos != len(text):
        raise IntrinsicSyntaxError(f"{text!r}: unexpected {text[parser.pos:]!r} after the call")
    return node


class _Parser:
    _NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
    _NAME = re.compile(r"States\.[A-Za-z0-9]+")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"{self.text!r}: {what} at character {self.pos + 1}")

    def space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n":
            self.pos += 1

    def call(self) -> Node:
        self.space()
        m = self._NAME.match(self.text, self.pos)
        if not m:
            raise self.fail("expected an intrinsic function (States.Name)")
        name = m.group(0)
        if name not in FUNCTIONS:
            raise IntrinsicSyntaxError(f"{self.text!r}: {name} is not an intrinsic function (there are: "
                                       f"{', '.join(sorted(FUNCTIONS))})")
        self.pos = m.end()
        self.space()
        if self.pos >= len(self.text) or self.text[self.pos] != "(":
            raise self.fail(f"expected '(' after {name}")
        self.pos += 1
        args: list[Node] = []
        self.space()
        if self.pos < len(self.text) and self.text[self.pos] == ")":
            self.pos += 1
        else:
            while True:
                args.append(self.argument())
                self.space()
                if self.pos < len(self.text) and self.text[self.pos] == ",":
                    self.pos += 1
                    continue
                if self.pos < len(self.text) and self.text[self.pos] == ")":
                    self.pos += 1
                    break
                raise self.fail("expected ',' or ')'")
        low, high = FUNCTIONS[name][1]
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"{low} to {high}" if high < 99 else f"at least {low}"
            raise IntrinsicSyntaxError(f"{self.text!r}: {name} takes {expected} argument(s), not {len(args)}")
        return ("call", name, args)

    def argument(self) -> Node:
        self.space()
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise self.fail("expected an argument")
        c = text[pos]
        if c == "'":
            value, raw = self.string()
            return ("lit", value, raw)
        if c == "$":
            end = self._path_end(pos)
            path = text[pos:end].strip()
            try:
                paths.parse(path)
            except paths.PathError as exc:
                raise IntrinsicSyntaxError(f"{text!r}: {exc}") from None
            self.pos = end
            return ("path", path)
        if text.startswith("States.", pos):
            return self.call()
        literals: tuple[tuple[str, Any], ...] = (("true", True), ("false", False), ("null", None))
        for word, value in literals:
            if text.startswith(word, pos):
                self.pos = pos + len(word)
                return ("lit", value)
        m = self._NUMBER.match(text, pos)
        if m:
            self.pos = m.end()
            number = m.group(0)
            return ("lit", float(number) if any(ch in number for ch in ".eE") else int(number))
        raise self.fail(f"unexpected {c!r}")

    def string(self) -> tuple[str, str]:
        """A quoted literal: its value, and its text for States.Format (escaped braces and
        backslashes kept, so that ``\\{}`` stays a literal ``{}`` there)."""
        out, raw = [], []
        self.pos += 1
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\" and self.pos + 1 < len(self.text):
                escaped = self.text[self.pos + 1]
                out.append(escaped)
                raw.append(escaped if escaped == "'" else c + escaped)
                self.pos += 2
                continue
            if c == "'":
                self.pos += 1
                return "".join(out), "".join(raw)
            out.append(c)
            raw.append(c)
            self.pos += 1
        raise self.fail("a string that is not closed")

    def _path_end(self, pos: int) -> int:
        """Where a path argument ends: at the ',' or ')' that is outside brackets and quotes."""
        depth, quote = 0, ""
        i = pos
        while i < len(self.text):
            c = self.text[i]
            if quote:
                if c == "\\":
                    i += 1
                elif c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c in "[(":
                depth += 1
            elif c in "])":
                if depth == 0:
                    return i
                depth -= 1
            elif c == "," and depth == 0:
                return i
            i += 1
        return i


def evaluate(node: Node, data: Any, context: Any) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "path":
        value = paths.read(node[1], data, context)
        if value is paths.MISSING:
            raise StatesError(INTRINSIC_FAILURE, f"the path {node[1]!r} selects nothing in the state's data")
        return value
    name, args = node[1], [evaluate(a, data, context) for a in node[2]]
    if name == "States.Format" and node[2][0][0] == "lit" and len(node[2][0]) == 3:
        args[0] = node[2][0][2]  # the template as written: its escaped braces stay literal
    try:
        return FUNCTIONS[name][0](*args)
    except StatesError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise StatesError(INTRINSIC_FAILURE, f"{name} failed: {exc}") from None


def _fail(message: str) -> StatesError:
    return StatesError(INTRINSIC_FAILURE, message)


def _want(value: Any, kind: type | tuple[type, ...], name: str, what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _fail(f"{name}: {what} must be {_kind_name(kind)}, not {json.dumps(value, default=str)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", list: "an array", dict: "an object", bool: "a boolean",
             float: "a number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _integer(value: Any, name: str, what: str) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return int(_want(value, int, name, what))


def _format(template: Any, *args: Any) -> str:
    template = _want(template, str, "States.Format", "the template")
    out, i, used = [], 0, 0
    while i < len(template):
        c = template[i]
        if c == "\\" and i + 1 < len(template):
            out.append(template[i + 1])
            i += 2
            continue
        if template.startswith("{}", i):
            if used >= len(args):
                raise _fail(f"States.Format: the template has more {{}} than the {len(args)} argument(s) given")
            value = args[used]
            if isinstance(value, (dict, list)):
                raise _fail("States.Format: arguments must be strings, numbers, booleans or null, not "
                            f"{json.dumps(value)}")
            out.append(value if isinstance(value, str) else json.dumps(value))
            used += 1
            i += 2
            continue
        out.append(c)
        i += 1
    if used != len(args):
        raise _fail(f"States.Format: {len(args)} argument(s) given for {used} {{}} in the template")
    return "".join(out)


def _string_to_json(text: Any) -> Any:
    return json.loads(_want(text, str, "States.StringToJson", "the argument"))


def _json_to_string(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _partition(array: Any, size: Any) -> list[Any]:
    array = _want(array, list, "States.ArrayPartition", "the first argument")
    size = _integer(size, "States.ArrayPartition", "the chunk size")
    if size < 1:
        raise _fail("States.ArrayPartition: the chunk size must be at least 1")
    return [array[i:i + size] for i in range(0, len(array), size)]


def _contains(array: Any, value: Any) -> bool:
    return value in _want(array, list, "States.ArrayContains", "the first argument")


def _range(start: Any, end: Any, step: Any) -> list[int]:
    start, end = _integer(start, "States.ArrayRange", "start"), _integer(end, "States.ArrayRange", "end")
    step = _integer(step, "States.ArrayRange", "step")
    if step == 0:
        raise _fail("States.ArrayRange: the step must not be 0")
    items = range(start, end + (1 if step > 0 else -1), step)
    if len(items) > _MAX_ITEMS:
        raise _fail(f"States.ArrayRange: {len(items)} items; at most {_MAX_ITEMS} may be made")
    return list(items)


def _get_item(array: Any, index: Any) -> Any:
    array = _want(array, list, "States.ArrayGetItem", "the first argument")
    index = _integer(index, "States.ArrayGetItem", "the index")
    if not 0 <= index < len(array):
        raise _fail(f"States.ArrayGetItem: index {index} is outside the array of {len(array)} item(s)")
    return array[index]


def _length(array: Any) -> int:
    return len(_want(array, list, "States.ArrayLength", "the argument"))


def _unique(array: Any) -> list[Any]:
    out: list[Any] = []
    for item in _want(array, list, "States.ArrayUnique", "the argument"):
        if item not in out:
            out.append(item)
    return out


def _b64encode(text: Any) -> str:
    text = _want(text, str, "States.Base64Encode", "the argument")
    if len(text) > _MAX_BASE64:
        raise _fail(f"States.Base64Encode: the input has {len(text)} characters; at most {_MAX_BASE64}")
    return base64.b64encode(text.encode()).decode()


def _b64decode(text: Any) -> str:
    text = _want(text, str, "States.Base64Decode", "the argument")
    if len(text) > _MAX_BASE64:
        raise _fail(f"States.Base64Decode: the input has {len(text)} characters; at most {_MAX_BASE64}")
    try:
        return base64.b64decode(text, validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(f"States.Base64Decode: {text[:50]!r} is not Base64 of UTF-8 text ({exc})") from None


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(data: Any, algorithm: Any) -> str:
    algorithm = _want(algorithm, str, "States.Hash", "the algorithm")
    if algorithm not in _HASHES:
        raise _fail(f"States.Hash: algorithm {algorithm!r} is not one of {', '.join(_HASHES)}")
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _merge(left: Any, right: Any, deep: Any) -> dict[str, Any]:
    left = _want(left, dict, "States.JsonMerge", "the first argument")
    right = _want(right, dict, "States.JsonMerge", "the second argument")
    if _want(deep, bool, "States.JsonMerge", "the third argument") is not False:
        raise _fail("States.JsonMerge: only the shallow merge is supported: the third argument must be false")
    return {**left, **right}


def _random(start: Any, end: Any, seed: Any = None) -> int:
    start, end = _integer(start, "States.MathRandom", "start"), _integer(end, "States.MathRandom", "end")
    if end <= start:
        raise _fail(f"States.MathRandom: end ({end}) must be greater than start ({start})")
    rng = random.Random(_integer(seed, "States.MathRandom", "the seed")) if seed is not None else random
    return rng.randrange(start, end)


def _add(a: Any, b: Any) -> int:
    return _integer(a, "States.MathAdd", "the first argument") + _integer(b, "States.MathAdd", "the second argument")


def _split(text: Any, delimiters: Any) -> list[str]:
    text = _want(text, str, "States.StringSplit", "the string")
    delimiters = _want(delimiters, str, "States.StringSplit", "the delimiters")
    if not delimiters:
        return [text] if text else []
    return [part for part in re.split("[" + re.escape(delimiters) + "]", text) if part]


def _uuid() -> str:
    return str(uuid.uuid4())


_MANY = 999
FUNCTIONS: dict[str, tuple[Callable[..., Any], tuple[int, int]]] = {
    "States.Format": (_format, (1, _MANY)),
    "States.StringToJson": (_string_to_json, (1, 1)),
    "States.JsonToString": (_json_to_string, (1, 1)),
    "States.Array": (lambda *items: list(items), (0, _MANY)),
    "States.ArrayPartition": (_partition, (2, 2)),
    "States.ArrayContains": (_contains, (2, 2)),
    "States.ArrayRange": (_range, (3, 3)),
    "States.ArrayGetItem": (_get_item, (2, 2)),
    "States.ArrayLength": (_length, (1, 1)),
    "States.ArrayUnique": (_unique, (1, 1)),
    "States.Base64Encode": (_b64encode, (1, 1)),
    "States.Base64Decode": (_b64decode, (1, 1)),
    "States.Hash": (_hash, (2, 2)),
    "States.JsonMerge": (_merge, (3, 3)),
    "States.MathRandom": (_random, (2, 3)),
    "States.MathAdd": (_add, (2, 2)),
    "States.StringSplit": (_split, (2, 2)),
    "States.UUID": (_uuid, (0, 0)),
}
