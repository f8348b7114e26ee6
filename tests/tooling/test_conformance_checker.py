"""Tests of the conformance checker itself (tests/support/conformance.py).

The checker guards every response in the suite, so it must be shown to (a) accept the spec's own
examples and a feature-complete valid response, and (b) fail, with the right path and rule id,
on payloads that break exactly one rule.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from support import conformance
from support.conformance import (
    assert_cards_response,
    assert_discovery,
    assert_feedback_request,
    assert_operation_outcome,
    check_cards_response,
    check_discovery,
    check_feedback_request,
    check_operation_outcome,
)
from support.paths import CDS_HOOKS_EXAMPLES

# --------------------------------------------------------------------------- fixtures / helpers

EXAMPLES = CDS_HOOKS_EXAMPLES


def load_example(name: str) -> Any:
    """A spec example payload (copied with its provenance into tests/fixtures/cds-hooks)."""
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


_RULE = re.compile(r"^(?P<path>.+?): (?P<rule>\S+)(?P<fhirpath> \(FHIRPath\))?")


def rules(violations: list[str]) -> set[str]:
    """The rule ids in `violations`; a FHIRPath-layer id is suffixed with '/fp'."""
    found: set[str] = set()
    for violation in violations:
        match = _RULE.match(violation)
        assert match, f"violation not in '<path>: <rule> <message>' form: {violation!r}"
        found.add(match["rule"] + ("/fp" if match["fhirpath"] else ""))
    return found


def assert_has(violations: list[str], *fragments: str) -> None:
    for fragment in fragments:
        assert any(fragment in v for v in violations), f"{fragment!r} not in violations:\n" + "\n".join(
            violations
        )


DROP = object()  # sentinel: remove the key


def base_card() -> dict[str, Any]:
    return {
        "uuid": "0b5c8d6e-8a0b-4f7c-9a55-3d7c1a2f0e01",
        "summary": "Dry needling order has no documented pain assessment",
        "indicator": "warning",
        "source": {"label": "Dry Needling CDS"},
    }


def card(**changes: Any) -> dict[str, Any]:
    """base_card() with `changes` applied (a value of DROP removes the key)."""
    result = base_card()
    for key, value in changes.items():
        if value is DROP:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def suggestion(**changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "label": "Add a pain assessment order",
        "uuid": "7d7b2a60-3a0e-4d53-8d39-2b5d0c1e9f11",
        "actions": [
            {
                "type": "create",
                "description": "Order a pain assessment",
                "resource": {"resourceType": "ServiceRequest", "status": "draft", "intent": "order"},
            }
        ],
    }
    for key, value in changes.items():
        if value is DROP:
            result.pop(key, None)
        else:
            result[key] = value
    return result


CODING = {
    "system": "http://example.org/override-reasons",
    "code": "patient-refused",
    "display": "Patient refused",
}


def full_valid_response() -> dict[str, Any]:
    """Uses every optional feature of a 2.0 response; must produce no violation."""
    return {
        "cards": [
            {
                "uuid": "a3a5f6a2-1d3e-4d6f-9f5b-6e7c8d9e0a11",
                "summary": "Bleeding disorder on file: dry needling is relatively contraindicated",
                "detail": "The patient has **von Willebrand disease** on the problem list.",
                "indicator": "critical",
                "source": {
                    "label": "Dry Needling CDS",
                    "url": "https://cds.example.org/about",
                    "icon": "https://cds.example.org/img/icon-100px.png",
                    "topic": {
                        "system": "http://example.org/topics",
                        "code": "dn-safety",
                        "display": "Safety",
                    },
                },
                "selectionBehavior": "at-most-one",
                "suggestions": [
                    suggestion(isRecommended=True),
                    {
                        "label": "Cancel the dry needling order",
                        "uuid": "5c1f0e8a-2b7d-4a3c-8e9f-0a1b2c3d4e5f",
                        "isRecommended": False,
                        "actions": [
                            {
                                "type": "delete",
                                "description": "Remove the draft",
                                "resourceId": "ServiceRequest/dn-1",
                            },
                            {
                                "type": "update",
                                "description": "Put the order on hold",
                                "resource": {
                                    "resourceType": "ServiceRequest",
                                    "id": "dn-2",
                                    "status": "on-hold",
                                    "intent": "order",
                                },
                            },
                        ],
                    },
                    {"label": "Acknowledge only"},
                ],
                "overrideReasons": [
                    CODING,
                    {**CODING, "code": "benefit-outweighs", "display": "Benefit outweighs risk"},
                ],
                "links": [
                    {"label": "Guideline", "url": "https://example.org/guideline", "type": "absolute"},
                    {
                        "label": "Risk calculator",
                        "url": "https://smart.example.org/launch",
                        "type": "smart",
                        "appContext": '{"order":"dn-1"}',
                        "autolaunchable": False,
                    },
                ],
                "extension": {"org.example.dn-cds.rule": "bleeding-1"},
            },
            base_card() | {"uuid": "a3a5f6a2-1d3e-4d6f-9f5b-6e7c8d9e0a12", "indicator": "info"},
        ],
        "systemActions": [
            {
                "type": "update",
                "description": "Flag the order for review",
                "resource": {
                    "resourceType": "ServiceRequest",
                    "id": "dn-1",
                    "status": "on-hold",
                    "intent": "order",
                },
            }
        ],
    }


# --------------------------------------------------------------------------- cards: positives


def test_spec_cards_example_passes() -> None:
    body = load_example("response-cards-spec-2.0.1.json")
    assert check_cards_response(body) == []
    assert_cards_response(body)


def test_spec_autolaunch_example_lacks_the_required_indicator() -> None:
    # The spec's own "autolaunchable" example omits `indicator`, which is REQUIRED (R2).
    # Everything else in it is conformant, so that must be the one and only violation.
    body = load_example("response-autolaunch-spec-2.0.1.json")
    assert check_cards_response(body) == [
        "cards[0].indicator: R2 indicator is required (info|warning|critical)"
    ]
    fixed = copy.deepcopy(body)
    fixed["cards"][0]["indicator"] = "info"
    assert check_cards_response(fixed) == []


def test_full_featured_response_passes() -> None:
    body = full_valid_response()
    assert check_cards_response(body) == []
    assert check_cards_response(json.dumps(body)) == []
    assert check_cards_response(json.dumps(body).encode()) == []


def test_empty_cards_array_is_the_one_allowed_empty_value() -> None:
    assert check_cards_response({"cards": []}) == []
    assert check_cards_response(b'{"cards": []}') == []


def test_summary_of_139_characters_passes() -> None:
    assert check_cards_response({"cards": [card(summary="x" * 139)]}) == []


# --------------------------------------------------------------------------- cards: one rule broken each

NEGATIVE_CARDS: list[tuple[str, dict[str, Any], set[str], list[str]]] = [
    # (id, card, exact set of rule ids reported, fragments that must appear)
    (
        "summary-140-chars",
        card(summary="x" * 140),
        {"R1"},
        ["cards[0].summary: R1 summary must be < 140 characters (got 140)"],
    ),
    (
        "summary-151-chars",
        card(summary="y" * 151),
        {"R1"},
        ["cards[0].summary: R1 summary must be < 140 characters (got 151)"],
    ),
    ("summary-missing", card(summary=DROP), {"R1"}, ["cards[0].summary: R1 summary is required"]),
    (
        "indicator-hard-stop",
        card(indicator="hard-stop"),
        {"R2"},
        [
            'cards[0].indicator: R2 indicator must be one of info|warning|critical (got "hard-stop")',
            "renamed",
        ],
    ),
    ("indicator-missing", card(indicator=DROP), {"R2"}, ["cards[0].indicator: R2 indicator is required"]),
    ("source-missing", card(source=DROP), {"R3"}, ["cards[0].source: R3 source is required"]),
    (
        "source-label-missing",
        card(source={"url": "https://cds.example.org"}),
        {"R3"},
        ["cards[0].source.label: R3 source label is required"],
    ),
    (
        "source-url-relative",
        card(source={"label": "L", "url": "/about"}),
        {"R3"},
        ['cards[0].source.url: R3 source url must be an absolute http(s) URL (got "/about")'],
    ),
    (
        "source-icon-not-http",
        card(source={"label": "L", "icon": "ftp://example.org/icon.png"}),
        {"R3"},
        ["cards[0].source.icon: R3 source icon must be an absolute http(s) URL"],
    ),
    (
        "source-topic-without-code",
        card(source={"label": "L", "topic": {"system": "http://example.org", "display": "Topic"}}),
        {"R3"},
        ["cards[0].source.topic.code: R3 code is required"],
    ),
    ("detail-not-string", card(detail=["a"]), {"R4"}, ["cards[0].detail: R4 detail must be a string"]),
    ("uuid-not-string", card(uuid=42), {"R5"}, ["cards[0].uuid: R5 uuid must be a string"]),
    (
        "suggestion-without-label",
        card(suggestions=[suggestion(label=DROP)], selectionBehavior="any"),
        {"R6"},
        ["cards[0].suggestions[0].label: R6 suggestion label is required"],
    ),
    (
        "suggestion-isRecommended-not-bool",
        card(suggestions=[suggestion(isRecommended="true")], selectionBehavior="any"),
        {"R6"},
        ["cards[0].suggestions[0].isRecommended: R6 isRecommended must be a boolean"],
    ),
    (
        "suggestions-without-selectionBehavior",
        card(suggestions=[suggestion()]),
        {"cds-resp-6", "cds-resp-6/fp"},
        [
            "cards[0].selectionBehavior: cds-resp-6 selectionBehavior is required when "
            "suggestions are present",
            "cards[0]: cds-resp-6 (FHIRPath) invariant failed",
        ],
    ),
    (
        "selectionBehavior-all",
        card(suggestions=[suggestion()], selectionBehavior="all"),
        {"R7"},
        ['cards[0].selectionBehavior: R7 selectionBehavior must be one of at-most-one|any (got "all")'],
    ),
    (
        "two-recommended-with-at-most-one",
        card(
            suggestions=[suggestion(isRecommended=True), suggestion(isRecommended=True, uuid="other-uuid")],
            selectionBehavior="at-most-one",
        ),
        {"cds-resp-1", "cds-resp-1/fp"},
        [
            "cards[0].suggestions: cds-resp-1 with selectionBehavior 'at-most-one' at most one suggestion "
            "may have isRecommended: true (got 2",
            "cards[0]: cds-resp-1 (FHIRPath) invariant failed",
        ],
    ),
    (
        "actionSelectionBehavior-invalid",
        card(suggestions=[suggestion(actionSelectionBehavior="exactly-one")], selectionBehavior="any"),
        {"cds-resp-7", "cds-resp-7/fp"},
        [
            "cards[0].suggestions[0].actionSelectionBehavior: cds-resp-7",
            "cards[0].suggestions[0]: cds-resp-7 (FHIRPath)",
        ],
    ),
    (
        "action-without-description",
        card(
            suggestions=[
                suggestion(
                    actions=[{"type": "create", "resource": {"resourceType": "Task", "status": "draft"}}]
                )
            ],
            selectionBehavior="any",
        ),
        {"cds-resp-5", "cds-resp-5/fp"},
        [
            "cards[0].suggestions[0].actions[0].description: cds-resp-5 action description is required",
            "cards[0].suggestions[0]: cds-resp-5 (FHIRPath) invariant failed",
        ],
    ),
    (
        "action-type-invalid",
        card(
            suggestions=[
                suggestion(actions=[{"type": "modify", "description": "d", "resourceId": "Task/1"}])
            ],
            selectionBehavior="any",
        ),
        {"R9"},
        [
            "cards[0].suggestions[0].actions[0].type: R9 action type must be one of "
            'create|update|delete (got "modify")'
        ],
    ),
    (
        "create-without-resource",
        card(
            suggestions=[suggestion(actions=[{"type": "create", "description": "d"}])],
            selectionBehavior="any",
        ),
        {"R9"},
        ["cards[0].suggestions[0].actions[0].resource: R9 a create action requires a resource"],
    ),
    (
        "update-resource-without-id",
        card(
            suggestions=[
                suggestion(
                    actions=[
                        {
                            "type": "update",
                            "description": "d",
                            "resource": {"resourceType": "Task", "status": "x"},
                        }
                    ]
                )
            ],
            selectionBehavior="any",
        ),
        {"R9"},
        ["cards[0].suggestions[0].actions[0].resource.id: R9 id of the whole updated resource is required"],
    ),
    (
        "delete-with-resource-instead-of-resourceId",
        card(
            suggestions=[
                suggestion(
                    actions=[
                        {
                            "type": "delete",
                            "description": "Remove the draft order",
                            "resource": {"resourceType": "ServiceRequest", "id": "dn-1"},
                        }
                    ]
                )
            ],
            selectionBehavior="any",
        ),
        {"cds-resp-2", "cds-resp-2/fp"},
        [
            "cards[0].suggestions[0].actions[0].resourceId: cds-resp-2 a delete action must "
            "identify its target",
            "cards[0].suggestions[0].actions[0].resource: cds-resp-2 a delete action must "
            "not carry a resource",
            "cards[0].suggestions[0].actions[0]: cds-resp-2 (FHIRPath) invariant failed",
        ],
    ),
    (
        "delete-resourceId-not-relative-reference",
        card(
            suggestions=[suggestion(actions=[{"type": "delete", "description": "d", "resourceId": "dn-1"}])],
            selectionBehavior="any",
        ),
        {"R9"},
        [
            "cards[0].suggestions[0].actions[0].resourceId: R9 resourceId must be a relative "
            'reference Type/id (got "dn-1")'
        ],
    ),
    (
        "override-reason-without-display",
        card(overrideReasons=[{"system": "http://example.org/reasons", "code": "patient-refused"}]),
        {"cds-resp-4", "cds-resp-4/fp"},
        [
            "cards[0].overrideReasons[0].display: cds-resp-4 display is required",
            "cards[0].overrideReasons[0]: cds-resp-4 (FHIRPath) invariant failed",
        ],
    ),
    (
        "override-reason-without-system",
        card(overrideReasons=[{"code": "patient-refused", "display": "Patient refused"}]),
        {"R11"},
        ["cards[0].overrideReasons[0].system: R11 system is required"],
    ),
    (
        "link-appContext-with-absolute-type",
        card(
            links=[
                {"label": "App", "url": "https://app.example.org", "type": "absolute", "appContext": "x=1"}
            ]
        ),
        {"cds-resp-3", "cds-resp-3/fp"},
        [
            "cards[0].links[0].appContext: cds-resp-3 appContext is allowed only on links of type 'smart'",
            "cards[0].links[0]: cds-resp-3 (FHIRPath) invariant failed",
        ],
    ),
    (
        "link-without-type",
        card(links=[{"label": "Guideline", "url": "https://example.org/guideline"}]),
        {"R12"},
        ["cards[0].links[0].type: R12 link type is required (absolute|smart)"],
    ),
    (
        # FHIRPath gives an empty result here (type is missing); like the HL7 validator, that fails.
        "link-appContext-without-type",
        card(links=[{"label": "App", "url": "https://app.example.org", "appContext": "x=1"}]),
        {"R12", "cds-resp-3", "cds-resp-3/fp"},
        [
            "cards[0].links[0].type: R12 link type is required",
            "cards[0].links[0]: cds-resp-3 (FHIRPath) invariant failed: `type!='smart' implies "
            "appContext.empty()` evaluated to []",
        ],
    ),
    (
        "link-url-relative",
        card(links=[{"label": "Guideline", "url": "guideline.html", "type": "absolute"}]),
        {"R12"},
        ['cards[0].links[0].url: R12 link url must be an absolute http(s) URL (got "guideline.html")'],
    ),
    (
        "link-autolaunchable-not-bool",
        card(
            links=[{"label": "G", "url": "https://example.org", "type": "absolute", "autolaunchable": "yes"}]
        ),
        {"R12"},
        ["cards[0].links[0].autolaunchable: R12 autolaunchable must be a boolean"],
    ),
    (
        "empty-links-array",
        card(links=[]),
        {"D8"},
        ["cards[0].links: D8 empty array [] is not allowed"],
    ),
    (
        "empty-suggestions-array",
        card(suggestions=[], selectionBehavior="any"),
        {"D8"},
        ["cards[0].suggestions: D8 empty array [] is not allowed"],
    ),
    ("null-detail", card(detail=None), {"D8"}, ["cards[0].detail: D8 null is not allowed"]),
    ("empty-string-detail", card(detail=""), {"D8"}, ['cards[0].detail: D8 empty string "" is not allowed']),
    (
        "empty-extension",
        card(extension={}),
        {"D8"},
        ["cards[0].extension: D8 empty object {} is not allowed"],
    ),
    (
        "empty-value-deep-inside-a-resource",
        card(
            suggestions=[
                suggestion(
                    actions=[
                        {
                            "type": "create",
                            "description": "d",
                            "resource": {"resourceType": "Task", "status": "draft", "note": [{"text": ""}]},
                        }
                    ]
                )
            ],
            selectionBehavior="any",
        ),
        {"D8"},
        ["cards[0].suggestions[0].actions[0].resource.note[0].text: D8 empty string"],
    ),
    (
        "extension-not-object",
        card(extension="x"),
        {"EXT"},
        ["cards[0].extension: EXT extension must be an object"],
    ),
    (
        "unknown-card-field",
        card(selectionbehavior="any"),
        {"EXT"},
        ['cards[0].selectionbehavior: EXT unknown field "selectionbehavior"'],
    ),
    (
        "systemActions-under-card-extension",
        card(extension={"systemActions": [{"type": "update", "description": "d", "resourceId": "Task/1"}]}),
        {"R13"},
        ["cards[0].extension.systemActions: R13 systemActions belongs at the top level"],
    ),
]


@pytest.mark.parametrize(
    ("bad_card", "expected_rules", "fragments"),
    [pytest.param(c, r, f, id=i) for i, c, r, f in NEGATIVE_CARDS],
)
def test_card_breaking_one_rule_is_reported(
    bad_card: dict[str, Any], expected_rules: set[str], fragments: list[str]
) -> None:
    body = {"cards": [bad_card]}
    violations = check_cards_response(body)
    assert_has(violations, *fragments)
    assert rules(violations) == expected_rules, "\n".join(violations)
    with pytest.raises(AssertionError) as excinfo:
        assert_cards_response(body)
    message = str(excinfo.value)
    for violation in violations:
        assert violation in message


def test_missing_cards_key() -> None:
    assert check_cards_response({}) == [
        "cards: C1 'cards' is required (send [] when there is no guidance)",
        "$: D8 empty object {} is not allowed; omit a field that has no value (R15)",
    ]
    violations = check_cards_response(
        {"systemActions": [{"type": "delete", "description": "d", "resourceId": "Task/1"}]}
    )
    assert violations == ["cards: C1 'cards' is required (send [] when there is no guidance)"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param(
            [], "$: C1 response body must be a JSON object with a 'cards' array (got array)", id="array"
        ),
        pytest.param(None, "$: C1 response body must be a JSON object", id="null"),
        pytest.param({"cards": {}}, "cards: C1 cards must be an array (got object)", id="cards-object"),
        pytest.param({"cards": ["x"]}, "cards[0]: C1 card must be an object (got string)", id="card-string"),
        pytest.param(
            {"cards": [], "systemActions": []}, "systemActions: D8 empty array", id="empty-systemActions"
        ),
        pytest.param(
            {"cards": [], "systemActions": {}},
            "systemActions: R13 systemActions must be an array",
            id="sa-obj",
        ),
        pytest.param(
            {
                "cards": [],
                "systemActions": [{"type": "update", "resource": {"resourceType": "Task", "id": "1"}}],
            },
            "systemActions[0].description: R9 action description is required",
            id="systemAction-without-description",
        ),
        pytest.param(
            {
                "cards": [],
                "extension": {"systemActions": [{"type": "delete", "description": "d", "resourceId": "T/1"}]},
            },
            "extension.systemActions: R13 systemActions belongs at the top level",
            id="pama-style-systemActions",
        ),
        pytest.param({"cards": [], "total": 0}, 'total: EXT unknown field "total"', id="unknown-root-field"),
        pytest.param(
            {"cards": [card(), card()]},
            'cards[1].uuid: R5 duplicate card uuid "0b5c8d6e-8a0b-4f7c-9a55-3d7c1a2f0e01" (also cards[0])',
            id="duplicate-card-uuid",
        ),
        pytest.param(
            {"cards": [card(summary=float("nan"))]}, "cards[0].summary: R1 summary must be a string", id="nan"
        ),
        pytest.param(
            b'{"cards": [], "cards": []}', '$: J1 duplicate object key "cards"', id="duplicate-json-key"
        ),
        pytest.param('{"cards": [NaN]}', "$: J1 body is not valid JSON", id="nan-in-text"),
        pytest.param(b"\xff", "$: J1 body is not UTF-8", id="not-utf8"),
        pytest.param("{", "$: J1 body is not valid JSON", id="truncated-json"),
        pytest.param(
            {"cards": [], "extension": {"k": (1, 2)}}, "extension.k: J1 tuple is not a JSON value", id="tuple"
        ),
    ],
)
def test_malformed_response_bodies(body: Any, fragment: str) -> None:
    violations = check_cards_response(body)
    assert_has(violations, fragment)
    with pytest.raises(AssertionError):
        assert_cards_response(body)


def test_assertion_message_lists_every_violation_with_path_and_rule() -> None:
    body = {"cards": [card(summary="z" * 151, indicator="hard-stop", links=[])]}
    with pytest.raises(AssertionError) as excinfo:
        assert_cards_response(body)
    message = str(excinfo.value)
    assert "(3 violation(s))" in message
    assert "cards[0].summary: R1 summary must be < 140 characters (got 151)" in message
    assert (
        'cards[0].indicator: R2 indicator must be one of info|warning|critical (got "hard-stop")' in message
    )
    assert "cards[0].links: D8 empty array [] is not allowed" in message


def test_fhirpath_layer_works_without_the_structural_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the hand-written card checks off: the FHIRPath invariants must still catch cds-resp-1..7."""
    monkeypatch.setattr(conformance, "_check_card", lambda *_args: None)
    monkeypatch.setattr(conformance, "_check_action", lambda *_args, **_kwargs: None)
    bad = card(
        suggestions=[
            suggestion(isRecommended=True, actionSelectionBehavior="exactly-one"),
            suggestion(
                isRecommended=True,
                actions=[{"type": "delete", "resource": {"resourceType": "Task", "id": "1"}}],
            ),
        ],
        overrideReasons=[{"system": "http://example.org", "code": "c"}],
        links=[{"label": "L", "url": "https://example.org", "type": "absolute", "appContext": "a"}],
    )
    no_behavior = card(uuid="second-card", suggestions=[suggestion()])
    body = {
        "cards": [bad | {"selectionBehavior": "at-most-one"}, no_behavior],
        "systemActions": [{"type": "delete", "description": "d"}],
    }
    violations = check_cards_response(body)
    assert rules(violations) == {f"cds-resp-{n}/fp" for n in range(1, 8)}
    assert_has(
        violations,
        "cards[0]: cds-resp-1 (FHIRPath)",
        "cards[0].suggestions[1].actions[0]: cds-resp-2 (FHIRPath)",
        "systemActions[0]: cds-resp-2 (FHIRPath)",
        "cards[0].links[0]: cds-resp-3 (FHIRPath)",
        "cards[0].overrideReasons[0]: cds-resp-4 (FHIRPath)",
        "cards[0].suggestions[1]: cds-resp-5 (FHIRPath)",
        "cards[1]: cds-resp-6 (FHIRPath)",
        "cards[0].suggestions[0]: cds-resp-7 (FHIRPath)",
    )


