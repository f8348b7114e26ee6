"""Local infection at or near the needling site, with body regions and sides (architecture.md section 4).

Same region and side -> ``local-infection`` (contraindication); adjacent region, a midline region on
different sides, or either site unknown -> ``infection-near-site`` (precaution); the other side of a paired
region (a limb) or a distant region -> nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.builders import (
    Json,
    body_site,
    concept,
    condition,
    days_ago,
    days_ahead,
    draft_orders,
    dry_needling_order,
    icd,
    icd_condition,
    laterality_extension,
    patient_record,
    sct,
)
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_orders, find_dry_needling_orders
from fhir_mappings.infection import find_active_infections

LOCAL = "local-infection"
NEAR = "infection-near-site"
INFECTION_CODES = {LOCAL, NEAR}

# Order sites, as EHRs send them
RIGHT_KNEE = body_site(sct("72696002", "Knee region structure"), sct("24028007", "Right"), text="Right knee")
LEFT_KNEE = body_site(sct("72696002", "Knee region structure"), sct("7771000", "Left"), text="Left knee")
RIGHT_SHOULDER = body_site(sct("16982005", "Shoulder region structure"), sct("24028007", "Right"))
LEFT_SHOULDER = body_site(sct("16982005", "Shoulder region structure"), sct("7771000", "Left"))
LEFT_FOREARM = body_site(sct("14975008", "Forearm structure"), sct("7771000", "Left"))
RIGHT_FOREARM = body_site(sct("14975008", "Forearm structure"), sct("24028007", "Right"))
LUMBAR = body_site(sct("37822005", "Lumbar region structure"), text="Lumbar paraspinals")
UPPER_BACK = body_site(text="Upper back, rhomboids")
NECK = body_site(sct("45048000", "Neck structure"), text="Posterior neck")
RIGHT_NECK = body_site(sct("45048000", "Neck structure"), sct("24028007", "Right"))
CHEST_WALL = body_site(sct("78904004", "Chest wall structure"))
ABDOMEN = body_site(sct("113345001", "Abdominal structure"))
HEAD = body_site(sct("69536005", "Head structure"), text="Temporalis")
RIGHT_HIP = body_site(sct("29836001", "Hip region structure"), sct("24028007", "Right"))
UNRECOGNISED = body_site(text="Area of maximal tenderness")


def _order(knowledge: Knowledge, *sites: Json) -> Any:
    [order] = find_dry_needling_orders(
        draft_orders(dry_needling_order(id="dn-1", body_sites=list(sites))), knowledge
    )
    return order


def _infection_codes(knowledge: Knowledge, infection: Json, *order_sites: Json) -> list[str]:
    findings = evaluate_orders([_order(knowledge, *order_sites)], patient_record(infection), knowledge, TODAY)
    return [f.code for f in findings if f.code in INFECTION_CODES]


def _cellulitis(*sites: Json, **kwargs: Any) -> Json:
    """SNOMED 128045006 Cellulitis with its site in bodySite."""
    return condition(concept(sct("128045006", "Cellulitis")), body_sites=list(sites), **kwargs)


# --- ICD-10-CM site digits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "display", "order_site", "expected"),
    [
        pytest.param(
            "L03.115",
            "Cellulitis of right lower limb",
            RIGHT_KNEE,
            [LOCAL],
            id="l03-115-right-leg-vs-right-knee",
        ),
        pytest.param(
            "L03.115", "Cellulitis of right lower limb", LEFT_KNEE, [], id="l03-115-right-leg-vs-left-knee"
        ),
        pytest.param(
            "L03.116", "Cellulitis of left lower limb", LEFT_KNEE, [LOCAL], id="l03-116-left-leg-vs-left-knee"
        ),
        pytest.param(
            "L03.116", "Cellulitis of left lower limb", RIGHT_KNEE, [], id="l03-116-left-leg-vs-right-knee"
        ),
        pytest.param(
            "L03116",
            "Cellulitis of left lower limb",
            body_site(text="Left calf"),
            [LOCAL],
            id="l03116-undotted-vs-left-calf-text",
        ),
        pytest.param(
            "L03.115",
            "Cellulitis of right lower limb",
            RIGHT_HIP,
            [NEAR],
            id="l03-115-right-leg-vs-right-hip-adjacent",
        ),
        pytest.param(
            "L03.115",
            "Cellulitis of right lower limb",
            RIGHT_SHOULDER,
            [],
            id="l03-115-right-leg-vs-right-shoulder-distant",
        ),
        pytest.param(
            "L02.611",
            "Cutaneous abscess of right foot",
            RIGHT_KNEE,
            [LOCAL],
            id="l02-611-right-foot-vs-right-knee",
        ),
        pytest.param(
            "L03.031", "Cellulitis of right toe", LEFT_KNEE, [], id="l03-031-right-toe-vs-left-knee"
        ),
        # "unspecified part of limb": not in the ICD site table, so the site is unknown -> near
        pytest.param(
            "L03.119",
            "Cellulitis of unspecified part of limb",
            RIGHT_KNEE,
            [NEAR],
            id="l03-119-limb-unspecified-vs-knee",
        ),
        pytest.param(
            "L02.619",
            "Cutaneous abscess of unspecified foot",
            LEFT_KNEE,
            [LOCAL],
            id="l02-619-foot-unspecified-side-vs-left-knee",
        ),
        pytest.param(
            "L03.221", "Cellulitis of neck", RIGHT_SHOULDER, [NEAR], id="l03-221-neck-vs-shoulder-adjacent"
        ),
        pytest.param("L03.221", "Cellulitis of neck", NECK, [LOCAL], id="l03-221-neck-vs-neck"),
        pytest.param("L03.221", "Cellulitis of neck", HEAD, [NEAR], id="l03-221-neck-vs-head-adjacent"),
        pytest.param("L03.221", "Cellulitis of neck", LUMBAR, [], id="l03-221-neck-vs-lumbar-distant"),
        pytest.param(
            "L02.212",
            "Cutaneous abscess of back [any part, except buttock]",
            LUMBAR,
            [LOCAL],
            id="l02-212-back-vs-lumbar",
        ),
        pytest.param(
            "L02.212",
            "Cutaneous abscess of back [any part, except buttock]",
            UPPER_BACK,
            [LOCAL],
            id="l02-212-back-vs-upper-back",
        ),
        pytest.param(
            "L02.212",
            "Cutaneous abscess of back [any part, except buttock]",
            NECK,
            [NEAR],
            id="l02-212-back-vs-neck-adjacent",
        ),
        pytest.param(
            "L02.212",
            "Cutaneous abscess of back [any part, except buttock]",
            ABDOMEN,
            [NEAR],
            id="l02-212-back-vs-abdomen-adjacent",
        ),
        pytest.param(
            "L02.212",
            "Cutaneous abscess of back [any part, except buttock]",
            RIGHT_HIP,
            [NEAR],
            id="l02-212-back-vs-hip-adjacent",
        ),
        pytest.param(
            "L02.212",
            "Cutaneous abscess of back [any part, except buttock]",
            RIGHT_KNEE,
            [],
            id="l02-212-back-vs-knee-distant",
        ),
        pytest.param(
            "L03.313", "Cellulitis of chest wall", CHEST_WALL, [LOCAL], id="l03-313-chest-wall-vs-chest-wall"
        ),
        pytest.param(
            "L03.313",
            "Cellulitis of chest wall",
            LEFT_SHOULDER,
            [NEAR],
            id="l03-313-chest-wall-vs-shoulder-adjacent",
        ),
        pytest.param(
            "L02.411",
            "Cutaneous abscess of right axilla",
            RIGHT_FOREARM,
            [LOCAL],
            id="l02-411-right-axilla-vs-right-forearm",
        ),
        pytest.param(
            "L02.411",
            "Cutaneous abscess of right axilla",
            CHEST_WALL,
            [LOCAL],
            id="l02-411-right-axilla-vs-chest-wall",
        ),
        pytest.param(
            "L02.411",
            "Cutaneous abscess of right axilla",
            LEFT_FOREARM,
            [],
            id="l02-411-right-axilla-vs-left-forearm",
        ),
        pytest.param("L03.31A", "Cellulitis of flank", LUMBAR, [LOCAL], id="l03-31a-flank-vs-lumbar"),
        pytest.param(
            "L02.31", "Cutaneous abscess of buttock", RIGHT_HIP, [LOCAL], id="l02-31-buttock-vs-right-hip"
        ),
        pytest.param("L03.90", "Cellulitis, unspecified", RIGHT_KNEE, [NEAR], id="l03-90-no-site"),
        pytest.param(
            "L08.9",
            "Local infection of the skin and subcutaneous tissue, unspecified",
            HEAD,
            [NEAR],
            id="l08-9-no-site",
        ),
        pytest.param("B02.9", "Zoster without complications", LUMBAR, [NEAR], id="b02-9-zoster-no-site"),
        pytest.param("A46", "Erysipelas", LEFT_KNEE, [NEAR], id="a46-erysipelas-no-site"),
    ],
)
def test_icd_site_digits(
    code: str, display: str, order_site: Json, expected: list[str], knowledge: Knowledge
) -> None:
    assert (
        _infection_codes(knowledge, icd_condition(code, display, onset=days_ago(4)), order_site) == expected
    )


@pytest.mark.parametrize(
    ("order_sites", "expected"),
    [
        pytest.param([], [NEAR], id="order-without-body-site"),
        pytest.param([UNRECOGNISED], [NEAR], id="order-site-unrecognised-text"),
        pytest.param([LEFT_KNEE, UNRECOGNISED], [NEAR], id="one-site-unrecognised"),
        pytest.param([LEFT_KNEE, RIGHT_KNEE], [LOCAL], id="either-site-same"),
        pytest.param([LEFT_KNEE, LEFT_FOREARM], [], id="all-sites-apart"),
    ],
)
def test_order_site_unknown_or_several(
    order_sites: list[Json], expected: list[str], knowledge: Knowledge
) -> None:
    infection = icd_condition("L03.115", "Cellulitis of right lower limb", onset=days_ago(4))
    assert _infection_codes(knowledge, infection, *order_sites) == expected


# --- sides, in every way R4 carries them ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("infection_site", "order_site", "expected"),
    [
        pytest.param(
            body_site(sct("7769000", "Structure of right foot")),
            RIGHT_KNEE,
            [LOCAL],
            id="precoordinated-right-foot-vs-right-knee",
        ),
        pytest.param(
            body_site(sct("7769000", "Structure of right foot")),
            LEFT_KNEE,
            [],
            id="precoordinated-right-foot-vs-left-knee",
        ),
        pytest.param(
            body_site(sct("30021000", "Lower leg structure"), sct("7771000", "Left")),
            LEFT_KNEE,
            [LOCAL],
            id="qualifier-coding-left-vs-left",
        ),
        pytest.param(
            body_site(sct("30021000", "Lower leg structure"), sct("7771000", "Left")),
            RIGHT_KNEE,
            [],
            id="qualifier-coding-left-vs-right",
        ),
        pytest.param(
            body_site(
                sct("61685007", "Lower limb structure"),
                extensions=[laterality_extension("24028007", "Right")],
            ),
            RIGHT_KNEE,
            [LOCAL],
            id="mcode-extension-right-vs-right",
        ),
        pytest.param(
            body_site(
                sct("61685007", "Lower limb structure"),
                extensions=[laterality_extension("24028007", "Right")],
            ),
            LEFT_KNEE,
            [],
            id="mcode-extension-right-vs-left",
        ),
        pytest.param(
            body_site(
                sct("61685007", "Lower limb structure"),
                extensions=[
                    laterality_extension(
                        "7771000", url="http://hl7.org/fhir/StructureDefinition/bodySite-laterality"
                    )
                ],
            ),
            LEFT_KNEE,
            [LOCAL],
            id="bodysite-laterality-extension-left-vs-left",
        ),
        pytest.param(
            body_site(
                sct("61685007", "Lower limb structure"),
                extensions=[
                    laterality_extension("7771000", url="https://example.org/fhir/StructureDefinition/side")
                ],
            ),
            RIGHT_KNEE,
            [LOCAL],
            id="unrelated-extension-ignored",
        ),
        pytest.param(
            body_site(sct("72696002:272741003=7771000")),
            LEFT_KNEE,
            [LOCAL],
            id="postcoordinated-left-knee-vs-left",
        ),
        pytest.param(
            body_site(sct("72696002:272741003=7771000")),
            RIGHT_KNEE,
            [],
            id="postcoordinated-left-knee-vs-right",
        ),
        pytest.param(
            body_site(sct("72696002 |Knee region structure| : 272741003 |Laterality| = 24028007 |Right|")),
            LEFT_KNEE,
            [],
            id="postcoordinated-with-terms-right-vs-left",
        ),
        pytest.param(body_site(text="Right knee"), RIGHT_KNEE, [LOCAL], id="text-right-knee-vs-right"),
        pytest.param(body_site(text="Right knee"), LEFT_KNEE, [], id="text-right-knee-vs-left"),
        pytest.param(body_site(text="Lt lower leg"), RIGHT_KNEE, [], id="text-abbreviation-lt-vs-right"),
        pytest.param(
            body_site(sct("72696002", "Knee region structure"), sct("51440002", "Right and left")),
            LEFT_KNEE,
            [LOCAL],
            id="bilateral-qualifier-vs-left",
        ),
        pytest.param(body_site(text="Knee, bilateral"), RIGHT_KNEE, [LOCAL], id="bilateral-text-vs-right"),
        pytest.param(
            body_site(text="Both knees"), RIGHT_KNEE, [LOCAL], id="plural-text-both-knees-is-local"
        ),  # both sides, knee region
        pytest.param(
            body_site(sct("72696002", "Knee region structure")),
            LEFT_KNEE,
            [LOCAL],
            id="no-side-matches-either-side",
        ),
    ],
)
def test_sides(infection_site: Json, order_site: Json, expected: list[str], knowledge: Knowledge) -> None:
    assert _infection_codes(knowledge, _cellulitis(infection_site), order_site) == expected


@pytest.mark.parametrize(
    ("order_site", "expected"),
    [
        pytest.param(LEFT_KNEE, [LOCAL], id="left-knee"),
        pytest.param(RIGHT_KNEE, [], id="right-knee"),
        pytest.param(body_site(sct("72696002:272741003=24028007")), [], id="postcoordinated-right-order"),
        pytest.param(
            body_site(sct("72696002", "Knee region structure"), extensions=[laterality_extension("7771000")]),
            [LOCAL],
            id="extension-left-order",
        ),
        pytest.param(
            body_site(text="L knee"), [LOCAL], id="text-l-knee-order"
        ),  # "L" alone is not a side keyword: side unknown -> same region
    ],
)
def test_order_sides(order_site: Json, expected: list[str], knowledge: Knowledge) -> None:
    infection = _cellulitis(body_site(text="Left lower leg"))
    assert _infection_codes(knowledge, infection, order_site) == expected


@pytest.mark.parametrize(
    ("infection", "order_site", "expected"),
    [
        pytest.param(
            _cellulitis(body_site(sct("45048000", "Neck structure"), sct("7771000", "Left"))),
            RIGHT_NECK,
            [NEAR],
            id="neck-left-vs-right-near",
        ),
        pytest.param(
            _cellulitis(body_site(text="Left side of neck")),
            RIGHT_NECK,
            [NEAR],
            id="neck-text-left-vs-right-near",
        ),
        pytest.param(
            _cellulitis(body_site(text="Right lower back")),
            body_site(text="Left lumbar paraspinals"),
            [NEAR],
            id="lower-back-right-vs-left-near",
        ),
        pytest.param(
            _cellulitis(body_site(text="Left lower back")),
            body_site(text="Left quadratus lumborum"),
            [LOCAL],
            id="lower-back-same-side",
        ),
        pytest.param(
            _cellulitis(body_site(text="Left chest wall")), CHEST_WALL, [LOCAL], id="chest-side-vs-no-side"
        ),
    ],
)
def test_midline_regions_on_different_sides_are_near(
    infection: Json, order_site: Json, expected: list[str], knowledge: Knowledge
) -> None:
    assert _infection_codes(knowledge, infection, order_site) == expected


@pytest.mark.parametrize(
    ("infection_site", "order_site", "expected"),
    [
        pytest.param(
            body_site(sct("16982005"), sct("24028007", "Right")),
            RIGHT_FOREARM,
            [NEAR],
            id="right-shoulder-vs-right-arm-adjacent",
        ),
        pytest.param(
            body_site(sct("16982005"), sct("24028007", "Right")),
            LEFT_FOREARM,
            [],
            id="right-shoulder-vs-left-arm-other-side",
        ),
        pytest.param(
            body_site(sct("16982005"), sct("7771000", "Left")),
            NECK,
            [NEAR],
            id="left-shoulder-vs-neck-midline-adjacent",
        ),
        pytest.param(
            body_site(sct("29836001", "Hip region structure"), sct("7771000", "Left")),
            LUMBAR,
            [NEAR],
            id="left-hip-vs-lumbar-adjacent",
        ),
        pytest.param(
            body_site(sct("29836001", "Hip region structure"), sct("7771000", "Left")),
            RIGHT_KNEE,
            [],
            id="left-hip-vs-right-leg-other-side",
        ),
        pytest.param(
            body_site(sct("29836001", "Hip region structure"), sct("7771000", "Left")),
            LEFT_KNEE,
            [NEAR],
            id="left-hip-vs-left-leg-adjacent",
        ),
    ],
)
def test_adjacent_regions(
    infection_site: Json, order_site: Json, expected: list[str], knowledge: Knowledge
) -> None:
    assert _infection_codes(knowledge, _cellulitis(infection_site), order_site) == expected


# --- where the infection's site comes from ------------------------------------------------------------


@pytest.mark.parametrize(
    ("infection", "order_site", "expected"),
    [
        # bodySite wins over the ICD digits for the region
        pytest.param(
            icd_condition("L03.90", "Cellulitis, unspecified", body_sites=[body_site(text="Right knee")]),
            RIGHT_KNEE,
            [LOCAL],
            id="bodysite-over-unspecified-icd",
        ),
        # an ICD side fills a bodySite that has no side (L03.116 = left lower limb)
        pytest.param(
            icd_condition(
                "L03.116",
                "Cellulitis of left lower limb",
                body_sites=[body_site(sct("30021000", "Lower leg structure"))],
            ),
            RIGHT_KNEE,
            [],
            id="icd-side-fills-bodysite-other-side",
        ),
        pytest.param(
            icd_condition(
                "L03.116",
                "Cellulitis of left lower limb",
                body_sites=[body_site(sct("30021000", "Lower leg structure"))],
            ),
            LEFT_KNEE,
            [LOCAL],
            id="icd-side-fills-bodysite-same-side",
        ),
        # a side-only bodySite fills the region from the ICD digits
        pytest.param(
            icd_condition(
                "L02.619",
                "Cutaneous abscess of unspecified foot",
                body_sites=[body_site(sct("24028007", "Right"))],
            ),
            LEFT_KNEE,
            [],
            id="side-only-bodysite-other-side",
        ),
        pytest.param(
            icd_condition(
                "L02.619",
                "Cutaneous abscess of unspecified foot",
                body_sites=[body_site(sct("24028007", "Right"))],
            ),
            RIGHT_KNEE,
            [LOCAL],
            id="side-only-bodysite-same-side",
        ),
        # SNOMED disorders that imply their finding site
        pytest.param(
            condition(concept(sct("24288004", "Cellulitis of ankle"))),
            RIGHT_KNEE,
            [LOCAL],
            id="snomed-cellulitis-of-ankle",
        ),
        pytest.param(
            condition(concept(sct("70637004", "Cellulitis of toe")), body_sites=[body_site(text="Left")]),
            RIGHT_KNEE,
            [],
            id="snomed-cellulitis-of-toe-left-text",
        ),
        # SNOMED infection with no site at all
        pytest.param(
            condition(concept(sct("128477000", "Abscess"))), RIGHT_KNEE, [NEAR], id="snomed-abscess-no-site"
        ),
        pytest.param(
            condition(concept(sct("95880003", "Soft tissue infection"))),
            NECK,
            [NEAR],
            id="snomed-soft-tissue-infection-no-site",
        ),
        # an unrecognised bodySite is ignored; the ICD digits still give the site
        pytest.param(
            icd_condition(
                "L03.115", "Cellulitis of right lower limb", body_sites=[body_site(text="Lateral aspect")]
            ),
            LEFT_KNEE,
            [],
            id="unrecognised-bodysite-falls-back-to-icd",
        ),
    ],
)
def test_infection_site_sources(
    infection: Json, order_site: Json, expected: list[str], knowledge: Knowledge
) -> None:
    assert _infection_codes(knowledge, infection, order_site) == expected


# --- which infections count ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, [LOCAL], id="active"),
        pytest.param({"clinical_status": "recurrence"}, [LOCAL], id="recurrence"),
        pytest.param({"clinical_status": "resolved", "abatement": days_ago(10)}, [], id="resolved"),
        pytest.param({"clinical_status": "inactive"}, [], id="inactive"),
        pytest.param({"verification_status": "entered-in-error"}, [], id="entered-in-error"),
        pytest.param({"verification_status": "refuted"}, [], id="refuted"),
        pytest.param({"clinical_status": None, "abatement": days_ago(1)}, [], id="abated-yesterday"),
        pytest.param(
            {"clinical_status": "active", "abatement": days_ahead(5)},
            [LOCAL],
            id="abatement-expected-in-future",
        ),
    ],
)
def test_infection_status(kwargs: dict[str, Any], expected: list[str], knowledge: Knowledge) -> None:
    infection = icd_condition("L03.115", "Cellulitis of right lower limb", onset=days_ago(6), **kwargs)
    assert _infection_codes(knowledge, infection, RIGHT_KNEE) == expected


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(icd("L03.115", system="urn:oid:2.16.840.1.113883.6.90"), id="icd-oid"),
        pytest.param(icd("M60.051", "Infective myositis, right thigh"), id="m60-infective-myositis"),
        pytest.param(
            icd("T81.41XA", "Infection following a procedure, superficial incisional surgical site"),
            id="t81-4-post-procedural",
        ),
        pytest.param(icd("B00.1", "Herpesviral vesicular dermatitis"), id="b00-herpes-simplex"),
        pytest.param(sct("128045006", "Cellulitis"), id="snomed-cellulitis"),
    ],
)
def test_infection_codes_recognised(code: Json, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(code), id="inf-1"))
    assert [i.evidence.reference for i in find_active_infections(record, knowledge, TODAY)] == [
        "Condition/inf-1"
    ]


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(icd("L40.0", "Psoriasis vulgaris"), id="psoriasis"),
        pytest.param(
            icd("L90.5", "Scar conditions and fibrosis of skin"), id="scar"
        ),  # L98.4 ulcers count since issue 11 class 8
        pytest.param(icd("J18.9", "Pneumonia, unspecified organism"), id="pneumonia"),
        pytest.param(sct("L03.115"), id="icd-code-snomed-system"),
        pytest.param(icd("128045006"), id="snomed-code-icd-system"),
    ],
)
def test_non_infection_codes_ignored(code: Json, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(code)))
    assert find_active_infections(record, knowledge, TODAY) == []


def test_infection_finding_content(knowledge: Knowledge) -> None:
    infection = icd_condition("L03.115", "Cellulitis of right lower limb", id="inf-9", onset=days_ago(4))
    bundle = draft_orders(
        dry_needling_order(id="dn-r", body_sites=[RIGHT_KNEE]),
        dry_needling_order(id="dn-l", body_sites=[LEFT_KNEE]),
        dry_needling_order(id="dn-h", body_sites=[RIGHT_HIP]),
    )
    orders = find_dry_needling_orders(bundle, knowledge)
    findings = evaluate_orders(orders, patient_record(infection), knowledge, TODAY)
    site_findings = [f for f in findings if f.code in INFECTION_CODES]
    assert [(f.code, f.kind, f.order_references) for f in site_findings] == [
        (LOCAL, "contraindication", ("ServiceRequest/dn-r",)),
        (NEAR, "precaution", ("ServiceRequest/dn-h",)),
    ]
    for finding in site_findings:
        assert [e.reference for e in finding.evidence] == ["Condition/inf-9"]
        assert finding.evidence[0].recorded == days_ago(4)
        assert finding.facts["infection"] == "Cellulitis of right lower limb"


def test_two_infections_one_local_one_near(knowledge: Knowledge) -> None:
    record = patient_record(
        icd_condition("L03.115", "Cellulitis of right lower limb", id="inf-a"),
        icd_condition("L03.90", "Cellulitis, unspecified", id="inf-b"),
    )
    findings = evaluate_orders([_order(knowledge, RIGHT_KNEE)], record, knowledge, TODAY)
    assert [(f.code, f.evidence[0].reference) for f in findings if f.code in INFECTION_CODES] == [
        (LOCAL, "Condition/inf-a"),
        (NEAR, "Condition/inf-b"),
    ]
