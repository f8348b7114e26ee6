"""CDS Hooks 2.0 conformance checker for every payload the test suite sees.

The suite passes every response the service produces through one of the ``assert_*`` helpers
here. Each ``check_*`` function returns a list of violations, each formatted as::

    "<json path>: <rule id> <message>"
    e.g. "cards[0].summary: R1 summary must be < 140 characters (got 151)"

The rule ids are the ones in the design checklist (shared/design/cds-hooks-conformance.md):
C1, R1-R15, D2-D8, P1-P3, F2, C5. The ids of the HL7 FHIRPath invariants (cds-resp-1..7,
cds-fb-1..3) are used too. Ids we added ourselves: ``J1`` (the value is not strict JSON) and
``EXT`` (an unknown field; CDS Hooks puts non-standard data under ``extension``).

Card responses and feedback bodies are checked by two independent layers:

1. hand-written structural checks (types, cardinalities, value sets, URLs, D8 empties);
2. the spec's FHIRPath invariants, evaluated by ``fhirpathpy`` on the raw JSON and reported as
   ``"<path>: cds-resp-N (FHIRPath) ..."``. As in the HL7 Java validator, a result other than
   ``[true]`` (false, empty or an evaluation error) counts as a failure.

So one broken invariant usually gives two violations, one from each layer, and a bug in one
layer cannot hide a violation on its own.

``str``/``bytes`` bodies are parsed as JSON text first. The parse is strict: duplicate keys and
NaN/Infinity are reported as ``J1``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from fhirpathpy import compile as fhirpath_compile

__all__ = [
    "assert_cards_response",
    "assert_discovery",
    "assert_feedback_request",
    "assert_operation_outcome",
    "check_cards_response",
    "check_discovery",
    "check_feedback_request",
    "check_operation_outcome",
]

# --------------------------------------------------------------------------- value sets

INDICATORS: Final = ("info", "warning", "critical")
ACTION_TYPES: Final = ("create", "update", "delete")
SELECTION_BEHAVIORS: Final = ("at-most-one", "any")
ACTION_SELECTION_BEHAVIORS: Final = ("all", "any", "at-most-one")  # 3.0-ballot STU (R10, cds-resp-7)
LINK_TYPES: Final = ("absolute", "smart")
USER_TOKENS: Final = ("userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId")
FEEDBACK_OUTCOMES: Final = ("accepted", "overridden")
ISSUE_SEVERITIES: Final = ("fatal", "error", "warning", "information")
# FHIR R4 IssueType (http://hl7.org/fhir/issue-type)
ISSUE_TYPES: Final = frozenset(
    {
        "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
        "expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate",
        "multiple-matches", "not-found", "deleted", "too-long", "code-invalid", "extension",
        "too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store",
        "exception", "timeout", "incomplete", "throttled", "informational",
    }
)  # fmt: skip
# Context fields marked "Prefetch Token: Yes" in CDS Hooks Library 1.0.1 (design doc section 4).
# For a hook that is not listed here, any root-level field name is accepted.
HOOK_PREFETCH_TOKEN_FIELDS: Final[dict[str, frozenset[str]]] = {
    hook: frozenset({"userId", "patientId", "encounterId"})
    for hook in ("patient-view", "order-select", "order-sign", "appointment-book", "encounter-start")
}

SUMMARY_MAX_EXCLUSIVE: Final = 140

# Known members of each object (R3-R13, D3, F2). Every object may also carry `extension`.
_RESPONSE_KEYS: Final = frozenset({"cards", "systemActions", "extension"})
_CARD_KEYS: Final = frozenset(
    {
        "uuid", "summary", "detail", "indicator", "source", "suggestions", "selectionBehavior",
        "overrideReasons", "links", "extension",
    }
)  # fmt: skip
_SOURCE_KEYS: Final = frozenset({"label", "url", "icon", "topic", "extension"})
_SUGGESTION_KEYS: Final = frozenset(
    {"label", "uuid", "isRecommended", "actions", "actionSelectionBehavior", "extension"}
)
_ACTION_KEYS: Final = frozenset({"type", "description", "resource", "resourceId", "extension"})
_LINK_KEYS: Final = frozenset({"label", "url", "type", "appContext", "autolaunchable", "extension"})
_DISCOVERY_KEYS: Final = frozenset({"services", "extension"})
_SERVICE_KEYS: Final = frozenset(
    {
        "id",
        "hook",
        "title",
        "description",
        "prefetch",
        "usageRequirements",
        "extension",
        "version",
        "hookVersion",
    }
)
_FEEDBACK_BODY_KEYS: Final = frozenset({"feedback", "extension"})
_FEEDBACK_KEYS: Final = frozenset(
    {"card", "outcome", "acceptedSuggestions", "overrideReason", "outcomeTimestamp", "extension"}
)
_OVERRIDE_REASON_KEYS: Final = frozenset({"reason", "userComment", "extension"})
_ACCEPTED_SUGGESTION_KEYS: Final = frozenset({"id", "extension"})

_RELATIVE_REFERENCE: Final = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")
_TOKEN: Final = re.compile(r"\{\{([^{}]*)\}\}")
_CONTEXT_FIELD: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_URL_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?P<offset>[Zz]|[+\-]\d{2}:\d{2})"
)
_SERVICE_ID_UNSAFE: Final = re.compile(r"[\s/?#%]")

# --------------------------------------------------------------------------- FHIRPath invariants
# HL7/cds-hooks main input/fsh/invariants, as listed in the design doc. cds-resp-7 is written from
# its description ("actionSelectionBehavior is empty or one of all, any, at-most-one").
# cds-resp-1 deviates from the spec text in one place: `where(isRecommended)` is written
# `where(isRecommended = true)`. The two mean the same in FHIRPath, but fhirpathpy 2.2.4 keeps an item
# whose isRecommended is false (where() tests the truthiness of the ResourceNode wrapper, not of
# its value), so the spec text would reject a valid card with one true and one false suggestion.
CARD_INVARIANTS: Final = (
    (
        "cds-resp-1",
        "(selectionBehavior='at-most-one') implies suggestions.where(isRecommended = true).count() <= 1",
    ),
    ("cds-resp-6", "suggestions.exists() implies selectionBehavior.exists()"),
)
SUGGESTION_INVARIANTS: Final = (
    ("cds-resp-5", "actions.all(description.exists())"),
    (
        "cds-resp-7",
        "actionSelectionBehavior.empty() or actionSelectionBehavior in ('all' | 'any' | 'at-most-one')",
    ),
)
ACTION_INVARIANTS: Final = (
    ("cds-resp-2", "type='delete' implies (resourceId.exists() and resource.empty())"),
)
LINK_INVARIANTS: Final = (("cds-resp-3", "type!='smart' implies appContext.empty()"),)
OVERRIDE_REASON_INVARIANTS: Final = (("cds-resp-4", "all(display.exists())"),)
FEEDBACK_INVARIANTS: Final = (
    ("cds-fb-1", "outcome = 'accepted' or outcome = 'overridden'"),
    ("cds-fb-2", "outcome='accepted' implies acceptedSuggestions.exists()"),
)
FEEDBACK_OVERRIDE_REASON_INVARIANTS: Final = (("cds-fb-3", "reason.exists() or userComment.exists()"),)

_Invariant = tuple[str, str, Callable[..., list[Any]]]


def _compile_all(invariants: Iterable[tuple[str, str]]) -> tuple[_Invariant, ...]:
    return tuple((rule, expr, fhirpath_compile(expr)) for rule, expr in invariants)


_CARD_FP: Final = _compile_all(CARD_INVARIANTS)
_SUGGESTION_FP: Final = _compile_all(SUGGESTION_INVARIANTS)
_ACTION_FP: Final = _compile_all(ACTION_INVARIANTS)
_LINK_FP: Final = _compile_all(LINK_INVARIANTS)
_OVERRIDE_REASON_FP: Final = _compile_all(OVERRIDE_REASON_INVARIANTS)
_FEEDBACK_FP: Final = _compile_all(FEEDBACK_INVARIANTS)
_FEEDBACK_OVERRIDE_REASON_FP: Final = _compile_all(FEEDBACK_OVERRIDE_REASON_INVARIANTS)


# --------------------------------------------------------------------------- plumbing


class _Report:
    """Collects violations as ``"<path>: <rule> <message>"`` strings."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, rule: str, message: str) -> None:
        self.items.append(f"{path or '$'}: {rule} {message}")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _IDENTIFIER.fullmatch(key):
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def _jtype(value: Any) -> str:
    """The JSON type name of a Python value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_of(values: Iterable[str]) -> str:
    return "|".join(values)


def _parse_json_text(body: Any, report: _Report) -> tuple[bool, Any]:
    """Parse ``str``/``bytes`` bodies strictly. Returns (ok, parsed body)."""
    if not isinstance(body, str | bytes | bytearray):
        return True, body
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            report.add("", "J1", f"body is not UTF-8: {exc}")
            return False, None
    duplicates: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                duplicates.append(key)
            obj[key] = value
        return obj

    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        parsed = json.loads(body, object_pairs_hook=pairs_hook, parse_constant=reject_constant)
    except ValueError as exc:
        report.add("", "J1", f"body is not valid JSON: {exc}")
        return False, None
    for key in duplicates:
        report.add("", "J1", f"duplicate object key {_show(key)} in JSON text")
    return True, parsed


def _check_json_values(value: Any, path: str, report: _Report, allow_empty: frozenset[str]) -> None:
    """D8/R15: no null, "", [] or {} anywhere (except at `allow_empty` paths); J1: only JSON types."""
    if value is None:
        report.add(path, "D8", "null is not allowed; omit a field that has no value (R15)")
    elif isinstance(value, bool | int):
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            report.add(path, "J1", f"{value} is not a JSON number")
    elif isinstance(value, str):
        if value == "":
            report.add(path, "D8", 'empty string "" is not allowed; omit a field that has no value (R15)')
    elif isinstance(value, dict):
        if not value and path not in allow_empty:
            report.add(path, "D8", "empty object {} is not allowed; omit a field that has no value (R15)")
        for key, item in value.items():
            if not isinstance(key, str):
                report.add(path, "J1", f"object key {key!r} is not a string")
                continue
            _check_json_values(item, _join(path, key), report, allow_empty)
    elif isinstance(value, list):
        if not value and path not in allow_empty:
            report.add(path, "D8", "empty array [] is not allowed; omit a field that has no value (R15)")
        for index, item in enumerate(value):
            _check_json_values(item, _join(path, index), report, allow_empty)
    else:
        report.add(path, "J1", f"{type(value).__name__} is not a JSON value")


def _check_unknown_keys(obj: dict[str, Any], allowed: frozenset[str], path: str, report: _Report) -> None:
    for key in obj:
        if isinstance(key, str) and key not in allowed:
            report.add(
                _join(path, key),
                "EXT",
                f"unknown field {_show(key)} (non-standard data belongs under 'extension')",
            )


def _present(obj: dict[str, Any], key: str) -> bool:
    """True when `key` holds a value. A null is reported by the D8 walk, so it counts as absent here."""
    return obj.get(key) is not None


def _require_str(
    obj: dict[str, Any], key: str, path: str, rule: str, report: _Report, what: str = ""
) -> bool:
    """Report a missing or non-string required field; True when it is a string."""
    name = what or key
    if key not in obj or obj[key] is None:
        report.add(_join(path, key), rule, f"{name} is required")
        return False
    if not isinstance(obj[key], str):
        report.add(_join(path, key), rule, f"{name} must be a string (got {_jtype(obj[key])})")
        return False
    return True


def _optional_str(obj: dict[str, Any], key: str, path: str, rule: str, report: _Report) -> bool:
    """True when the optional `key` is a string; reports a present non-string."""
    if not _present(obj, key):
        return False
    if not isinstance(obj[key], str):
        report.add(_join(path, key), rule, f"{key} must be a string if present (got {_jtype(obj[key])})")
        return False
    return True


def _optional_bool(obj: dict[str, Any], key: str, path: str, rule: str, report: _Report) -> None:
    if _present(obj, key) and not isinstance(obj[key], bool):
        report.add(_join(path, key), rule, f"{key} must be a boolean if present (got {_jtype(obj[key])})")


def _optional_list(obj: dict[str, Any], key: str, path: str, rule: str, report: _Report) -> list[Any]:
    """The optional array `key` (empty if absent or wrong type; the wrong type is reported)."""
    if not _present(obj, key):
        return []
    value = obj[key]
    if not isinstance(value, list):
        report.add(_join(path, key), rule, f"{key} must be an array if present (got {_jtype(value)})")
        return []
    return value


def _check_extension(obj: dict[str, Any], path: str, report: _Report) -> None:
    if not _present(obj, "extension"):
        return
    extension = obj["extension"]
    if not isinstance(extension, dict):
        report.add(_join(path, "extension"), "EXT", f"extension must be an object (got {_jtype(extension)})")
    elif "systemActions" in extension:
        report.add(
            _join(_join(path, "extension"), "systemActions"),
            "R13",
            "systemActions belongs at the top level of the response, not under extension (pre-2.0 form)",
        )


def _check_absolute_url(value: Any, path: str, rule: str, report: _Report, what: str) -> None:
    if not isinstance(value, str):
        report.add(path, rule, f"{what} must be a string URL (got {_jtype(value)})")
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        report.add(path, rule, f"{what} must be an absolute http(s) URL (got {_show(value)})")


def _check_coding(
    coding: Any, path: str, report: _Report, *, rule: str, require_system: bool, display_rule: str | None
) -> None:
    """A CDS Hooks Coding: `code` required; `system` required if `require_system`; `display`
    required (under `display_rule`) if `display_rule` is given."""
    if not isinstance(coding, dict):
        report.add(path, rule, f"must be a Coding object (got {_jtype(coding)})")
        return
    _require_str(coding, "code", path, rule, report)
    if require_system:
        _require_str(coding, "system", path, rule, report)
    else:
        _optional_str(coding, "system", path, rule, report)
    if display_rule is not None:
        _require_str(coding, "display", path, display_rule, report)
    else:
        _optional_str(coding, "display", path, rule, report)


def _run_invariants(node: Any, path: str, invariants: tuple[_Invariant, ...], report: _Report) -> None:
    if not isinstance(node, dict):
        return  # the structural layer reports non-objects
    for rule, expr, compiled in invariants:
        try:
            result = compiled(node, {})
        except Exception as exc:  # any evaluation error is a failure, like a false result
            report.add(path, rule, f"(FHIRPath) could not evaluate `{expr}`: {exc!r}")
            continue
        if result != [True]:
            report.add(path, rule, f"(FHIRPath) invariant failed: `{expr}` evaluated to {result}")


def _dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """(index, item) for the object items of `value` if it is an array."""
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


def _raise_if_any(kind: str, violations: list[str], body: Any) -> None:
    if not violations:
        return
    listing = "\n".join(f"  - {violation}" for violation in violations)
    raise AssertionError(
        f"{kind} breaks CDS Hooks conformance ({len(violations)} violation(s)):\n{listing}\n"
        f"  body: {_show(body, limit=2000)}"
    )


# --------------------------------------------------------------------------- cards response


def _check_action(action: Any, path: str, report: _Report, *, in_suggestion: bool) -> None:
    """R9 (+ cds-resp-2, cds-resp-5). System actions need a description too: it is REQUIRED in 2.0."""
    if not isinstance(action, dict):
        report.add(path, "R9", f"action must be an object (got {_jtype(action)})")
        return
    _check_unknown_keys(action, _ACTION_KEYS, path, report)
    _check_extension(action, path, report)
    action_type = action.get("type")
    if action_type is None:
        report.add(_join(path, "type"), "R9", f"action type is required ({_one_of(ACTION_TYPES)})")
    elif not isinstance(action_type, str) or action_type not in ACTION_TYPES:
        report.add(
            _join(path, "type"),
            "R9",
            f"action type must be one of {_one_of(ACTION_TYPES)} (got {_show(action_type)})",
        )
    _require_str(
        action, "description", path, "cds-resp-5" if in_suggestion else "R9", report, "action description"
    )

    resource_id_path = _join(path, "resourceId")
    if _optional_str(action, "resourceId", path, "R9", report) and not _RELATIVE_REFERENCE.fullmatch(
        action["resourceId"]
    ):
        report.add(
            resource_id_path,
            "R9",
            f"resourceId must be a relative reference Type/id (got {_show(action['resourceId'])})",
        )

    if action_type in ("create", "update"):
        resource = action.get("resource")
        resource_path = _join(path, "resource")
        if resource is None:
            report.add(resource_path, "R9", f"a {action_type} action requires a resource")
        elif not isinstance(resource, dict):
            report.add(
                resource_path, "R9", f"resource must be a FHIR resource object (got {_jtype(resource)})"
            )
        else:
            _require_str(resource, "resourceType", resource_path, "R9", report)
            if action_type == "update":
                _require_str(resource, "id", resource_path, "R9", report, "id of the whole updated resource")
    elif action_type == "delete":
        if not _present(action, "resourceId"):
            report.add(
                resource_id_path,
                "cds-resp-2",
                "a delete action must identify its target with resourceId (Type/id)",
            )
        if _present(action, "resource"):
            report.add(
                _join(path, "resource"),
                "cds-resp-2",
                "a delete action must not carry a resource (deprecated; use resourceId)",
            )


def _check_source(card: dict[str, Any], path: str, report: _Report) -> None:
    """R3."""
    source_path = _join(path, "source")
    source = card.get("source")
    if source is None:
        report.add(source_path, "R3", "source is required")
        return
    if not isinstance(source, dict):
        report.add(source_path, "R3", f"source must be an object (got {_jtype(source)})")
        return
    _check_unknown_keys(source, _SOURCE_KEYS, source_path, report)
    _check_extension(source, source_path, report)
    _require_str(source, "label", source_path, "R3", report, "source label")
    for key in ("url", "icon"):
        if _present(source, key):
            _check_absolute_url(source[key], _join(source_path, key), "R3", report, f"source {key}")
    if _present(source, "topic"):
        _check_coding(
            source["topic"],
            _join(source_path, "topic"),
            report,
            rule="R3",
            require_system=False,
            display_rule=None,
        )


def _check_suggestions(card: dict[str, Any], path: str, report: _Report) -> None:
    """R6, R7, R8/cds-resp-1, R10/cds-resp-7, cds-resp-6."""
    suggestions_path = _join(path, "suggestions")
    suggestions = _optional_list(card, "suggestions", path, "R6", report)
    uuids: dict[str, str] = {}
    for index, suggestion in enumerate(suggestions):
        spath = _join(suggestions_path, index)
        if not isinstance(suggestion, dict):
            report.add(spath, "R6", f"suggestion must be an object (got {_jtype(suggestion)})")
            continue
        _check_unknown_keys(suggestion, _SUGGESTION_KEYS, spath, report)
        _check_extension(suggestion, spath, report)
        _require_str(suggestion, "label", spath, "R6", report, "suggestion label")
        if _optional_str(suggestion, "uuid", spath, "R6", report):
            first = uuids.setdefault(suggestion["uuid"], spath)
            if first != spath:
                report.add(
                    _join(spath, "uuid"),
                    "R6",
                    f"duplicate suggestion uuid {_show(suggestion['uuid'])} (also {first})",
                )
        _optional_bool(suggestion, "isRecommended", spath, "R6", report)
        if _present(suggestion, "actionSelectionBehavior"):
            value = suggestion["actionSelectionBehavior"]
            if not isinstance(value, str) or value not in ACTION_SELECTION_BEHAVIORS:
                report.add(
                    _join(spath, "actionSelectionBehavior"),
                    "cds-resp-7",
                    f"actionSelectionBehavior must be one of {_one_of(ACTION_SELECTION_BEHAVIORS)} "
                    f"(got {_show(value)})",
                )
        actions_path = _join(spath, "actions")
        for action_index, action in enumerate(_optional_list(suggestion, "actions", spath, "R6", report)):
            _check_action(action, _join(actions_path, action_index), report, in_suggestion=True)

    behavior_path = _join(path, "selectionBehavior")
    behavior = card.get("selectionBehavior")
    has_suggestions = _present(card, "suggestions") and card["suggestions"] != []
    if behavior is None:
        if has_suggestions:
            report.add(
                behavior_path, "cds-resp-6", "selectionBehavior is required when suggestions are present"
            )
    elif not isinstance(behavior, str) or behavior not in SELECTION_BEHAVIORS:
        report.add(
            behavior_path,
            "R7",
            f"selectionBehavior must be one of {_one_of(SELECTION_BEHAVIORS)} (got {_show(behavior)})",
        )
    elif behavior == "at-most-one":
        recommended = [
            _join(suggestions_path, i)
            for i, s in enumerate(suggestions)
            if isinstance(s, dict) and s.get("isRecommended") is True
        ]
        if len(recommended) > 1:
            report.add(
                suggestions_path,
                "cds-resp-1",
                f"with selectionBehavior 'at-most-one' at most one suggestion may have isRecommended: true "
                f"(got {len(recommended)}: {', '.join(recommended)})",
            )


def _check_override_reasons(card: dict[str, Any], path: str, report: _Report) -> None:
    """R11 / cds-resp-4: each override reason is a Coding with system, code and display."""
    reasons_path = _join(path, "overrideReasons")
    for index, reason in enumerate(_optional_list(card, "overrideReasons", path, "R11", report)):
        _check_coding(
            reason,
            _join(reasons_path, index),
            report,
            rule="R11",
            require_system=True,
            display_rule="cds-resp-4",
        )


def _check_links(card: dict[str, Any], path: str, report: _Report) -> None:
    """R12 / cds-resp-3."""
    links_path = _join(path, "links")
    for index, link in enumerate(_optional_list(card, "links", path, "R12", report)):
        lpath = _join(links_path, index)
        if not isinstance(link, dict):
            report.add(lpath, "R12", f"link must be an object (got {_jtype(link)})")
            continue
        _check_unknown_keys(link, _LINK_KEYS, lpath, report)
        _check_extension(link, lpath, report)
        _require_str(link, "label", lpath, "R12", report, "link label")
        if link.get("url") is None:
            report.add(_join(lpath, "url"), "R12", "link url is required")
        else:
            _check_absolute_url(link["url"], _join(lpath, "url"), "R12", report, "link url")
        link_type = link.get("type")
        if link_type is None:
            report.add(_join(lpath, "type"), "R12", f"link type is required ({_one_of(LINK_TYPES)})")
        elif not isinstance(link_type, str) or link_type not in LINK_TYPES:
            report.add(
                _join(lpath, "type"),
                "R12",
                f"link type must be one of {_one_of(LINK_TYPES)} (got {_show(link_type)})",
            )
        if _optional_str(link, "appContext", lpath, "R12", report) and link_type != "smart":
            report.add(
                _join(lpath, "appContext"),
                "cds-resp-3",
                f"appContext is allowed only on links of type 'smart' (type is {_show(link_type)})",
            )
        _optional_bool(link, "autolaunchable", lpath, "R12", report)


def _check_card(card: Any, path: str, report: _Report) -> None:
    """Structural checks of one card (R1-R12)."""
    if not isinstance(card, dict):
        report.add(path, "C1", f"card must be an object (got {_jtype(card)})")
        return
    _check_unknown_keys(card, _CARD_KEYS, path, report)
    _check_extension(card, path, report)

    summary: str = card.get("summary") or ""
    if _require_str(card, "summary", path, "R1", report) and len(summary) >= SUMMARY_MAX_EXCLUSIVE:
        report.add(
            _join(path, "summary"),
            "R1",
            f"summary must be < {SUMMARY_MAX_EXCLUSIVE} characters (got {len(summary)})",
        )

    indicator = card.get("indicator")
    if indicator is None:
        report.add(_join(path, "indicator"), "R2", f"indicator is required ({_one_of(INDICATORS)})")
    elif not isinstance(indicator, str) or indicator not in INDICATORS:
        hint = " ('hard-stop' was renamed 'critical' in 1.0)" if indicator == "hard-stop" else ""
        report.add(
            _join(path, "indicator"),
            "R2",
            f"indicator must be one of {_one_of(INDICATORS)} (got {_show(indicator)}){hint}",
        )

    _check_source(card, path, report)
    _optional_str(card, "detail", path, "R4", report)
    _optional_str(card, "uuid", path, "R5", report)
    _check_suggestions(card, path, report)
    _check_override_reasons(card, path, report)
    _check_links(card, path, report)


def _fhirpath_card_response(body: dict[str, Any], report: _Report) -> None:
    """Second, independent layer: run cds-resp-1..7 on every card, suggestion, action, link."""
    for card_index, card in _dicts(body.get("cards")):
        cpath = _join("cards", card_index)
        _run_invariants(card, cpath, _CARD_FP, report)
        for s_index, suggestion in _dicts(card.get("suggestions")):
            spath = _join(_join(cpath, "suggestions"), s_index)
            _run_invariants(suggestion, spath, _SUGGESTION_FP, report)
            for a_index, action in _dicts(suggestion.get("actions")):
                _run_invariants(action, _join(_join(spath, "actions"), a_index), _ACTION_FP, report)
        for r_index, reason in _dicts(card.get("overrideReasons")):
            _run_invariants(
                reason, _join(_join(cpath, "overrideReasons"), r_index), _OVERRIDE_REASON_FP, report
            )
        for l_index, link in _dicts(card.get("links")):
            _run_invariants(link, _join(_join(cpath, "links"), l_index), _LINK_FP, report)
    for a_index, action in _dicts(body.get("systemActions")):
        _run_invariants(action, _join("systemActions", a_index), _ACTION_FP, report)


def check_cards_response(body: Any) -> list[str]:
    """Violations of a CDS service response ``{"cards": [...], "systemActions": [...]}`` (C1, R1-R15, D8).

    ``body`` is the parsed JSON, or the raw ``str``/``bytes`` text (parsed strictly).
    """
    report = _Report()
    ok, body = _parse_json_text(body, report)
    if not ok:
        return report.items
    if not isinstance(body, dict):
        report.add("", "C1", f"response body must be a JSON object with a 'cards' array (got {_jtype(body)})")
        return report.items
    _check_unknown_keys(body, _RESPONSE_KEYS, "", report)
    _check_extension(body, "", report)

    cards = body.get("cards")
    if "cards" not in body:
        report.add("cards", "C1", "'cards' is required (send [] when there is no guidance)")
    elif not isinstance(cards, list):
        report.add("cards", "C1", f"cards must be an array (got {_jtype(cards)})")
    else:
        seen: dict[str, str] = {}
        for index, card in enumerate(cards):
            cpath = _join("cards", index)
            _check_card(card, cpath, report)
            if isinstance(card, dict) and isinstance(card.get("uuid"), str):
                first = seen.setdefault(card["uuid"], cpath)
                if first != cpath:
                    report.add(
                        _join(cpath, "uuid"),
                        "R5",
                        f"duplicate card uuid {_show(card['uuid'])} (also {first})",
                    )

    if "systemActions" in body and body["systemActions"] is not None:
        actions = body["systemActions"]
        if not isinstance(actions, list):
            report.add(
                "systemActions", "R13", f"systemActions must be an array of actions (got {_jtype(actions)})"
            )
        else:
            for index, action in enumerate(actions):
                _check_action(action, _join("systemActions", index), report, in_suggestion=False)

    _check_json_values(body, "", report, allow_empty=frozenset({"cards"}))
    _fhirpath_card_response(body, report)
    return report.items


def assert_cards_response(body: Any) -> None:
    """Raise AssertionError listing every violation found by :func:`check_cards_response`."""
    _raise_if_any("CDS Hooks cards response", check_cards_response(body), body)


# --------------------------------------------------------------------------- discovery


def _check_prefetch_template(template: Any, path: str, hook: Any, report: _Report) -> None:
    """P1-P3 for one prefetch template."""
    if not isinstance(template, str):
        report.add(path, "P1", f"a prefetch template must be a string (got {_jtype(template)})")
        return
    if _URL_SCHEME.match(template) or template.startswith("/"):
        report.add(path, "P1", f"a prefetch template must be a relative FHIR URL (got {_show(template)})")
    allowed_fields = HOOK_PREFETCH_TOKEN_FIELDS.get(hook) if isinstance(hook, str) else None
    for match in _TOKEN.finditer(template):
        token, inner = match.group(0), match.group(1)
        if inner in USER_TOKENS:
            continue
        if inner != inner.strip():
            report.add(path, "P2", f"token {token} must not contain whitespace")
        elif inner.startswith("context."):
            field = inner.removeprefix("context.")
            if not _CONTEXT_FIELD.fullmatch(field):
                report.add(
                    path,
                    "P2",
                    f"token {token} must name a root-level context field ('context.<field>'); "
                    "FHIRPath-style paths are 3.0-ballot STU only",
                )
            elif allowed_fields is not None and field not in allowed_fields:
                report.add(
                    path,
                    "P2",
                    f"token {token}: context field {field!r} is not a prefetch token of hook {hook!r} "
                    f"(allowed: {', '.join(sorted(allowed_fields))})",
                )
        else:
            report.add(
                path,
                "P3",
                f"unknown token {token} (allowed: {{{{context.<field>}}}} "
                f"or one of {', '.join(USER_TOKENS)})",
            )
    leftover = _TOKEN.sub("", template)
    if "{{" in leftover or "}}" in leftover:
        report.add(path, "P1", f"unbalanced or nested '{{{{' / '}}}}' in template {_show(template)}")


def _check_service(service: Any, path: str, report: _Report) -> None:
    """D3-D5 and P1-P3 for one discovery entry."""
    if not isinstance(service, dict):
        report.add(path, "D3", f"service must be an object (got {_jtype(service)})")
        return
    _check_unknown_keys(service, _SERVICE_KEYS, path, report)
    _check_extension(service, path, report)
    if _require_str(service, "id", path, "D3", report) and _SERVICE_ID_UNSAFE.search(service["id"]):
        report.add(
            _join(path, "id"),
            "D3",
            "id is used as a URL path segment and must not contain /, ?, #, % or spaces "
            f"(got {_show(service['id'])})",
        )
    _require_str(service, "hook", path, "D3", report)
    _require_str(service, "description", path, "D3", report)
    _require_str(
        service, "title", path, "D3", report, "title (RECOMMENDED by the spec, required by our policy)"
    )
    _optional_str(service, "usageRequirements", path, "D3", report)
    _optional_str(service, "version", path, "D4", report)
    _optional_str(service, "hookVersion", path, "D4", report)
    if _present(service, "prefetch"):
        prefetch = service["prefetch"]
        prefetch_path = _join(path, "prefetch")
        if not isinstance(prefetch, dict):
            report.add(
                prefetch_path, "D3", f"prefetch must be an object of key -> template (got {_jtype(prefetch)})"
            )
        else:
            for key, template in prefetch.items():
                if template is not None:  # null is reported by the D8 walk
                    _check_prefetch_template(template, _join(prefetch_path, key), service.get("hook"), report)


def check_discovery(body: Any) -> list[str]:
    """Violations of a discovery response ``{"services": [...]}`` (D2-D8, P1-P3)."""
    report = _Report()
    ok, body = _parse_json_text(body, report)
    if not ok:
        return report.items
    if not isinstance(body, dict):
        report.add(
            "", "D2", f"discovery body must be a JSON object with a 'services' array (got {_jtype(body)})"
        )
        return report.items
    _check_unknown_keys(body, _DISCOVERY_KEYS, "", report)
    _check_extension(body, "", report)
    services = body.get("services")
    if "services" not in body:
        report.add("services", "D2", "'services' is required (send [] when there are none)")
    elif not isinstance(services, list):
        report.add("services", "D2", f"services must be an array (got {_jtype(services)})")
    else:
        seen: dict[tuple[str, str], str] = {}
        for index, service in enumerate(services):
            spath = _join("services", index)
            _check_service(service, spath, report)
            if (
                isinstance(service, dict)
                and isinstance(service.get("id"), str)
                and isinstance(service.get("hook"), str)
            ):
                first = seen.setdefault((service["id"], service["hook"]), spath)
                if first != spath:
                    report.add(
                        spath,
                        "D6",
                        f"duplicate (id, hook) = ({service['id']!r}, {service['hook']!r}) (also {first})",
                    )
    _check_json_values(body, "", report, allow_empty=frozenset({"services"}))
    return report.items


def assert_discovery(body: Any) -> None:
    """Raise AssertionError listing every violation found by :func:`check_discovery`."""
    _raise_if_any("CDS Hooks discovery response", check_discovery(body), body)


# --------------------------------------------------------------------------- OperationOutcome


def check_operation_outcome(body: Any) -> list[str]:
    """Violations of an error body: a FHIR OperationOutcome (C5, C8)."""
    report = _Report()
    ok, body = _parse_json_text(body, report)
    if not ok:
        return report.items
    if not isinstance(body, dict):
        report.add("", "C5", f"error body must be an OperationOutcome object (got {_jtype(body)})")
        return report.items
    if body.get("resourceType") != "OperationOutcome":
        report.add(
            "resourceType",
            "C5",
            f"resourceType must be 'OperationOutcome' (got {_show(body.get('resourceType'))})",
        )
    issues = body.get("issue")
    if not isinstance(issues, list) or not issues:
        report.add("issue", "C5", f"issue must be a non-empty array (got {_show(issues)})")
        issues = []
    for index, issue in enumerate(issues):
        ipath = _join("issue", index)
        if not isinstance(issue, dict):
            report.add(ipath, "C5", f"issue must be an object (got {_jtype(issue)})")
            continue
        severity = issue.get("severity")
        if not isinstance(severity, str) or severity not in ISSUE_SEVERITIES:
            report.add(
                _join(ipath, "severity"),
                "C5",
                f"severity must be one of {_one_of(ISSUE_SEVERITIES)} (got {_show(severity)})",
            )
        if (
            _require_str(issue, "code", ipath, "C5", report, "issue code")
            and issue["code"] not in ISSUE_TYPES
        ):
            report.add(
                _join(ipath, "code"),
                "C5",
                f"issue code {_show(issue['code'])} is not a FHIR R4 IssueType code",
            )
        _optional_str(issue, "diagnostics", ipath, "C5", report)
        if _present(issue, "details"):
            details = issue["details"]
            if not isinstance(details, dict):
                report.add(
                    _join(ipath, "details"),
                    "C5",
                    f"details must be a CodeableConcept object (got {_jtype(details)})",
                )
            else:
                _optional_str(details, "text", _join(ipath, "details"), "C5", report)
        for key in ("expression", "location"):
            values = _optional_list(issue, key, ipath, "C5", report)
            for vindex, value in enumerate(values):
                if not isinstance(value, str):
                    report.add(
                        _join(_join(ipath, key), vindex), "C5", f"must be a string (got {_jtype(value)})"
                    )
    _check_json_values(body, "", report, allow_empty=frozenset())
    return report.items


def assert_operation_outcome(body: Any) -> None:
    """Raise AssertionError listing every violation found by :func:`check_operation_outcome`."""
    _raise_if_any("OperationOutcome error body", check_operation_outcome(body), body)


# --------------------------------------------------------------------------- feedback


def _check_timestamp(value: Any, path: str, report: _Report) -> None:
    """F2: RFC 3339 section 5.6 date-time, in UTC."""
    if not isinstance(value, str):
        report.add(path, "F2", f"outcomeTimestamp must be an RFC 3339 string (got {_jtype(value)})")
        return
    match = _RFC3339.fullmatch(value)
    parsed: datetime | None = None
    if match:
        try:
            parsed = datetime.fromisoformat(value.upper())
        except ValueError:
            parsed = None
    if match is None or parsed is None:
        report.add(
            path,
            "F2",
            f"outcomeTimestamp must be an RFC 3339 date-time such as 2021-12-11T10:05:31Z "
            f"(got {_show(value)})",
        )
    elif parsed.utcoffset() != timedelta(0):
        report.add(path, "F2", f"outcomeTimestamp must be in UTC (got offset {match.group('offset')})")


def _check_feedback_entry(entry: Any, path: str, report: _Report) -> None:
    if not isinstance(entry, dict):
        report.add(path, "F2", f"feedback entry must be an object (got {_jtype(entry)})")
        return
    _check_unknown_keys(entry, _FEEDBACK_KEYS, path, report)
    _check_extension(entry, path, report)
    _require_str(entry, "card", path, "F2", report, "card (the card uuid)")
    outcome = entry.get("outcome")
    if not isinstance(outcome, str) or outcome not in FEEDBACK_OUTCOMES:
        report.add(
            _join(path, "outcome"),
            "cds-fb-1",
            f"outcome must be one of {_one_of(FEEDBACK_OUTCOMES)} (got {_show(outcome)})",
        )

    accepted_path = _join(path, "acceptedSuggestions")
    accepted = entry.get("acceptedSuggestions")
    if outcome == "accepted" and (not isinstance(accepted, list) or not accepted):
        report.add(
            accepted_path, "cds-fb-2", "an accepted outcome requires a non-empty acceptedSuggestions array"
        )
    for index, item in enumerate(_optional_list(entry, "acceptedSuggestions", path, "F2", report)):
        ipath = _join(accepted_path, index)
        if not isinstance(item, dict):
            report.add(
                ipath, "F2", f'accepted suggestion must be an object {{"id": ...}} (got {_jtype(item)})'
            )
        else:
            _check_unknown_keys(item, _ACCEPTED_SUGGESTION_KEYS, ipath, report)
            _require_str(item, "id", ipath, "F2", report, "accepted suggestion id (the suggestion uuid)")

    if _present(entry, "overrideReason"):
        reason_path = _join(path, "overrideReason")
        override = entry["overrideReason"]
        if not isinstance(override, dict):
            report.add(reason_path, "F2", f"overrideReason must be an object (got {_jtype(override)})")
        else:
            _check_unknown_keys(override, _OVERRIDE_REASON_KEYS, reason_path, report)
            _check_extension(override, reason_path, report)
            if not _present(override, "reason") and not _present(override, "userComment"):
                report.add(reason_path, "cds-fb-3", "overrideReason needs a reason Coding or a userComment")
            if _present(override, "reason"):
                reason = override["reason"]
                reason_coding_path = _join(reason_path, "reason")
                _check_coding(
                    reason, reason_coding_path, report, rule="F2", require_system=True, display_rule=None
                )
            _optional_str(override, "userComment", reason_path, "F2", report)

    if entry.get("outcomeTimestamp") is None:
        report.add(_join(path, "outcomeTimestamp"), "F2", "outcomeTimestamp is required")
    else:
        _check_timestamp(entry["outcomeTimestamp"], _join(path, "outcomeTimestamp"), report)


def check_feedback_request(body: Any) -> list[str]:
    """Violations of a feedback request body ``{"feedback": [...]}`` (F2, cds-fb-1..3)."""
    report = _Report()
    ok, body = _parse_json_text(body, report)
    if not ok:
        return report.items
    if not isinstance(body, dict):
        report.add(
            "", "F2", f"feedback body must be a JSON object with a 'feedback' array (got {_jtype(body)})"
        )
        return report.items
    _check_unknown_keys(body, _FEEDBACK_BODY_KEYS, "", report)
    _check_extension(body, "", report)
    entries = body.get("feedback")
    if not isinstance(entries, list) or not entries:
        report.add("feedback", "F2", f"feedback must be a non-empty array (got {_show(entries)})")
        entries = []
    for index, entry in enumerate(entries):
        _check_feedback_entry(entry, _join("feedback", index), report)
    _check_json_values(body, "", report, allow_empty=frozenset())
    # second, independent layer
    for index, entry in _dicts(body.get("feedback")):
        epath = _join("feedback", index)
        _run_invariants(entry, epath, _FEEDBACK_FP, report)
        _run_invariants(
            entry.get("overrideReason"), _join(epath, "overrideReason"), _FEEDBACK_OVERRIDE_REASON_FP, report
        )
    return report.items


def assert_feedback_request(body: Any) -> None:
    """Raise AssertionError listing every violation found by :func:`check_feedback_request`."""
    _raise_if_any("CDS Hooks feedback request", check_feedback_request(body), body)
