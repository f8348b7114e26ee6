"""The fast body reader (orjson, duplicate keys found by counting colons) against the strict one
(``json.loads`` with hooks): on any text, whenever the fast reader answers, the strict reader gives the same
value, type for type; and the whole read (parse, limits, text check) gives the strict path's value or error.

Texts come from generated JSON written in several styles (compact, indented, ASCII-escaped, every character
escaped), from objects written with repeated keys (nested, and with keys holding quotes, backslashes and
colons, raw or escaped), from numbers at the edges of what orjson and a double hold, and from arbitrary text.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.errors import BadRequest
from cds_service.json_body import _UNDECIDED, read_body, read_fast, read_strict
from cds_service.limits import MAX_JSON_DEPTH, check_sizes, check_text

PROPERTY = settings(
    max_examples=400,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow],
)
MAX_CHARS, MAX_ITEMS = 40, 6  # small limits, so generated bodies cross them

# Characters that matter to the colon count and to string scanning, plus some of everything else.
tricky_text = st.lists(
    st.sampled_from(['"', "\\", ":", "\\:", '":', "{", "}", "[", "]", ",", "u003a", "é", "\U0001f600", "\n"])
    | st.characters(exclude_categories=("Cs",)),
    max_size=8,
).map("".join)
any_text = st.text(st.characters(exclude_categories=()), max_size=10)  # lone surrogates and NUL too
numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**18, -(10**18), 0])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([-0.0, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, 1e19, 0.1])
)


def pairs_objects(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An object as a list of (key, value) pairs, keys possibly repeated (written as such)."""
    keys = st.sampled_from(["a", "b", 'q"', "\\", ":", 'x":"y']) | tricky_text
    return st.lists(st.tuples(keys, children), max_size=5).map(Pairs)


class Pairs(list[tuple[str, Any]]):
    """An object to be written member by member (a repeated key stays repeated)."""


values = st.recursive(
    st.none() | st.booleans() | numbers | tricky_text | any_text,
    lambda children: st.lists(children, max_size=5) | pairs_objects(children),
    max_leaves=30,
)


def write(value: Any, style: str) -> str:
    """``value`` as JSON text in ``style``: compact, spaced, ascii (\\u escapes), escaped (every string
    character escaped, so a ``:`` may be written ``\\u003a``)."""
    if isinstance(value, Pairs):
        sep = ", " if style == "spaced" else ","
        colon = " : " if style == "spaced" else ":"
        return "{" + sep.join(write(key, style) + colon + write(item, style) for key, item in value) + "}"
    if isinstance(value, list):
        return "[" + (", " if style == "spaced" else ",").join(write(item, style) for item in value) + "]"
    if isinstance(value, str) and style == "escaped":
        return '"' + "".join(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else char for char in value) + '"'
    return json.dumps(value, ensure_ascii=style == "ascii")


styles = st.sampled_from(["compact", "spaced", "ascii", "escaped"])


