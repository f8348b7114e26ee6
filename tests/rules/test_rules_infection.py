"""Local infection at or near the needling site, with body regions and sides (architecture.md section 4).

Same region and side -> ``local-infection`` (contraindication); adjacent region, a midline region on
different sides, or either site unknown -> ``infection-near-site`` (precaution); the other side of a paired
region (a limb) or a distant region -> nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from fhir_builders import (
    NOW,
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
    findings = evaluate_orders([_order(knowledge, *order_sites)], patient_record(infection), knowledge, NOW)
    return [f.code for f in findings if f.code in INFECTION_CODES]


def _cellulitis(*sites: Json, **kwargs: Any) -> Json:
    """SNOMED 128045006 Cellulitis with its site in bodySite."""
    return condition(concept(sct("128045006", "Cellulitis")), body_sites=list(sites), **kwargs)


# --- ICD-10-CM site digits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "display", "order_site", "expected"),
    [
        ("L03.115", "Cellulitis of right lower limb", RIGHT_KNEE, [LOCAL]),
        ("L03.115", "Cellulitis of right lower limb", LEFT_KNEE, []),
        ("L03.116", "Cellulitis of left lower limb", LEFT_KNEE, [LOCAL]),
        ("L03.116", "Cellulitis of left lower limb", RIGHT_KNEE, []),
        ("L03116", "Cellulitis of left lower limb", body_site(text="Left calf"), [LOCAL]),
        ("L03.115", "Cellulitis of right lower limb", RIGHT_HIP, [NEAR]),
        ("L03.115", "Cellulitis of right lower limb", RIGHT_SHOULDER, []),
        ("L02.611", "Cutaneous abscess of right foot", RIGHT_KNEE, [LOCAL]),
        ("L03.031", "Cellulitis of right toe", LEFT_KNEE, []),
        # "unspecified part of limb": not in the ICD site table, so the site is unknown -> near
        ("L03.119", "Cellulitis of unspecified part of limb", RIGHT_KNEE, [NEAR]),
        ("L02.619", "Cutaneous abscess of unspecified foot", LEFT_KNEE, [LOCAL]),
        ("L03.221", "Cellulitis of neck", RIGHT_SHOULDER, [NEAR]),
        ("L03.221", "Cellulitis of neck", NECK, [LOCAL]),
        ("L03.221", "Cellulitis of neck", HEAD, [NEAR]),
        ("L03.221", "Cellulitis of neck", LUMBAR, []),
        ("L02.212", "Cutaneous abscess of back [any part, except buttock]", LUMBAR, [LOCAL]),
        ("L02.212", "Cutaneous abscess of back [any part, except buttock]", UPPER_BACK, [LOCAL]),
        ("L02.212", "Cutaneous abscess of back [any part, except buttock]", NECK, [NEAR]),
        ("L02.212", "Cutaneous abscess of back [any part, except buttock]", ABDOMEN, [NEAR]),
        ("L02.212", "Cutaneous abscess of back [any part, except buttock]", RIGHT_HIP, [NEAR]),
        ("L02.212", "Cutaneous abscess of back [any part, except buttock]", RIGHT_KNEE, []),
        ("L03.313", "Cellulitis of chest wall", CHEST_WALL, [LOCAL]),
        ("L03.313", "Cellulitis of chest wall", LEFT_SHOULDER, [NEAR]),
        ("L02.411", "Cutaneous abscess of right axilla", RIGHT_FOREARM, [LOCAL]),
        ("L02.411", "Cutaneous abscess of right axilla", CHEST_WALL, [LOCAL]),
        ("L02.411", "Cutaneous abscess of right axilla", LEFT_FOREARM, []),
        ("L03.31A", "Cellulitis of flank", LUMBAR, [LOCAL]),
        ("L02.31", "Cutaneous abscess of buttock", RIGHT_HIP, [LOCAL]),
        ("L03.90", "Cellulitis, unspecified", RIGHT_KNEE, [NEAR]),
        ("L08.9", "Local infection of the skin and subcutaneous tissue, unspecified", HEAD, [NEAR]),
        ("B02.9", "Zoster without complications", LUMBAR, [NEAR]),
        ("A46", "Erysipelas", LEFT_KNEE, [NEAR]),
    ],
    ids=[
        "l03-115-right-leg-vs-right-knee",
        "l03-115-right-leg-vs-left-knee",
        "l03-116-left-leg-vs-left-knee",
        "l03-116-left-leg-vs-right-knee",
        "l03116-undotted-vs-left-calf-text",
        "l03-115-right-leg-vs-right-hip-adjacent",
        "l03-115-right-leg-vs-right-shoulder-distant",
        "l02-611-right-foot-vs-right-knee",
        "l03-031-right-toe-vs-left-knee",
        "l03-119-limb-unspecified-vs-knee",
        "l02-619-foot-unspecified-side-vs-left-knee",
        "l03-221-neck-vs-shoulder-adjacent",
        "l03-221-neck-vs-neck",
        "l03-221-neck-vs-head-adjacent",
        "l03-221-neck-vs-lumbar-distant",
        "l02-212-back-vs-lumbar",
        "l02-212-back-vs-upper-back",
        "l02-212-back-vs-neck-adjacent",
        "l02-212-back-vs-abdomen-adjacent",
        "l02-212-back-vs-hip-adjacent",
        "l02-212-back-vs-knee-distant",
        "l03-313-chest-wall-vs-chest-wall",
        "l03-313-chest-wall-vs-shoulder-adjacent",
        "l02-411-right-axilla-vs-right-forearm",
        "l02-411-right-axilla-vs-chest-wall",
        "l02-411-right-axilla-vs-left-forearm",
        "l03-31a-flank-vs-lumbar",
        "l02-31-buttock-vs-right-hip",
        "l03-90-no-site",
        "l08-9-no-site",
        "b02-9-zoster-no-site",
        "a46-erysipelas-no-site",
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
        ([], [NEAR]),
        ([UNRECOGNISED], [NEAR]),
        ([LEFT_KNEE, UNRECOGNISED], [NEAR]),
        ([LEFT_KNEE, RIGHT_KNEE], [LOCAL]),
        ([LEFT_KNEE, LEFT_FOREARM], []),
    ],
    ids=[
        "order-without-body-site",
        "order-site-unrecognised-text",
        "one-site-unrecognised",
        "either-site-same",
        "all-sites-apart",
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
        (body_site(sct("7769000", "Structure of right foot")), RIGHT_KNEE, [LOCAL]),
        (body_site(sct("7769000", "Structure of right foot")), LEFT_KNEE, []),
        (body_site(sct("30021000", "Lower leg structure"), sct("7771000", "Left")), LEFT_KNEE, [LOCAL]),
        (body_site(sct("30021000", "Lower leg structure"), sct("7771000", "Left")), RIGHT_KNEE, []),
        (
            body_site(
                sct("61685007", "Lower limb structure"),
                extensions=[laterality_extension("24028007", "Right")],
            ),
            RIGHT_KNEE,
            [LOCAL],
        ),
        (
            body_site(
                sct("61685007", "Lower limb structure"),
                extensions=[laterality_extension("24028007", "Right")],
            ),
            LEFT_KNEE,
            [],
        ),
        (
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
        ),
        (
            body_site(
                sct("61685007", "Lower limb structure"),
                extensions=[
                    laterality_extension("7771000", url="https://example.org/fhir/StructureDefinition/side")
                ],
            ),
            RIGHT_KNEE,
            [LOCAL],  # an extension that is not a laterality extension is not read: side unknown
        ),
        (body_site(sct("72696002:272741003=7771000")), LEFT_KNEE, [LOCAL]),
        (body_site(sct("72696002:272741003=7771000")), RIGHT_KNEE, []),
        (
            body_site(sct("72696002 |Knee region structure| : 272741003 |Laterality| = 24028007 |Right|")),
            LEFT_KNEE,
            [],
        ),
        (body_site(text="Right knee"), RIGHT_KNEE, [LOCAL]),
        (body_site(text="Right knee"), LEFT_KNEE, []),
        (body_site(text="Lt lower leg"), RIGHT_KNEE, []),
        (
            body_site(sct("72696002", "Knee region structure"), sct("51440002", "Right and left")),
            LEFT_KNEE,
            [LOCAL],
        ),
        (body_site(text="Knee, bilateral"), RIGHT_KNEE, [LOCAL]),
        (body_site(text="Both knees"), RIGHT_KNEE, [LOCAL]),  # both sides, knee region
        (body_site(sct("72696002", "Knee region structure")), LEFT_KNEE, [LOCAL]),
    ],
    ids=[
        "precoordinated-right-foot-vs-right-knee",
        "precoordinated-right-foot-vs-left-knee",
        "qualifier-coding-left-vs-left",
        "qualifier-coding-left-vs-right",
        "mcode-extension-right-vs-right",
        "mcode-extension-right-vs-left",
        "bodysite-laterality-extension-left-vs-left",
        "unrelated-extension-ignored",
        "postcoordinated-left-knee-vs-left",
        "postcoordinated-left-knee-vs-right",
        "postcoordinated-with-terms-right-vs-left",
        "text-right-knee-vs-right",
        "text-right-knee-vs-left",
        "text-abbreviation-lt-vs-right",
        "bilateral-qualifier-vs-left",
        "bilateral-text-vs-right",
        "plural-text-both-knees-is-local",
        "no-side-matches-either-side",
    ],
)
def test_sides(infection_site: Json, order_site: Json, expected: list[str], knowledge: Knowledge) -> None:
    assert _infection_codes(knowledge, _cellulitis(infection_site), order_site) == expected


@pytest.mark.parametrize(
    ("order_site", "expected"),
    [
        (LEFT_KNEE, [LOCAL]),
        (RIGHT_KNEE, []),
        (body_site(sct("72696002:272741003=24028007")), []),
        (
            body_site(sct("72696002", "Knee region structure"), extensions=[laterality_extension("7771000")]),
            [LOCAL],
        ),
        (body_site(text="L knee"), [LOCAL]),  # "L" alone is not a side keyword: side unknown -> same region
    ],
    ids=[
        "left-knee",
        "right-knee",
        "postcoordinated-right-order",
        "extension-left-order",
        "text-l-knee-order",
    ],
)
def test_order_sides(order_site: Json, expected: list[str], knowledge: Knowledge) -> None:
    infection = _cellulitis(body_site(text="Left lower leg"))
    assert _infection_codes(knowledge, infection, order_site) == expected


@pytest.mark.parametrize(
    ("infection", "order_site", "expected"),
    [
        (
            _cellulitis(body_site(sct("45048000", "Neck structure"), sct("7771000", "Left"))),
            RIGHT_NECK,
            [NEAR],
        ),
        (_cellulitis(body_site(text="Left side of neck")), RIGHT_NECK, [NEAR]),
        (_cellulitis(body_site(text="Right lower back")), body_site(text="Left lumbar paraspinals"), [NEAR]),
        (_cellulitis(body_site(text="Left lower back")), body_site(text="Left quadratus lumborum"), [LOCAL]),
        (_cellulitis(body_site(text="Left chest wall")), CHEST_WALL, [LOCAL]),
    ],
    ids=[
        "neck-left-vs-right-near",
        "neck-text-left-vs-right-near",
        "lower-back-right-vs-left-near",
        "lower-back-same-side",
        "chest-side-vs-no-side",
    ],
)
def test_midline_regions_on_different_sides_are_near(
    infection: Json, order_site: Json, expected: list[str], knowledge: Knowledge
) -> None:
    assert _infection_codes(knowledge, infection, order_site) == expected


@pytest.mark.parametrize(
    ("infection_site", "order_site", "expected"),
    [
        (body_site(sct("16982005"), sct("24028007", "Right")), RIGHT_FOREARM, [NEAR]),
        (body_site(sct("16982005"), sct("24028007", "Right")), LEFT_FOREARM, []),
        (body_site(sct("16982005"), sct("7771000", "Left")), NECK, [NEAR]),
        (body_site(sct("29836001", "Hip region structure"), sct("7771000", "Left")), LUMBAR, [NEAR]),
        (body_site(sct("29836001", "Hip region structure"), sct("7771000", "Left")), RIGHT_KNEE, []),
        (body_site(sct("29836001", "Hip region structure"), sct("7771000", "Left")), LEFT_KNEE, [NEAR]),
    ],
    ids=[
        "right-shoulder-vs-right-arm-adjacent",
        "right-shoulder-vs-left-arm-other-side",
        "left-shoulder-vs-neck-midline-adjacent",
        "left-hip-vs-lumbar-adjacent",
        "left-hip-vs-right-leg-other-side",
        "left-hip-vs-left-leg-adjacent",
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
        (
            icd_condition("L03.90", "Cellulitis, unspecified", body_sites=[body_site(text="Right knee")]),
            RIGHT_KNEE,
            [LOCAL],
        ),
        # an ICD side fills a bodySite that has no side (L03.116 = left lower limb)
        (
            icd_condition(
                "L03.116",
                "Cellulitis of left lower limb",
                body_sites=[body_site(sct("30021000", "Lower leg structure"))],
            ),
            RIGHT_KNEE,
            [],
        ),
        (
            icd_condition(
                "L03.116",
                "Cellulitis of left lower limb",
                body_sites=[body_site(sct("30021000", "Lower leg structure"))],
            ),
            LEFT_KNEE,
            [LOCAL],
        ),
        # a side-only bodySite fills the region from the ICD digits
        (
            icd_condition(
                "L02.619",
                "Cutaneous abscess of unspecified foot",
                body_sites=[body_site(sct("24028007", "Right"))],
            ),
            LEFT_KNEE,
            [],
        ),
        (
            icd_condition(
                "L02.619",
                "Cutaneous abscess of unspecified foot",
                body_sites=[body_site(sct("24028007", "Right"))],
            ),
            RIGHT_KNEE,
            [LOCAL],
        ),
        # SNOMED disorders that imply their finding site
        (condition(concept(sct("24288004", "Cellulitis of ankle"))), RIGHT_KNEE, [LOCAL]),
        (
            condition(concept(sct("70637004", "Cellulitis of toe")), body_sites=[body_site(text="Left")]),
            RIGHT_KNEE,
            [],
        ),
        # SNOMED infection with no site at all
        (condition(concept(sct("128477000", "Abscess"))), RIGHT_KNEE, [NEAR]),
        (condition(concept(sct("95880003", "Soft tissue infection"))), NECK, [NEAR]),
        # an unrecognised bodySite is ignored; the ICD digits still give the site
        (
            icd_condition(
                "L03.115", "Cellulitis of right lower limb", body_sites=[body_site(text="Lateral aspect")]
            ),
            LEFT_KNEE,
            [],
        ),
    ],
    ids=[
        "bodysite-over-unspecified-icd",
        "icd-side-fills-bodysite-other-side",
        "icd-side-fills-bodysite-same-side",
        "side-only-bodysite-other-side",
        "side-only-bodysite-same-side",
        "snomed-cellulitis-of-ankle",
        "snomed-cellulitis-of-toe-left-text",
        "snomed-abscess-no-site",
        "snomed-soft-tissue-infection-no-site",
        "unrecognised-bodysite-falls-back-to-icd",
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
        ({}, [LOCAL]),
        ({"clinical_status": "recurrence"}, [LOCAL]),
        ({"clinical_status": "resolved", "abatement": days_ago(10)}, []),
        ({"clinical_status": "inactive"}, []),
        ({"verification_status": "entered-in-error"}, []),
        ({"verification_status": "refuted"}, []),
        ({"clinical_status": None, "abatement": days_ago(1)}, []),
        ({"clinical_status": "active", "abatement": days_ahead(5)}, [LOCAL]),
    ],
    ids=[
        "active",
        "recurrence",
        "resolved",
        "inactive",
        "entered-in-error",
        "refuted",
        "abated-yesterday",
        "abatement-expected-in-future",
    ],
)
def test_infection_status(kwargs: dict[str, Any], expected: list[str], knowledge: Knowledge) -> None:
    infection = icd_condition("L03.115", "Cellulitis of right lower limb", onset=days_ago(6), **kwargs)
    assert _infection_codes(knowledge, infection, RIGHT_KNEE) == expected


@pytest.mark.parametrize(
    "code",
    [
        icd("L03.115", system="urn:oid:2.16.840.1.113883.6.90"),
        icd("M60.051", "Infective myositis, right thigh"),
        icd("T81.41XA", "Infection following a procedure, superficial incisional surgical site"),
        icd("B00.1", "Herpesviral vesicular dermatitis"),
        sct("128045006", "Cellulitis"),
    ],
    ids=[
        "icd-oid",
        "m60-infective-myositis",
        "t81-4-post-procedural",
        "b00-herpes-simplex",
        "snomed-cellulitis",
    ],
)
def test_infection_codes_recognised(code: Json, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(code), id="inf-1"))
    assert [i.evidence.reference for i in find_active_infections(record, knowledge, NOW)] == [
        "Condition/inf-1"
    ]


@pytest.mark.parametrize(
    "code",
    [
        icd("L40.0", "Psoriasis vulgaris"),
        icd("L90.5", "Scar conditions and fibrosis of skin"),  # L98.4 ulcers count since issue 11 class 8
        icd("J18.9", "Pneumonia, unspecified organism"),
        sct("L03.115"),
        icd("128045006"),
    ],
    ids=["psoriasis", "scar", "pneumonia", "icd-code-snomed-system", "snomed-code-icd-system"],
)
def test_non_infection_codes_ignored(code: Json, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(code)))
    assert find_active_infections(record, knowledge, NOW) == []


def test_infection_finding_content(knowledge: Knowledge) -> None:
    infection = icd_condition("L03.115", "Cellulitis of right lower limb", id="inf-9", onset=days_ago(4))
    bundle = draft_orders(
        dry_needling_order(id="dn-r", body_sites=[RIGHT_KNEE]),
        dry_needling_order(id="dn-l", body_sites=[LEFT_KNEE]),
        dry_needling_order(id="dn-h", body_sites=[RIGHT_HIP]),
    )
    orders = find_dry_needling_orders(bundle, knowledge)
    findings = evaluate_orders(orders, patient_record(infection), knowledge, NOW)
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
    findings = evaluate_orders([_order(knowledge, RIGHT_KNEE)], record, knowledge, NOW)
    assert [(f.code, f.evidence[0].reference) for f in findings if f.code in INFECTION_CODES] == [
        (LOCAL, "Condition/inf-a"),
        (NEAR, "Condition/inf-b"),
    ]