def test_fhirpath_evaluation_error_is_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any) -> list[Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(
        conformance, "_LINK_FP", (("cds-resp-3", "type!='smart' implies appContext.empty()", broken),)
    )
    body = {"cards": [card(links=[{"label": "G", "url": "https://example.org", "type": "absolute"}])]}
    assert check_cards_response(body) == [
        "cards[0].links[0]: cds-resp-3 (FHIRPath) could not evaluate "
        "`type!='smart' implies appContext.empty()`: RuntimeError('boom')"
    ]


# --------------------------------------------------------------------------- discovery


def base_service(**changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "hook": "order-sign",
        "id": "dry-needling-order-sign",
        "title": "Dry needling safety check",
        "description": "Checks dry-needling orders (CPT 20560/20561) for contraindications",
        "prefetch": {
            "patient": "Patient/{{context.patientId}}",
            "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
            "user": "{{context.userId}}",
            "practitioner": "Practitioner/{{userPractitionerId}}",
        },
    }
    for key, value in changes.items():
        if value is DROP:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def test_spec_discovery_example_passes() -> None:
    body = load_example("discovery-spec-2.0.1.json")
    assert check_discovery(body) == []
    assert_discovery(body)


def test_own_style_discovery_passes() -> None:
    body = {
        "services": [
            base_service(),
            base_service(hook="order-select", usageRequirements="Needs prefetch or a FHIR server token"),
        ]
    }
    assert check_discovery(body) == []
    assert check_discovery({"services": []}) == []


NEGATIVE_SERVICES: list[tuple[str, dict[str, Any], set[str], list[str]]] = [
    (
        "fhirpath-token",
        base_service(prefetch={"orders": "ServiceRequest?_id={{context.draftOrders.entry.resource.id}}"}),
        {"P2"},
        [
            "services[0].prefetch.orders: P2 token {{context.draftOrders.entry.resource.id}} must name a "
            "root-level context field"
        ],
    ),
    (
        "userPPUID-token",
        base_service(prefetch={"user": "Practitioner/{{userPPUID}}"}),
        {"P3"},
        ["services[0].prefetch.user: P3 unknown token {{userPPUID}}"],
    ),
    (
        "missing-description",
        base_service(description=DROP),
        {"D3"},
        ["services[0].description: D3 description is required"],
    ),
    ("missing-title", base_service(title=DROP), {"D3"}, ["services[0].title: D3 title (RECOMMENDED"]),
    ("missing-id", base_service(id=DROP), {"D3"}, ["services[0].id: D3 id is required"]),
    ("missing-hook", base_service(hook=DROP), {"D3"}, ["services[0].hook: D3 hook is required"]),
    (
        "id-with-slash",
        base_service(id="a/b"),
        {"D3"},
        ["services[0].id: D3 id is used as a URL path segment"],
    ),
    (
        "non-token-context-field",
        base_service(prefetch={"orders": "ServiceRequest?_id={{context.draftOrders}}"}),
        {"P2"},
        ["services[0].prefetch.orders: P2 token {{context.draftOrders}}: context field 'draftOrders' is not"],
    ),
    (
        "token-with-whitespace",
        base_service(prefetch={"patient": "Patient/{{ context.patientId }}"}),
        {"P2"},
        ["services[0].prefetch.patient: P2 token {{ context.patientId }} must not contain whitespace"],
    ),
    (
        "prefetch-variable-3.0",
        base_service(prefetch={"p": "Patient/{{context.patientId}}", "q": "Practitioner?_id={{%p.id}}"}),
        {"P3"},
        ["services[0].prefetch.q: P3 unknown token {{%p.id}}"],
    ),
    (
        "unbalanced-braces",
        base_service(prefetch={"patient": "Patient/{{context.patientId}"}),
        {"P1"},
        ["services[0].prefetch.patient: P1 unbalanced"],
    ),
    (
        "absolute-template",
        base_service(prefetch={"patient": "https://fhir.example.org/Patient/{{context.patientId}}"}),
        {"P1"},
        ["services[0].prefetch.patient: P1 a prefetch template must be a relative FHIR URL"],
    ),
    (
        "template-not-string",
        base_service(prefetch={"patient": {"read": "Patient"}}),
        {"P1"},
        ["services[0].prefetch.patient: P1 a prefetch template must be a string"],
    ),
    (
        "prefetch-not-object",
        base_service(prefetch=["x"]),
        {"D3"},
        ["services[0].prefetch: D3 prefetch must be an object"],
    ),
    ("empty-prefetch", base_service(prefetch={}), {"D8"}, ["services[0].prefetch: D8 empty object {}"]),
    (
        "null-usageRequirements",
        base_service(usageRequirements=None),
        {"D8"},
        ["services[0].usageRequirements: D8 null"],
    ),
    (
        "unknown-field",
        base_service(name="old 1.0 name"),
        {"EXT"},
        ['services[0].name: EXT unknown field "name"'],
    ),
]


@pytest.mark.parametrize(
    ("service", "expected_rules", "fragments"),
    [pytest.param(s, r, f, id=i) for i, s, r, f in NEGATIVE_SERVICES],
)
def test_discovery_breaking_one_rule_is_reported(
    service: dict[str, Any], expected_rules: set[str], fragments: list[str]
) -> None:
    body = {"services": [service]}
    violations = check_discovery(body)
    assert_has(violations, *fragments)
    assert rules(violations) == expected_rules, "\n".join(violations)
    with pytest.raises(AssertionError, match=re.escape(violations[0])):
        assert_discovery(body)


def test_discovery_body_shape() -> None:
    assert_has(check_discovery({}), "services: D2 'services' is required")
    assert_has(check_discovery([]), "$: D2 discovery body must be a JSON object")
    assert_has(check_discovery({"services": {}}), "services: D2 services must be an array")
    assert_has(
        check_discovery({"services": [base_service(), base_service()]}),
        "services[1]: D6 duplicate (id, hook) = ('dry-needling-order-sign', 'order-sign') (also services[0])",
    )


# --------------------------------------------------------------------------- OperationOutcome


def test_spec_operation_outcome_example_passes() -> None:
    body = load_example("error-412-operationoutcome-spec-3.0-ballot.json")
    assert check_operation_outcome(body) == []
    assert_operation_outcome(body)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param(
            {"issue": [{"severity": "error", "code": "invalid"}]}, "resourceType: C5", id="no-resourceType"
        ),
        pytest.param(
            {"resourceType": "OperationOutcome"}, "issue: C5 issue must be a non-empty array", id="no-issue"
        ),
        pytest.param(
            {"resourceType": "OperationOutcome", "issue": []},
            "issue: C5 issue must be a non-empty",
            id="empty",
        ),
        pytest.param(
            {"resourceType": "OperationOutcome", "issue": [{"severity": "fatal-ish", "code": "invalid"}]},
            'issue[0].severity: C5 severity must be one of fatal|error|warning|information (got "fatal-ish")',
            id="bad-severity",
        ),
        pytest.param(
            {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]},
            "issue[0].code: C5 issue code is required",
            id="no-code",
        ),
        pytest.param(
            {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "bad-request"}]},
            'issue[0].code: C5 issue code "bad-request" is not a FHIR R4 IssueType code',
            id="unknown-code",
        ),
        pytest.param(
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "invalid", "diagnostics": 1}],
            },
            "issue[0].diagnostics: C5 diagnostics must be a string",
            id="diagnostics-number",
        ),
        pytest.param(
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "invalid", "diagnostics": ""}],
            },
            "issue[0].diagnostics: D8 empty string",
            id="diagnostics-empty",
        ),
        pytest.param("<html>500</html>", "$: J1 body is not valid JSON", id="html-error-page"),
    ],
)
def test_bad_operation_outcomes(body: Any, fragment: str) -> None:
    assert_has(check_operation_outcome(body), fragment)
    with pytest.raises(AssertionError):
        assert_operation_outcome(body)


