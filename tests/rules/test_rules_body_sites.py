"""How the ordered needling site and the infection site are read (body-regions.json), safety-review gaps.

Clinical wording in free text and displays (plurals, muscles, "lower extremity", multi-region words such as
"back"), side abbreviations ("R knee", "Knee (R)", "RLE"; never "L4-5" or "L spine"), pre-coordinated sided
SNOMED sites, and the site and side that ICD-10-CM M00/M60.0/M86/L04 codes carry in their characters.
Each case runs a realistic Condition and draft ServiceRequest through ``evaluate_orders``: same region and
side -> ``local-infection``; adjacent or unknown -> ``infection-near-site``; other side of a limb or distant
-> nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from support.builders import (
    ICD10CM,
    SNOMED,
    Json,
    body_site,
    coding,
    concept,
    condition,
    days_ago,
    draft_orders,
    dry_needling_order,
    icd_condition,
    patient_record,
    sct,
    text_only,
)
from support.clock import TODAY
from support.paths import ROOT

from fhir_mappings import Knowledge, evaluate_orders, find_dry_needling_orders
from fhir_mappings.body_regions import BodySite, read_body_site, sites_from_icd
from fhir_mappings.infection import find_active_infections

LOCAL = "local-infection"
NEAR = "infection-near-site"
INFECTION_CODES = {LOCAL, NEAR}
DATA = ROOT / "fhir_mappings" / "data" / "body-regions.json"
LOCAL_BODY_SITES = "https://ehr.example.org/fhir/CodeSystem/body-site"

# Infections whose site is coded, as EHRs send them
RIGHT_LEG_CELLULITIS = ("L03.115", "Cellulitis of right lower limb")
LEFT_LEG_CELLULITIS = ("L03.116", "Cellulitis of left lower limb")
RIGHT_ARM_CELLULITIS = ("L03.113", "Cellulitis of right upper limb")
NECK_CELLULITIS = ("L03.221", "Cellulitis of neck")
BUTTOCK_ABSCESS = ("L02.31", "Cutaneous abscess of buttock")


def _order(knowledge: Knowledge, *sites: Json) -> Any:
    [order] = find_dry_needling_orders(
        draft_orders(dry_needling_order(id="dn-1", body_sites=list(sites))), knowledge
    )
    return order


def _infection_codes(knowledge: Knowledge, infection: Json, *order_sites: Json) -> list[str]:
    findings = evaluate_orders([_order(knowledge, *order_sites)], patient_record(infection), knowledge, TODAY)
    return [f.code for f in findings if f.code in INFECTION_CODES]


def _icd_infection(code: str, display: str) -> Json:
    return icd_condition(code, display, onset=days_ago(3))


def _cellulitis(*sites: Json) -> Json:
    """SNOMED 128045006 Cellulitis with its site only in bodySite."""
    return condition(concept(sct("128045006", "Cellulitis")), body_sites=list(sites), onset=days_ago(3))


def _read(knowledge: Knowledge, site: Json) -> BodySite:
    return read_body_site(site, knowledge.body_regions, knowledge.aliases)


LUMBAR_INFECTION = _cellulitis(body_site(sct("37822005", "Lumbar region structure")))
UPPER_BACK_INFECTION = _cellulitis(body_site(text="Interscapular area"))
RIGHT_LOWER_BACK_INFECTION = _cellulitis(body_site(text="Right lower back"))
RIGHT_HIP_INFECTION = _cellulitis(
    body_site(sct("29836001", "Hip region structure"), sct("24028007", "Right"))
)
RIGHT_KNEE_INFECTION = _cellulitis(body_site(text="Right knee"))


# --- 1. clinical wording: plurals, muscles, "extremity", words naming several regions -------------------


@pytest.mark.parametrize(
    ("infection", "order_text"),
    [
        (RIGHT_LEG_CELLULITIS, "Right lower extremity"),
        (RIGHT_LEG_CELLULITIS, "Right calves"),
        (RIGHT_LEG_CELLULITIS, "Right hamstrings"),
        (RIGHT_LEG_CELLULITIS, "Right quads"),
        (RIGHT_LEG_CELLULITIS, "Right feet, intrinsic muscles"),
        (RIGHT_LEG_CELLULITIS, "Right knees"),
        (RIGHT_LEG_CELLULITIS, "Right thighs"),
        (RIGHT_LEG_CELLULITIS, "Right gastroc"),
        (RIGHT_LEG_CELLULITIS, "Right soleus"),
        (RIGHT_LEG_CELLULITIS, "Right vastus lateralis"),
        (RIGHT_LEG_CELLULITIS, "Right vastus medialis"),
        (RIGHT_LEG_CELLULITIS, "Right IT band"),
        (RIGHT_LEG_CELLULITIS, "Right ITB"),
        (RIGHT_ARM_CELLULITIS, "Right upper extremity"),
        (RIGHT_ARM_CELLULITIS, "Right lateral epicondyle"),
        (RIGHT_ARM_CELLULITIS, "Right epicondyle, common extensor origin"),
        (NECK_CELLULITIS, "Levator scapulae"),
        (NECK_CELLULITIS, "Upper trap"),
        (BUTTOCK_ABSCESS, "Right glute"),
        (BUTTOCK_ABSCESS, "Glutes"),
        (BUTTOCK_ABSCESS, "Right hips"),
    ],
)
def test_clinical_wording_reads_the_same_site(
    infection: tuple[str, str], order_text: str, knowledge: Knowledge
) -> None:
    assert _infection_codes(knowledge, _icd_infection(*infection), text_only(order_text)) == [LOCAL]


@pytest.mark.parametrize(
    ("infection", "order_text"),
    [
        (RIGHT_ARM_CELLULITIS, "Right shoulders"),  # shoulder is next to the arm
        (RIGHT_LEG_CELLULITIS, "Right glutes"),  # hip is next to the leg
    ],
)
def test_clinical_wording_reads_an_adjacent_site(
    infection: tuple[str, str], order_text: str, knowledge: Knowledge
) -> None:
    assert _infection_codes(knowledge, _icd_infection(*infection), text_only(order_text)) == [NEAR]


@pytest.mark.parametrize(
    ("infection", "order_text", "expected"),
    [
        (LUMBAR_INFECTION, "Lumbar paraspinals", [LOCAL]),
        (LUMBAR_INFECTION, "Paraspinals", [LOCAL]),
        (LUMBAR_INFECTION, "Paraspinal muscles", [LOCAL]),
        (LUMBAR_INFECTION, "Multifidus", [LOCAL]),
        (LUMBAR_INFECTION, "Erector spinae", [LOCAL]),
        (LUMBAR_INFECTION, "QL", [LOCAL]),
        (LUMBAR_INFECTION, "Lumbosacral", [LOCAL]),
        (LUMBAR_INFECTION, "Back", [LOCAL]),
        (UPPER_BACK_INFECTION, "Back", [LOCAL]),
        (UPPER_BACK_INFECTION, "Rhomboid", [LOCAL]),
        (UPPER_BACK_INFECTION, "Paraspinals", [LOCAL]),
        # "lumbar paraspinals" is the longer keyword: lower back only, so the upper back is adjacent
        (UPPER_BACK_INFECTION, "Lumbar paraspinals", [NEAR]),
        (RIGHT_KNEE_INFECTION, "Lumbar paraspinals", []),
        (RIGHT_KNEE_INFECTION, "Levator scapulae", []),
    ],
)
def test_trunk_wording(infection: Json, order_text: str, expected: list[str], knowledge: Knowledge) -> None:
    assert _infection_codes(knowledge, infection, text_only(order_text)) == expected


@pytest.mark.parametrize(
    ("text", "regions"),
    [
        ("Back", {"THORACIC_BACK", "LUMBAR"}),
        ("Paraspinals", {"THORACIC_BACK", "LUMBAR"}),
        ("Lumbar paraspinals", {"LUMBAR"}),
        ("Thoracic paraspinals", {"THORACIC_BACK"}),
        ("Upper back", {"THORACIC_BACK"}),
        ("Levator scapulae", {"NECK", "SHOULDER_GIRDLE"}),
        ("Upper trap", {"NECK", "SHOULDER_GIRDLE"}),
        ("Left wrist and neck", {"UPPER_LIMB", "NECK"}),
        ("Right calf and hamstrings, low back", {"LOWER_LIMB", "LUMBAR"}),
        ("RLE", {"LOWER_LIMB"}),
        ("LUE", {"UPPER_LIMB"}),
        ("L4-5", {"LUMBAR"}),
        ("L4-5 paraspinals", {"LUMBAR", "THORACIC_BACK"}),  # "paraspinals" alone names both backs
        ("Area of maximal tenderness", set()),
        ("Itching", set()),  # "it" is not a keyword on its own; "it band" is
    ],
)
def test_text_reads_every_region_named(text: str, regions: set[str], knowledge: Knowledge) -> None:
    assert _read(knowledge, text_only(text)).regions == regions


# --- 2. side abbreviations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("R knee", "right"),
        ("R. knee", "right"),
        ("Knee (R)", "right"),
        ("Knee, R", "right"),
        ("Rt knee", "right"),
        ("RT. KNEE", "right"),
        ("L shoulder", "left"),
        ("L. shoulder", "left"),
        ("Shoulder (L)", "left"),
        ("Lt shoulder", "left"),
        ("RLE", "right"),
        ("LLE", "left"),
        ("RUE", "right"),
        ("LUE", "left"),
        ("B/L calves", "both"),
        ("Bilat hamstrings", "both"),
        ("R and L knees", "both"),
        ("L4-5 paraspinals", None),
        ("L5-S1", None),
        ("L 5 paraspinals", None),
        ("L spine", None),
        ("L-spine paraspinals", None),
        ("T12/L1", None),
        ("T-L junction", None),
        ("T/L junction paraspinals", None),
        ("L/S paraspinals", None),
        ("R-knee", "right"),
        ("R hip/L knee", "both"),
        ("R/L knees", "both"),
        ("R&L knees", "both"),
        ("Lower leg, L", "left"),
        ("Knee", None),
    ],
)
def test_side_words(text: str, side: str | None, knowledge: Knowledge) -> None:
    assert _read(knowledge, text_only(text)).side == side


@pytest.mark.parametrize(
    ("order_text", "expected"),
    [
        ("R knee", []),
        ("R. knee", []),
        ("Knee (R)", []),
        ("Rt calf", []),
        ("RLE", []),
        ("L knee", [LOCAL]),
        ("L. knee", [LOCAL]),
        ("Knee (L)", [LOCAL]),
        ("LLE", [LOCAL]),
        ("Lt hamstrings", [LOCAL]),
        ("B/L knees", [LOCAL]),
        ("RUE", []),  # other limb, other side
        ("LUE", []),  # other limb
    ],
)
def test_side_abbreviations_on_the_order_vs_left_leg_cellulitis(
    order_text: str, expected: list[str], knowledge: Knowledge
) -> None:
    infection = _icd_infection(*LEFT_LEG_CELLULITIS)
    assert _infection_codes(knowledge, infection, text_only(order_text)) == expected


@pytest.mark.parametrize(
    ("infection", "order_text", "expected"),
    [
        # a vertebral level is not a side: no side on the order -> same region, whatever the infection side
        (RIGHT_LOWER_BACK_INFECTION, "L4-5 paraspinals", [LOCAL]),
        (RIGHT_LOWER_BACK_INFECTION, "L spine", [LOCAL]),
        (RIGHT_HIP_INFECTION, "L5-S1", [LOCAL]),
        # a real left side against a right lower back (midline region): near, not same
        (RIGHT_LOWER_BACK_INFECTION, "L lumbar paraspinals", [NEAR]),
    ],
)
def test_vertebral_levels_are_not_left(
    infection: Json, order_text: str, expected: list[str], knowledge: Knowledge
) -> None:
    assert _infection_codes(knowledge, infection, text_only(order_text)) == expected


@pytest.mark.parametrize(
    ("infection_text", "expected"),
    [("R knee", [LOCAL]), ("Knee (L)", []), ("RLE", [LOCAL]), ("LLE", [])],
)
def test_side_abbreviations_on_the_infection(
    infection_text: str, expected: list[str], knowledge: Knowledge
) -> None:
    order_site = body_site(sct("72696002", "Knee region structure"), sct("24028007", "Right"))
    assert _infection_codes(knowledge, _cellulitis(body_site(text=infection_text)), order_site) == expected


# --- 3. pre-coordinated sided SNOMED sites, and sides in displays --------------------------------------


@pytest.mark.parametrize(
    ("infection_site", "order_text", "expected"),
    [
        pytest.param(
            body_site(sct("22335008", "Structure of left foot")),
            "Left knee",
            [LOCAL],
            id="left-foot-vs-left-knee",
        ),
        pytest.param(
            body_site(sct("22335008", "Structure of left foot")),
            "Right knee",
            [],
            id="left-foot-vs-right-knee",
        ),
        pytest.param(
            body_site(sct("6757004", "Right knee region structure"), text="Knee"),
            "Right calf",
            [LOCAL],
            id="right-knee-text-without-side-vs-right",
        ),
        pytest.param(
            body_site(sct("6757004", "Right knee region structure"), text="Knee"),
            "Left calf",
            [],
            id="right-knee-text-without-side-vs-left",
        ),
        pytest.param(
            body_site(sct("82169009", "Structure of left knee region")),
            "Left thigh",
            [LOCAL],
            id="left-knee-vs-left-thigh",
        ),
        pytest.param(
            body_site(sct("82169009", "Structure of left knee region")),
            "Right thigh",
            [],
            id="left-knee-vs-right-thigh",
        ),
        pytest.param(
            body_site(sct("82169009")), "Right thigh", [], id="left-knee-code-without-display"
        ),  # the code alone carries the side
    ],
)
def test_precoordinated_sided_sites(
    infection_site: Json, order_text: str, expected: list[str], knowledge: Knowledge
) -> None:
    assert _infection_codes(knowledge, _cellulitis(infection_site), text_only(order_text)) == expected


@pytest.mark.parametrize(
    ("infection_site", "order_text", "expected"),
    [
        # the region anchor is coded, the side is only in its display
        pytest.param(
            body_site(sct("72696002", "Right knee region structure"), text="Knee"),
            "Left knee",
            [],
            id="anchor-display-right-vs-left",
        ),
        pytest.param(
            body_site(sct("72696002", "Right knee region structure"), text="Knee"),
            "Right knee",
            [LOCAL],
            id="anchor-display-right-vs-right",
        ),
        # a sided SNOMED site not in the table: region and side from the display
        pytest.param(
            body_site(sct("32696007", "Structure of right lower leg"), text="Lower leg"),
            "Left knee",
            [],
            id="unknown-sided-code-display-vs-left",
        ),
        pytest.param(
            body_site(sct("32696007", "Structure of right lower leg"), text="Lower leg"),
            "Right knee",
            [LOCAL],
            id="unknown-sided-code-display-vs-right",
        ),
        # a local code system: its display is read as well
        pytest.param(
            body_site(coding(LOCAL_BODY_SITES, "KNEE-L", "Knee, left")),
            "Right knee",
            [],
            id="local-code-display-left-vs-right",
        ),
        pytest.param(
            body_site(coding(LOCAL_BODY_SITES, "KNEE-L", "Knee, left")),
            "Left knee",
            [LOCAL],
            id="local-code-display-left-vs-left",
        ),
        # a display contradicting the coded side: both sides, so neither side is dismissed
        pytest.param(
            body_site(sct("72696002"), sct("7771000", "Left"), text="Right knee"),
            "Right knee",
            [LOCAL],
            id="contradicting-sides-vs-right",
        ),
        pytest.param(
            body_site(sct("72696002"), sct("7771000", "Left"), text="Right knee"),
            "Left knee",
            [LOCAL],
            id="contradicting-sides-vs-left",
        ),
    ],
)
def test_sides_and_regions_from_displays(
    infection_site: Json, order_text: str, expected: list[str], knowledge: Knowledge
) -> None:
    assert _infection_codes(knowledge, _cellulitis(infection_site), text_only(order_text)) == expected


def test_order_side_from_the_display_of_its_site(knowledge: Knowledge) -> None:
    order_site = {
        "coding": [{"system": SNOMED, "code": "72696002", "display": "Right knee region structure"}],
        "text": "Knee",
    }
    infection = _icd_infection(*LEFT_LEG_CELLULITIS)
    assert _infection_codes(knowledge, infection, order_site) == []
    assert _read(knowledge, order_site) == BodySite(frozenset({"LOWER_LIMB"}), "right", "Knee")


# --- 4. ICD-10-CM site characters beyond L02/L03 --------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "display", "order_text", "expected"),
    [
        ("M60.051", "Infective myositis, right thigh", "Right thigh", [LOCAL]),
        ("M60.051", "Infective myositis, right thigh", "Left thigh", []),
        ("M60.051", "Infective myositis, right thigh", "Right glute", [LOCAL]),  # thigh reads hip and leg
        ("M00.061", "Staphylococcal arthritis, right knee", "Right knee", [LOCAL]),
        ("M00.061", "Staphylococcal arthritis, right knee", "Left knee", []),
        ("M00.162", "Pneumococcal arthritis, left knee", "L knee", [LOCAL]),
        ("M00.069", "Staphylococcal arthritis, unspecified knee", "Left knee", [LOCAL]),
        ("M00.069", "Staphylococcal arthritis, unspecified knee", "Right knee", [LOCAL]),
        ("M00.011", "Staphylococcal arthritis, right shoulder", "Right upper trap", [LOCAL]),
        ("M00.011", "Staphylococcal arthritis, right shoulder", "Right forearm", [NEAR]),
        ("M00.811", "Arthritis due to other bacteria, right shoulder", "Left shoulder", []),
        ("M00.232", "Other streptococcal arthritis, left wrist", "Left forearm", [LOCAL]),
        ("M86.161", "Other acute osteomyelitis, right tibia and fibula", "Left calf", []),
        ("M86.161", "Other acute osteomyelitis, right tibia and fibula", "Right calf", [LOCAL]),
        ("M86.272", "Subacute osteomyelitis, left ankle and foot", "Left calf", [LOCAL]),
        ("M86.041", "Acute hematogenous osteomyelitis, right hand", "Right forearm", [LOCAL]),
        ("M86.651", "Other chronic osteomyelitis, right thigh", "Right hamstrings", [LOCAL]),
        ("M86.452", "Chronic osteomyelitis with draining sinus, left femur", "Right hamstrings", []),
        # site characters that give no site -> unknown -> near
        ("M00.08", "Staphylococcal arthritis, vertebrae", "Lumbar paraspinals", [NEAR]),
        ("M00.08", "Staphylococcal arthritis, vertebrae", "Right knee", [NEAR]),
        ("M00.09", "Staphylococcal polyarthritis", "Right knee", [NEAR]),
        ("M00.9", "Pyogenic arthritis, unspecified", "Right knee", [NEAR]),
        ("M86.18", "Other acute osteomyelitis, other site", "Right knee", [NEAR]),
        ("M86.9", "Osteomyelitis, unspecified", "Right knee", [NEAR]),
        ("M60.009", "Infective myositis, unspecified site", "Right knee", [NEAR]),
        ("M60.08", "Infective myositis, other site", "Right knee", [NEAR]),
        ("M60.09", "Infective myositis, multiple sites", "Right knee", [NEAR]),
        # M60.00-, M60.04- and M60.07-: the 6th character names the part too (listed exceptions)
        ("M60.003", "Infective myositis, unspecified right leg", "Right knee", [LOCAL]),
        ("M60.003", "Infective myositis, unspecified right leg", "Left knee", []),
        ("M60.001", "Infective myositis, unspecified left arm", "Right forearm", []),
        ("M60.001", "Infective myositis, unspecified left arm", "Left forearm", [LOCAL]),
        ("M60.071", "Infective myositis, left ankle", "Left calf", [LOCAL]),
        ("M60.071", "Infective myositis, left ankle", "Right calf", []),  # "1" here is LEFT
        ("M60.070", "Infective myositis, right ankle", "Left calf", []),
        ("M60.074", "Infective myositis, left foot", "Right foot", []),
        ("M60.075", "Infective myositis, unspecified foot", "Right foot", [LOCAL]),
        ("M60.044", "Infective myositis, right finger(s)", "Left forearm", []),
        ("M60.045", "Infective myositis, left finger(s)", "Left forearm", [LOCAL]),
        ("M60.046", "Infective myositis, unspecified finger(s)", "Right forearm", [LOCAL]),
        # L04 lymphadenitis: site, no side
        ("L04.0", "Acute lymphadenitis of face, head and neck", "Upper trap", [LOCAL]),
        ("L04.0", "Acute lymphadenitis of face, head and neck", "Temporalis", [LOCAL]),
        ("L04.1", "Acute lymphadenitis of trunk", "Lumbar paraspinals", [LOCAL]),
        ("L04.1", "Acute lymphadenitis of trunk", "Rhomboids", [LOCAL]),
        ("L04.1", "Acute lymphadenitis of trunk", "Right knee", []),
        ("L04.2", "Acute lymphadenitis of upper limb", "Left forearm", [LOCAL]),
        ("L04.2", "Acute lymphadenitis of upper limb", "Right knee", []),
        ("L04.3", "Acute lymphadenitis of lower limb", "R knee", [LOCAL]),
        ("L04.3", "Acute lymphadenitis of lower limb", "Right glute", [NEAR]),
        ("L04.8", "Acute lymphadenitis of other sites", "Right knee", [NEAR]),
        ("L04.9", "Acute lymphadenitis, unspecified", "Right knee", [NEAR]),
    ],
)
def test_icd_site_characters(
    code: str, display: str, order_text: str, expected: list[str], knowledge: Knowledge
) -> None:
    assert _infection_codes(knowledge, _icd_infection(code, display), text_only(order_text)) == expected


@pytest.mark.parametrize(
    ("code", "regions", "side"),
    [
        ("M60.051", {"PELVIS_HIP", "LOWER_LIMB"}, "right"),
        ("M60051", {"PELVIS_HIP", "LOWER_LIMB"}, "right"),
        ("m00.061", {"LOWER_LIMB"}, "right"),
        ("M86.162", {"LOWER_LIMB"}, "left"),
        ("M86.16", {"LOWER_LIMB"}, None),
        ("M00.219", {"SHOULDER_GIRDLE"}, None),
        ("M60.071", {"LOWER_LIMB"}, "left"),
        ("M60.076", {"LOWER_LIMB"}, "right"),
        ("M60.07", {"LOWER_LIMB"}, None),
        ("L04.1", {"THORAX", "THORACIC_BACK", "ABDOMEN", "LUMBAR"}, None),
        ("L03.116", {"LOWER_LIMB"}, "left"),  # the explicit L02/L03 table is unchanged
    ],
)
def test_sites_from_icd(code: str, regions: set[str], side: str | None, knowledge: Knowledge) -> None:
    site = sites_from_icd(code, knowledge.body_regions)
    assert site is not None
    assert (set(site.regions), site.side) == (regions, side)


@pytest.mark.parametrize("code", ["M00.08", "M00.0", "M00", "M86.8X9", "M60.0", "M60.09", "L04.9", "M54.50"])
def test_icd_codes_without_a_site(code: str, knowledge: Knowledge) -> None:
    assert sites_from_icd(code, knowledge.body_regions) is None


def test_condition_body_site_side_fills_an_icd_digit_site(knowledge: Knowledge) -> None:
    myositis = icd_condition(
        "M60.069",
        "Infective myositis, unspecified lower leg",
        onset=days_ago(3),
        body_sites=[body_site(sct("7771000", "Left"))],
    )
    assert _infection_codes(knowledge, myositis, text_only("Right calf")) == []
    assert _infection_codes(knowledge, myositis, text_only("Left calf")) == [LOCAL]


def test_icd_site_digits_are_read_under_the_icd_oid(knowledge: Knowledge) -> None:
    infection = condition(
        concept(
            coding("urn:oid:2.16.840.1.113883.6.90", "M86.161", "Other acute osteomyelitis, right tibia")
        ),
        onset=days_ago(3),
    )
    [found] = find_active_infections(patient_record(infection), knowledge, TODAY)
    assert [(s.regions, s.side) for s in found.sites] == [(frozenset({"LOWER_LIMB"}), "right")]
    assert _infection_codes(knowledge, infection, text_only("Left calf")) == []


# --- 5. bounded reading -----------------------------------------------------------------------------------


def test_text_cut_at_the_cap_never_leaves_a_one_letter_side(knowledge: Knowledge) -> None:
    text = "knee " + "a" * 249 + " left and more"  # the 256-character cap falls inside "left"
    site = _read(knowledge, text_only(text))
    assert site.regions == {"LOWER_LIMB"}
    assert site.side is None  # "l" of a cut "left" is not read as left; an unknown side matches both


def test_many_codings_and_long_displays_are_read_in_bounded_time(knowledge: Knowledge) -> None:
    displays = [{"system": LOCAL_BODY_SITES, "code": str(i), "display": "R " * 5_000} for i in range(20_000)]
    site_concept = {"coding": [{"system": SNOMED, "code": "72696002"}, *displays], "text": "Knee"}
    start = time.perf_counter()
    site = _read(knowledge, site_concept)
    assert time.perf_counter() - start < 30  # a sanity bound only (~0.1 s): scanning all 100 MB would not end
    assert (set(site.regions), site.side) == ({"LOWER_LIMB"}, "right")
    assert len(site.label) <= 256


def test_patterns_are_compiled_once_per_knowledge_load(knowledge: Knowledge) -> None:
    regions = knowledge.body_regions
    before = (regions.region_pattern, regions.side_pattern)
    _read(knowledge, text_only("R knee and L shoulder"))
    assert (regions.region_pattern, regions.side_pattern) == before
    assert {"back", "paraspinals", "rle"} <= set(regions.keyword_regions)


# --- the data file: every rule is well formed and sourced ------------------------------------------------

DOCUMENT = json.loads(DATA.read_text(encoding="utf-8"))
REGIONS = set(DOCUMENT["regions"])
DIGIT_RULES = DOCUMENT["icd_site_digit_rules"]


def test_body_regions_names_its_sources() -> None:
    sources = " ".join(DOCUMENT["sources"])
    assert "ICD-10-CM FY2026 tabular" in sources and "chapter 13" in sources
    assert "icd_site_digit_rules" in DOCUMENT["_comment"]
    assert "several regions" in DOCUMENT["_comment"]


@pytest.mark.parametrize("rule", [pytest.param(r, id=r["prefixes"][0]) for r in DIGIT_RULES])
def test_icd_site_digit_rules_are_well_formed(rule: Json, knowledge: Knowledge) -> None:
    infection_value_set = knowledge.value_set("skin-soft-tissue-infection")
    assert rule["source"].startswith("ICD-10-CM FY2026 tabular") and rule["verification"] == "verified"
    for prefix in rule["prefixes"]:
        assert infection_value_set.contains(ICD10CM, prefix), prefix  # only infection codes carry these rules
    assert all(len(digit) == 1 and set(regions) <= REGIONS for digit, regions in rule["site_digits"].items())
    assert all(len(digit) == 1 and side in {"right", "left"} for digit, side in rule["side_digits"].items())
    for exception in rule.get("exceptions", []):
        assert set(exception["regions"]) <= REGIONS and exception.get("side") in {None, "right", "left"}
        assert all(any(code.startswith(p) for p in rule["prefixes"]) for code in exception["codes"])


@pytest.mark.parametrize(
    ("code", "entry"),
    [(c, e) for c, e in DOCUMENT["precoordinated_sided_sites"].items() if not c.startswith("_")],
)
def test_precoordinated_sites_carry_their_verification(code: str, entry: Json) -> None:
    assert code.isdigit() and entry["region"] in REGIONS and entry["side"] in {"right", "left"}
    assert entry["verification"] in {"verified", "unverified"} and entry["source"]
    assert entry["display"]


def test_keywords_name_known_regions_and_are_lower_case() -> None:
    keywords = {k: v for k, v in DOCUMENT["text_keywords"].items() if not k.startswith("_")}
    assert set(keywords) <= REGIONS
    words = [w for ws in keywords.values() for w in ws]
    words += [w for k, ws in DOCUMENT["side_keywords"].items() if not k.startswith("_") for w in ws]
    assert all(w == w.lower().strip() and w for w in words)
    assert set(keywords["THORACIC_BACK"]) & set(keywords["LUMBAR"]) >= {"back", "paraspinals"}
