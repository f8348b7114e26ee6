"""A request body's JSON text to a Python value: strict JSON (RFC 8259), no duplicate keys, within the size
and depth limits (:mod:`cds_service.limits`), or :class:`BadRequest` / :class:`LimitExceeded` saying why not.

Two readers give the same value for every text the fast one accepts:

- :func:`read_strict`, the reference: ``json.loads`` with hooks refusing duplicate keys, NaN, Infinity and
  out-of-range numbers; every refusal has its own message.
- :func:`read_fast`, the common case: ``orjson.loads`` (C, about 3x faster than the hooked ``json.loads``),
  or ``None`` whenever it cannot vouch for the result, and then the strict reader decides (so every error,
  and every acceptance, is exactly the strict reader's). It gives up when orjson refuses the text (invalid
  JSON, NaN/Infinity, a number overflowing a double, a lone surrogate escape, nesting beyond 1024), when a
  run of 19 or more digits could be an integer orjson would turn into a float (outside -2**63..2**64-1),
  when an escape could decode to ``:`` (``\\u003a``), and when an object names a key twice.

Duplicate keys without a Python hook: orjson keeps the last of a repeated key. Every ``:`` in JSON text is
either a member's separator or a character of a string; so the text's count of ``:`` is (members written) +
(colons inside strings). ``orjson.dumps`` of the parsed value writes every kept member with one ``:`` and
escapes no ``:`` in a string, so its count is (members kept) + (colons in the kept strings). Without
duplicates every member and string is kept and the counts are equal; with one, a member (and whatever
colons its key and value held) is gone, and the dump's count is smaller. A ``\\u003a`` escape (a colon
that is not a ``:`` character in the text) would break the equality: such a text goes to the strict reader.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from cds_service.errors import BadRequest
from cds_service.limits import MAX_JSON_DEPTH, check_sizes, check_text

# orjson turns an integer outside -2**63..2**64-1 (19 digits or more) into a float; json keeps an int.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19


def read_body(text: str, max_chars: int, max_items: int, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``text`` (a request body, already decoded from UTF-8 without its byte order mark) as a Python value,
    checked against the limits; :class:`BadRequest` (or :class:`LimitExceeded`) with the reason if not."""
    body, within_depth = _read_fast(text, max_depth)
    if body is _UNDECIDED:
        body = read_strict(text)
        check_sizes(body, max_chars, max_items, max_depth=max_depth)
    else:
        # A decoded string is never longer than its JSON text, nor an array or object longer than the
        # text's commas + 1, and the fast reader may already have ruled out deep nesting: the walk checks
        # only what the raw text cannot rule out, and is skipped when nothing is left.
        strings, counts = len(text) > max_chars, text.count(",") >= max_items
        if strings or counts or not within_depth:
            check_sizes(body, max_chars, max_items, max_depth=max_depth, strings=strings, counts=counts)
    check_text(body, text)
    return body


class _Undecided:
    """The fast reader's "ask the strict reader" (``None`` is a JSON value)."""


_UNDECIDED: Any = _Undecided()


def read_fast(text: str) -> Any:
    """``text`` parsed by orjson when the result is certainly the strict reader's, else :data:`_UNDECIDED`."""
    return _read_fast(text, MAX_JSON_DEPTH)[0]


def _read_fast(text: str, max_depth: int) -> tuple[Any, bool]:
    """:func:`read_fast`, and whether the value is certainly nested at most ``max_depth`` levels deep.

    The dump that finds duplicate keys is indented (two spaces a level; a string's newlines are written
    ``\\n``), so a line starting with ``2 * max_depth`` spaces exists exactly when a container at level
    ``max_depth`` (the body is level 1) has members: without one, nothing is nested below that level."""
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _UNDECIDED, False
    raw = text.encode("utf-8")  # ASCII text (the usual case): one copy, no encoding work
    if _LONG_DIGIT_RUN in raw.translate(_DIGITS_AS_ZERO):
        return _UNDECIDED, False
    if b"\\u003a" in raw or b"\\u003A" in raw:
        return _UNDECIDED, False
    try:
        dumped = orjson.dumps(body, option=orjson.OPT_INDENT_2)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (255): the strict reader decides
        return _UNDECIDED, False
    if raw.count(b":") != dumped.count(b":"):  # a key named twice in one object (module docstring)
        return _UNDECIDED, False
    return body, b"\n" + b" " * (2 * max_depth) not in dumped


class _DuplicateKey(ValueError):
    """An object names a key twice: RFC 8259 leaves the meaning open, so a CDS service refuses it."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key[:64]


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return found


class _NotStrictJson(ValueError):
    """NaN, Infinity or a number out of range: Python's json accepts them, RFC 8259 does not."""


def _reject_constant(name: str) -> Any:
    raise _NotStrictJson(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrictJson(text)
    return value


def read_strict(text: str) -> Any:
    """``text`` as strict JSON (RFC 8259) without duplicate keys, or a :class:`BadRequest` saying why not."""
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_object_without_duplicates,
        )
    except _DuplicateKey as error:
        raise BadRequest(
            f"The request body has a duplicate key {error.key!r} in one object; each key may appear once."
        ) from None
    except json.JSONDecodeError as error:
        raise BadRequest(f"The request body is not valid JSON at position {error.pos}.") from None
    except _NotStrictJson:
        raise BadRequest(
            "The request body is not valid JSON: NaN, Infinity and out-of-range numbers are not allowed."
        ) from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.") from None
    except ValueError:  # an integer with more digits than Python converts
        raise BadRequest("The request body is not valid JSON.") from None