# --------------------------------------------------------------------------- feedback


@pytest.mark.parametrize(
    "name",
    [
        "feedback-accepted-spec-2.0.1.json",
        "feedback-overridden-spec-2.0.1.json",
        "feedback-overridden-reason-spec-2.0.1.json",
    ],
)
def test_spec_feedback_examples_pass(name: str) -> None:
    body = load_example(name)
    assert check_feedback_request(body) == []
    assert_feedback_request(body)


def feedback(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
        "outcomeTimestamp": "2021-12-11T10:05:31Z",
    }
    for key, value in changes.items():
        if value is DROP:
            entry.pop(key, None)
        else:
            entry[key] = value
    return {"feedback": [entry]}


NEGATIVE_FEEDBACK: list[tuple[str, dict[str, Any], set[str], list[str]]] = [
    (
        "outcome-dismissed",
        feedback(outcome="dismissed", acceptedSuggestions=DROP),
        {"cds-fb-1", "cds-fb-1/fp"},
        ['feedback[0].outcome: cds-fb-1 outcome must be one of accepted|overridden (got "dismissed")'],
    ),
    (
        "accepted-without-acceptedSuggestions",
        feedback(acceptedSuggestions=DROP),
        {"cds-fb-2", "cds-fb-2/fp"},
        ["feedback[0].acceptedSuggestions: cds-fb-2 an accepted outcome requires"],
    ),
    (
        "override-reason-empty",
        feedback(outcome="overridden", acceptedSuggestions=DROP, overrideReason={}),
        {"cds-fb-3", "cds-fb-3/fp", "D8"},
        [
            "feedback[0].overrideReason: cds-fb-3 overrideReason needs a reason Coding or a userComment",
            "feedback[0].overrideReason: cds-fb-3 (FHIRPath)",
        ],
    ),
    (
        "override-reason-coding-without-code",
        feedback(
            outcome="overridden", acceptedSuggestions=DROP, overrideReason={"reason": {"system": "http://x"}}
        ),
        {"F2"},
        ["feedback[0].overrideReason.reason.code: F2 code is required"],
    ),
    (
        "accepted-suggestion-without-id",
        feedback(acceptedSuggestions=[{"uuid": "x"}]),
        {"F2", "EXT"},
        ["feedback[0].acceptedSuggestions[0].id: F2 accepted suggestion id"],
    ),
    ("missing-card", feedback(card=DROP), {"F2"}, ["feedback[0].card: F2 card (the card uuid) is required"]),
    (
        "timestamp-missing",
        feedback(outcomeTimestamp=DROP),
        {"F2"},
        ["feedback[0].outcomeTimestamp: F2 outcomeTimestamp is required"],
    ),
    (
        "timestamp-not-rfc3339",
        feedback(outcomeTimestamp="2021-12-11 10:05"),
        {"F2"},
        ["feedback[0].outcomeTimestamp: F2 outcomeTimestamp must be an RFC 3339 date-time"],
    ),
    (
        "timestamp-impossible-date",
        feedback(outcomeTimestamp="2021-02-30T10:05:31Z"),
        {"F2"},
        ["feedback[0].outcomeTimestamp: F2 outcomeTimestamp must be an RFC 3339 date-time"],
    ),
    (
        "timestamp-not-utc",
        feedback(outcomeTimestamp="2021-12-11T10:05:31+02:00"),
        {"F2"},
        ["feedback[0].outcomeTimestamp: F2 outcomeTimestamp must be in UTC (got offset +02:00)"],
    ),
]


