"""Size limits on a decoded JSON body (``DN_CDS_MAX_STRING_CHARS``, ``DN_CDS_MAX_ARRAY_ITEMS``)."""

from __future__ import annotations

from typing import Any

from cds_service.errors import LimitExceeded


def check_sizes(body: Any, max_chars: int, max_items: int) -> None:
    """Refuse a body with a string (value or key) longer than ``max_chars`` or an array (or object) with
    more than ``max_items`` members: such values cost memory and time in every later step, and no real
    hook call needs them. The error names the path of the first one found."""
    stack: list[Any] = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if len(item) > max_chars:
                _limit_error(body, max_chars, max_items)
        elif isinstance(item, dict):
            if len(item) > max_items or any(len(key) > max_chars for key in item):
                _limit_error(body, max_chars, max_items)
            stack.extend(item.values())
        elif isinstance(item, list):
            if len(item) > max_items:
                _limit_error(body, max_chars, max_items)
            stack.extend(item)


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