def same(left: Any, right: Any) -> bool:
    """Equal and of the same types all the way down (1 is not 1.0, -0.0 is not 0.0, key order counts)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float):
        return left == right and math.copysign(1, left) == math.copysign(1, right)
    return bool(left == right)


def strict_outcome(text: str) -> tuple[str, Any]:
    """The reference: the strict reader, then the limits and the text check on its value."""
    try:
        body = read_strict(text)
        check_sizes(body, MAX_CHARS, MAX_ITEMS, max_depth=MAX_JSON_DEPTH)
        check_text(body, text)
    except BadRequest as error:
        return "error", (type(error), str(error), error.status)
    return "value", body


def outcome(text: str) -> tuple[str, Any]:
    try:
        return "value", read_body(text, MAX_CHARS, MAX_ITEMS)
    except BadRequest as error:
        return "error", (type(error), str(error), error.status)


def check_agreement(text: str) -> None:
    fast = read_fast(text)
    if fast is not _UNDECIDED:
        assert same(fast, read_strict(text))  # the fast reader never answers what the strict one would not
    expected, got = strict_outcome(text), outcome(text)
    assert got[0] == expected[0]
    assert same(got[1], expected[1]) if got[0] == "value" else got[1] == expected[1]


@PROPERTY
@given(value=values, style=styles)
def test_fast_reader_agrees_with_strict_reader_on_generated_json(value: Any, style: str) -> None:
    check_agreement(write(value, style))


@PROPERTY
@given(value=values, style=styles, repeated=tricky_text, inner=st.booleans())
def test_a_repeated_key_is_never_accepted_by_the_fast_reader(
    value: Any, style: str, repeated: str, inner: bool
) -> None:
    """An object naming a key twice (at the top, or nested in an array in an object), whatever the key
    holds: the fast reader leaves it to the strict one, which refuses it naming the key."""
    duplicated = Pairs([(repeated, value), ("other", 1), (repeated, "x")])
    body = Pairs([("outer", [0, duplicated])]) if inner else duplicated
    text = write(body, style)
    assert read_fast(text) is _UNDECIDED
    with pytest.raises(BadRequest, match="duplicate key"):
        read_body(text, 10**6, 10**6)
    check_agreement(text)


@PROPERTY
@given(text=st.text(max_size=60) | st.sampled_from(['{"a":1,"a":1}', "[NaN]", "-", "1e400", '"\\ud800"']))
def test_fast_reader_agrees_with_strict_reader_on_arbitrary_text(text: str) -> None:
    check_agreement(text)


@pytest.mark.parametrize(
    "text",
    [
        "18446744073709551615",  # 2**64 - 1: an int for both
        "18446744073709551616",  # 2**64: orjson would say 1.8446744073709552e19
        "-9223372036854775809",  # below -2**63: the same
        "[1e400]",  # orjson refuses; the strict reader says why
        "1e-400",  # 0.0 for both
        '{"a": "x:y", "b\\u003a": 1}',  # a colon written as an escape
        '{"k\\"": 1, "k\\"": 2}',  # a key with an escaped quote, twice
        '{"k\\\\": 1, "k\\\\": 2}',  # a key ending in a backslash, twice
        '{"a": {"b": 1, "b": 1}}',  # nested, same value twice
        '{"a": "\\u0000"}',  # NUL: parsed alike, then refused by the text check
        '["\\ud800"]',  # lone surrogate: orjson refuses; strict reader parses, text check refuses
        "[" * 300 + "]" * 300,  # deeper than orjson writes: the strict reader and the depth limit decide
        "[" * 101 + "]" * 101,  # one level past the depth limit
        '{"a": 1, "a": ' + "[" * 300 + "]" * 300 + "}",  # a duplicate and too deep: the duplicate is named
        '"' + "x" * (MAX_CHARS + 1) + '"',  # a long string
        "[" + ",".join(["1"] * (MAX_ITEMS + 1)) + "]",  # a long array
        "",
        "\ufeff{}",  # a second byte order mark (the route removes one)
    ],
)
def test_fast_reader_agrees_with_strict_reader_on_edge_cases(text: str) -> None:
    check_agreement(text)


def nested(depth: int, shape: str) -> str:
    """A value nesting ``depth`` containers: arrays, objects, or alternating; the innermost empty, or
    holding a scalar, or a string with escaped newlines and spaces (text that must not look like depth)."""
    opens = {"array": ["["], "object": ['{"k": '], "mixed": ["[", '{"k": ']}[shape]
    closes = {"[": "]", '{"k": ': "}"}
    levels = [opens[level % len(opens)] for level in range(depth)]
    innermost = {"array": "[]", "object": "{}", "mixed": "[]"}[shape] if depth else "1"
    body = "".join(levels[:-1]) + innermost + "".join(closes[o] for o in reversed(levels[:-1]))
    return body if depth else '"' + "\\n" + " " * 250 + '"'


@pytest.mark.parametrize("shape", ["array", "object", "mixed"])
@pytest.mark.parametrize("depth", [0, 1, 2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 120])
def test_the_depth_limit_is_exact_on_the_fast_path(depth: int, shape: str) -> None:
    """The fast path rules out deep nesting from its indented dump instead of walking the value: exactly
    :data:`MAX_JSON_DEPTH` levels are accepted, one more is refused, as by the strict path."""
    text = nested(depth, shape)
    assert read_fast(text) is not _UNDECIDED
    check_agreement(text)
    if depth > MAX_JSON_DEPTH:
        with pytest.raises(BadRequest, match=f"nested more than {MAX_JSON_DEPTH} levels deep"):
            read_body(text, 10**6, 10**6)
    else:
        assert read_body(text, 10**6, 10**6) == json.loads(text)


def test_escaped_newlines_and_spaces_in_strings_are_not_depth() -> None:
    text = json.dumps({"note": "a\n" + " " * 400 + "b", "deep": [[["x\n" + " " * 300]]]})
    assert read_body(text, 10**6, 10**6) == json.loads(text)


def test_fast_reader_answers_the_common_case() -> None:
    """A hook-call-like body goes through orjson (else the fast path would be dead code)."""
    text = json.dumps({"hook": "order-select", "context": {"userId": "Practitioner/1", "note": 'a "b": c'}})
    assert read_fast(text) == json.loads(text)