@pytest.mark.parametrize(
    ("body", "expected_rules", "fragments"),
    [pytest.param(b, r, f, id=i) for i, b, r, f in NEGATIVE_FEEDBACK],
)
def test_feedback_breaking_one_rule_is_reported(
    body: dict[str, Any], expected_rules: set[str], fragments: list[str]
) -> None:
    violations = check_feedback_request(body)
    assert_has(violations, *fragments)
    assert rules(violations) == expected_rules, "\n".join(violations)
    with pytest.raises(AssertionError):
        assert_feedback_request(body)


def test_feedback_body_shape() -> None:
    assert_has(check_feedback_request({"feedback": []}), "feedback: F2 feedback must be a non-empty array")
    assert_has(check_feedback_request({}), "feedback: F2 feedback must be a non-empty array")
    assert check_feedback_request(feedback(outcomeTimestamp="2021-12-11T10:05:31.123+00:00")) == []


def test_fhirpathpy_where_quirk_is_still_present() -> None:
    """Why cds-resp-1 is run as `where(isRecommended = true)` instead of the spec's `where(isRecommended)`.

    fhirpathpy keeps items whose boolean is false when where() gets a bare boolean path. If this test
    fails, fhirpathpy has been fixed and conformance.CARD_INVARIANTS may use the spec text again.
    """
    from fhirpathpy import evaluate

    card_json = {"suggestions": [{"isRecommended": True}, {"isRecommended": False}]}
    assert evaluate(card_json, "suggestions.where(isRecommended).count()") == [2]  # spec semantics: [1]
    assert evaluate(card_json, "suggestions.where(isRecommended = true).count()") == [1]
    body = {
        "cards": [
            card(
                selectionBehavior="at-most-one",
                suggestions=[suggestion(isRecommended=True), suggestion(isRecommended=False, uuid="second")],
            )
        ]
    }
    assert check_cards_response(body) == []
