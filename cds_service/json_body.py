"""A request body as strict JSON within the service's limits, in one parse and one walk.

``orjson`` parses strict RFC 8259 JSON (NaN, Infinity and numbers out of double range are refused) about ten
times faster than ``json``; one walk over the containers then checks the nesting depth and the size limits
together (``DN_CDS_MAX_STRING_CHARS``, ``DN_CDS_MAX_ARRAY_ITEMS``). Checks that the raw bytes already decide
are skipped: no string can be longer than the body, and no array or object can have more members than the
body has commas plus one.

Errors: only when ``orjson`` refuses the body is it parsed again with ``json`` (slow, error path only), so a
400 says exactly what it said before (position, NaN/Infinity, nesting); and a body that ``json`` accepts and
``orjson`` does not (a lone UTF-16 surrogate escape, ``"\\ud800"``) is accepted as before. One difference
remains: an integer beyond 64 bits becomes a float (as every other JSON number above 2**53 loses precision
in a double); no FHIR value the rules read is one.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from cds_service.errors import BadRequest
from cds_service.limits import MAX_JSON_DEPTH, check_sizes


def parse_json_body(raw: bytes, max_chars: int, max_items: int) -> Any:
    """The decoded body, or :class:`BadRequest` / :class:`LimitExceeded` saying why not."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = _parse_slowly(raw)  # raises with the exact reason, or accepts what json accepts
    check_sizes(
        body,
        max_chars,
        max_items,
        max_depth=MAX_JSON_DEPTH,
        strings=len(raw) > max_chars,  # a string of N characters takes at least N bytes
        counts=raw.count(b",") >= max_items,  # N + 1 members need N commas
    )
    return body


class _NotStrictJson(ValueError):
    """NaN, Infinity or a number out of range: Python's json accepts them, RFC 8259 does not."""


def _reject_constant(name: str) -> Any:
    raise _NotStrictJson(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrictJson(text)
    return value


def _parse_slowly(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise BadRequest(f"The request body is not valid JSON at position {error.pos}.") from None
    except _NotStrictJson:
        raise BadRequest(
            "The request body is not valid JSON: NaN, Infinity and out-of-range numbers are not allowed."
        ) from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.") from None
    except ValueError:  # not UTF-8, or an integer with more digits than Python converts
        raise BadRequest("The request body is not valid JSON.") from None
