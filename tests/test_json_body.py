"""The one-pass body reader (orjson, then one walk for depth and sizes) says what the json-based one said."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cds_service.errors import BadRequest, LimitExceeded
from cds_service.json_body import parse_json_body
from cds_service.limits import MAX_JSON_DEPTH


def test_a_valid_body_decodes_to_the_same_value_as_json() -> None:
    raw = json.dumps({"a": [1, 2.5, -0.0, None, True, "é\u2028", {"b": 12345678901234567890}]}).encode()

    assert parse_json_body(raw, 1024, 10) == json.loads(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": 1,}', "The request body is not valid JSON at position 8."),
        (b'{"a": NaN}', "NaN, Infinity and out-of-range numbers are not allowed"),
        (b'{"a": 1e999}', "NaN, Infinity and out-of-range numbers are not allowed"),
        (b'{"a": ' + b"9" * 5000 + b"}", "The request body is not valid JSON."),
        (b'{"a": "\xff"}', "The request body is not valid JSON."),
        (b"[" * 5000 + b"]" * 5000, "The request body is nested too deeply."),
    ],
    ids=["trailing-comma", "nan", "overflow", "5000-digits", "not-utf8", "5000-deep"],
)
def test_refusals_keep_the_json_messages(raw: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as error:
        parse_json_body(raw, 1024, 10)

    assert message in str(error.value)


def test_a_lone_surrogate_escape_is_accepted_as_json_accepts_it() -> None:
    assert parse_json_body(b'{"a": "\\ud800"}', 1024, 10) == {"a": "\ud800"}


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth - 1):
        value = {"a": value}
    return [value]


def test_depth_limit_counts_containers() -> None:
    parse_json_body(json.dumps(nested(MAX_JSON_DEPTH)).encode(), 1024, 10)
    with pytest.raises(BadRequest) as error:
        parse_json_body(json.dumps(nested(MAX_JSON_DEPTH + 1)).encode(), 1024, 10)

    assert f"nested more than {MAX_JSON_DEPTH} levels deep" in str(error.value)


def test_too_deep_wins_over_too_big() -> None:
    body = {"big": "x" * 2000, "deep": nested(MAX_JSON_DEPTH + 5)}

    with pytest.raises(BadRequest, match="nested"):
        parse_json_body(json.dumps(body).encode(), 1024, 10)


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        ({"a": ["x" * 1025]}, "a[0]"),
        ({"a": {"b": list(range(11))}}, "a.b"),
        ({"a": {str(i): i for i in range(11)}}, "a"),
        ({"a": [1], "b": "x" * 1024}, None),
    ],
    ids=["long-string", "long-array", "wide-object", "at-the-limits"],
)
def test_size_limits_at_and_past_the_edge(body: Any, expression: str | None) -> None:
    raw = json.dumps(body).encode()
    if expression is None:
        assert parse_json_body(raw, 1024, 11) == body
        return
    with pytest.raises(LimitExceeded) as error:
        parse_json_body(raw, 1024, 10)
    assert error.value.expression == expression


def test_escapes_count_as_one_character() -> None:
    """``\\u0041`` is 6 bytes and 1 character: the raw-size shortcut must not refuse (or pass) on bytes."""
    text = "\\u0041" * 1000  # 6000 bytes, 1000 characters
    assert parse_json_body(f'{{"a": "{text}"}}'.encode(), 1024, 10) == {"a": "A" * 1000}
    with pytest.raises(LimitExceeded):
        parse_json_body(f'{{"a": "{text}A"}}'.encode(), 999, 10)
