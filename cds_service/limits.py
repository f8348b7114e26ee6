"""Size and depth limits on a decoded JSON body (``DN_CDS_MAX_STRING_CHARS``, ``DN_CDS_MAX_ARRAY_ITEMS``,
:data:`MAX_JSON_DEPTH`), and text no string in it may hold (NUL, lone surrogates)."""

from __future__ import annotations

import re
from typing import Any

from cds_service.errors import BadRequest, LimitExceeded

MAX_JSON_DEPTH = 100  # FHIR resources in a hook call nest about 20 deep; far more is hostile or broken


def check_sizes(
    body: Any,
    max_chars: int,
    max_items: int,
    *,
    max_depth: int | None = None,
    strings: bool = True,
    counts: bool = True,
) -> None:
    """Refuse a body with a string (value or key) longer than ``max_chars`` or an array (or object) with
    more than ``max_items`` members: such values cost memory and time in every later step, and no real
    hook call needs them. The error names the path of the first one found.

    One walk, level by level, over the containers only. With ``max_depth`` it also refuses (first, as a
    400 saying "nested") a body nesting objects and arrays deeper than that. ``strings=False`` or
    ``counts=False`` skip checks the caller has already ruled out from the raw bytes."""
    oversized = isinstance(body, str) and strings and len(body) > max_chars
    level: list[Any] = [body] if type(body) is dict or type(body) is list else []
    depth = 0
    while level:
        depth += 1
        if max_depth is not None and depth > max_depth:
            raise BadRequest(f"The request body is nested more than {max_depth} levels deep.")
        below: list[Any] = []
        for item in level:
            values: Any = item.values() if type(item) is dict else item
            if not oversized:
                if counts and len(item) > max_items:
                    oversized = True
                elif strings and type(item) is dict and item and max(map(len, item)) > max_chars:
                    oversized = True
            for value in values:
                kind = type(value)
                if kind is dict or kind is list:
                    below.append(value)
                elif kind is str and strings and not oversized and len(value) > max_chars:
                    oversized = True
        level = below
    if oversized:
        _limit_error(body, max_chars, max_items)


def _limit_error(body: Any, max_chars: int, max_items: int) -> None:
    """Find (again, now tracking paths: only on the error path) the first oversized value and raise."""
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        item, path = stack.pop()
        where = path.lstrip(".") or "(the body)"
        if isinstance(item, str) and len(item) > max_chars:
            raise LimitExceeded(
                f"{where} is longer than {max_chars} characters.", expression=path.lstrip(".") or None
            )
        if isinstance(item, dict):
            if len(item) > max_items:
                raise LimitExceeded(
                    f"{where} has more than {max_items} members.", expression=path.lstrip(".") or None
                )
            for key in item:
                if len(key) > max_chars:
                    raise LimitExceeded(f"A key in {where} is longer than {max_chars} characters.")
            stack.extend((value, f"{path}.{key}") for key, value in item.items())
        elif isinstance(item, list):
            if len(item) > max_items:
                raise LimitExceeded(
                    f"{where} has more than {max_items} items.", expression=path.lstrip(".") or None
                )
            stack.extend((value, f"{path}[{index}]") for index, value in enumerate(item))
    raise LimitExceeded("The request body is larger than the service accepts.")  # not reached


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


# In JSON text a NUL can only be written \u0000 and a lone surrogate only as a \uD800-\uDFFF escape (raw
# control characters are invalid JSON, and UTF-8 cannot encode a surrogate): a text without such an escape
# needs no walk. A surrogate pair or an escaped backslash may match too; the walk then finds nothing.
_ESCAPES = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def check_text(body: Any, text: str | None = None) -> None:
    """Refuse a body with a NUL character or a lone surrogate (JSON ``"\\ud800"``) in any string, value or
    key: neither is valid FHIR or storable text (UTF-8 cannot encode a lone surrogate; PostgreSQL refuses
    NUL), so either would otherwise fail deep inside evaluation or the store (a 500, or a 503 an EHR retries
    for ever). The error names the first such field. ``text``, the JSON text ``body`` was parsed from, lets
    the common case (no such escape in it) skip the walk."""
    if text is not None and not _ESCAPES.search(text):
        return
    search = _UNSTORABLE.search
    stack: list[Any] = [body]
    while stack:  # the common case: nothing found, no paths built
        item = stack.pop()
        if isinstance(item, str):
            if search(item):
                _find_text_error(body)
        elif isinstance(item, dict):
            if any(search(key) for key in item):
                _find_text_error(body)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _find_text_error(body: Any) -> None:
    """Find (again, now tracking paths: only on the error path) the first NUL or lone surrogate and raise."""
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                _text_error(path)
        elif isinstance(item, dict):
            for key, value in item.items():
                if _UNSTORABLE.search(key):
                    _text_error(path, key_of=True)
                stack.append((value, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((value, f"{path}[{index}]") for index, value in enumerate(item))


def _text_error(path: str, *, key_of: bool = False) -> None:
    where = path.lstrip(".") or "(the body)"
    subject = f"A key in {where}" if key_of else where
    raise BadRequest(
        f"{subject} contains a NUL character or a lone surrogate (invalid text).",
        expression=path.lstrip(".") or None,
    )
