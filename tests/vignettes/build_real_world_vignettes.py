"""Writes tests/vignettes/real-world-forms.json: the issue-11 vignettes (real-world data forms).

    python tests/vignettes/build_real_world_vignettes.py

Each vignette is one patient with a dry-needling order, written in the forms production EHRs send (free-text
answers, SNOMED CT beyond short lists, pre-coordinated sided sites, contained Medications, RxNorm products,
lab strings, panels, procedures ending a pregnancy, look-alike infections, stale problem-list infections,
menopause). Dates are relative to the file's ``authoredOn`` (= tests/support/clock.py TODAY); the suite shifts
them to its run date. The expected findings are written from the clinical rule, not read from the service.
"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.* when run as a script
from support.fhir_types import Json
from support.paths import VIGNETTE_DIR

AUTHORED = date(2026, 11, 26)
OUT = VIGNETTE_DIR / "real-world-forms.json"
HTEST = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}]}
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
BASE = ["indication-found", "risk-disclosure"]


def ago(days: int) -> str:
    return (AUTHORED - timedelta(days=days)).isoformat()


def cc(
    system: str | None = None, code: str | None = None, display: str | None = None, text: str | None = None
) -> Json:
    concept: Json = {}
    if system:
        coding: Json = {"system": system, "code": code}
        if display:
            coding["display"] = display
        concept["coding"] = [coding]
    if text:
        concept["text"] = text
    return concept


class Chart:
    """One vignette's resources under construction."""

    def __init__(self, slug: str, *, female: bool = False, age: int = 62) -> None:
        self.slug = slug
        self.pid = f"rw-{slug}"
        self.n = 0
        born = date(AUTHORED.year - age, 3, 1).isoformat()
        self.resources: list[Json] = [
            {
                "resourceType": "Patient",
                "id": self.pid,
                "meta": HTEST,
                "gender": "female" if female else "male",
                "birthDate": born,
            }
        ]

    def rid(self, kind: str) -> str:
        self.n += 1
        return f"{self.pid}-{kind}{self.n}"

    def subject(self) -> Json:
        return {"reference": f"Patient/{self.pid}"}

    def condition(
        self,
        code: Json,
        *,
        status: str | None = "active",
        onset: int | None = 20,
        recorded: int | None = None,
        body_site: Json | None = None,
        category: str = "problem-list-item",
    ) -> str:
        resource: Json = {
            "resourceType": "Condition",
            "id": self.rid("c"),
            "meta": HTEST,
            "category": [cc("http://terminology.hl7.org/CodeSystem/condition-category", category)],
            "verificationStatus": cc(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"
            ),
            "code": code,
            "subject": self.subject(),
        }
        if status:
            resource["clinicalStatus"] = cc(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", status
            )
        if onset is not None:
            resource["onsetDateTime"] = ago(onset)
        if recorded is not None:
            resource["recordedDate"] = ago(recorded)
        if body_site:
            resource["bodySite"] = [body_site]
        self.resources.append(resource)
        return resource["id"]

    def observation(
        self,
        code: Json,
        value: Json,
        *,
        days: int = 2,
        category: str = "laboratory",
        status: str = "final",
        extra: Json | None = None,
    ) -> str:
        resource: Json = {
            "resourceType": "Observation",
            "id": self.rid("o"),
            "meta": HTEST,
            "status": status,
            "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", category)],
            "code": code,
            "subject": self.subject(),
            "effectiveDateTime": ago(days),
            **value,
        }
        resource.update(extra or {})
        self.resources.append(resource)
        return resource["id"]

    def not_pregnant(self, days: int = 5) -> None:
        self.observation(
            cc(LOINC, "82810-3", "Pregnancy status"),
            {"valueCodeableConcept": cc(SCT, "60001007", "Not pregnant")},
            days=days,
            category="social-history",
        )

    def medication(self, medication: Json, *, contained: Json | None = None, status: str = "active") -> None:
        resource: Json = {
            "resourceType": "MedicationRequest",
            "id": self.rid("m"),
            "meta": HTEST,
            "status": status,
            "intent": "order",
            "subject": self.subject(),
            "authoredOn": ago(40),
            **medication,
        }
        if contained is not None:
            resource["contained"] = [contained]
        self.resources.append(resource)

    def procedure(self, system: str, code: str, display: str, days: int, status: str = "completed") -> None:
        self.resources.append(
            {
                "resourceType": "Procedure",
                "id": self.rid("p"),
                "meta": HTEST,
                "status": status,
                "code": cc(system, code, display),
                "subject": self.subject(),
                "performedDateTime": ago(days),
            }
        )

    def order(self, site: Json | None, reason: str) -> None:
        resource: Json = {
            "resourceType": "ServiceRequest",
            "id": self.rid("order"),
            "meta": HTEST,
            "status": "draft",
            "intent": "order",
            "code": cc(
                CPT,
                "20560",
                "Needle insertion(s) without injection(s); 1 or 2 muscle(s)",
                text="Dry needling",
            ),
            "subject": self.subject(),
            "authoredOn": AUTHORED.isoformat(),
            "reasonReference": [{"reference": f"Condition/{reason}"}],
        }
        if site is not None:
            resource["bodySite"] = [site]
        self.resources.append(resource)


LUMBAR = cc(SCT, "37822005", "Lumbar region structure", text="Lumbar paraspinals")
RIGHT_LEG = {
    "coding": [
        {"system": SCT, "code": "30021000", "display": "Lower leg structure"},
        {"system": SCT, "code": "24028007", "display": "Right"},
    ],
    "text": "Right calf",
}


def lumbar_order(chart: Chart) -> None:
    reason = chart.condition(cc(ICD, "M54.50", "Low back pain, unspecified"), onset=60)
    chart.order(LUMBAR, reason)


def leg_order(chart: Chart, site: Json = RIGHT_LEG) -> None:
    reason = chart.condition(cc(ICD, "M79.661", "Pain in right lower leg"), onset=30)
    chart.order(site, reason)


VIGNETTES: list[Json] = []


def add(
    chart: Chart,
    title: str,
    description: str,
    expected: list[str],
    tags: list[str],
    near_miss: list[str] | None = None,
) -> None:
    VIGNETTES.append(
        {
            "slug": chart.slug,
            "title": title,
            "description": description,
            "tags": tags,
            "nearMissOf": near_miss or [],
            "expectedFindings": sorted(expected),
            "resources": chart.resources,
        }
    )


def class1() -> None:
    status_code = cc(LOINC, "82810-3", "Pregnancy status")
    pregnant = [
        ("pregnant-no-complications", "Pregnant - no complications"),
        ("pregnant-rh-negative", "pregnant, Rh negative"),
        ("yes-pregnant-no-bleeding", "Yes, pregnant (no bleeding)"),
        ("currently-pregnant-no-issues", "Currently pregnant, no issues"),
        ("pregnant-gbs-negative", "Pregnant; GBS negative"),
        ("negative-but-pregnant", "Negative home test, but pregnant by ultrasound"),
        ("neg-possible-early", "Neg - possible early pregnancy"),
        ("pregnant-unsure", "pregnant? unsure"),
    ]
    for slug, text in pregnant:
        chart = Chart(f"c1-status-{slug}", female=True, age=29)
        chart.observation(status_code, {"valueString": text}, days=3, category="social-history")
        lumbar_order(chart)
        add(
            chart,
            f"Woman, 29, pregnancy status '{text}'",
            "The whole answer is read: a positive phrase with a "
            "negation word in a qualifier is pregnant; a positive and a negative phrase together are at best "
            "possible. Either is a first-trimester contraindication until confirmed.",
            [*BASE, "pregnancy-first-trimester"],
            ["free-text", "class-1"],
            ["pregnancy-status-unknown"],
        )
    for slug, text in [
        ("no", "No"),
        ("negative-for-pregnancy", "Negative for pregnancy"),
        ("not-pregnant-dot", "Not pregnant."),
        ("denies", "patient states she is not pregnant"),
    ]:
        chart = Chart(f"c1-status-neg-{slug}", female=True, age=34)
        chart.observation(status_code, {"valueString": text}, days=3, category="social-history")
        lumbar_order(chart)
        add(
            chart,
            f"Woman, 34, pregnancy status '{text}'",
            "A plain negative answer, recorded 3 days ago: not pregnant and the status is known.",
            BASE,
            ["free-text", "class-1"],
            ["pregnancy-first-trimester", "pregnancy-status-unknown"],
        )
    tests = [
        ("2106-3", "Positive, no hook effect"),
        ("2118-8", "POSITIVE - no interference"),
        ("80384-1", "Detected (faint line)"),
        ("80385-8", "Positive"),
        ("2112-1", "Reactive"),
        ("2110-5", "Positive; Rh negative mother"),
    ]
    for code, text in tests:
        chart = Chart(f"c1-hcg-{code}", female=True, age=26)
        chart.observation(cc(LOINC, code), {"valueString": text}, days=2)
        lumbar_order(chart)
        add(
            chart,
            f"Woman, 26, hCG {code} '{text}'",
            "A qualitative hCG test with a positive answer and a "
            "qualifier: pregnant (first trimester, undated).",
            [*BASE, "pregnancy-first-trimester"],
            ["free-text", "loinc", "class-1", "class-10"],
            ["pregnancy-status-unknown"],
        )


def class2() -> None:
    for code, display in [
        ("47200007", "High risk pregnancy"),
        ("237244005", "Single pregnancy"),
        ("169561007", "Pregnant - blood test confirms"),
        ("83074005", "Unplanned pregnancy"),
        ("10231000132102", "In-vitro fertilization pregnancy"),
        ("457811000124103", "Normal pregnancy in primigravida"),
    ]:
        chart = Chart(f"c2-preg-sct-{code}", female=True, age=31)
        chart.condition(cc(SCT, code, display), onset=None, recorded=5)
        lumbar_order(chart)
        add(
            chart,
            f"Woman, 31, problem '{display}' (SNOMED CT {code})",
            "A SNOMED CT pregnancy finding from the "
            "VSAC pregnancy value sets, recorded 5 days ago, no dating: first trimester cannot be excluded.",
            [*BASE, "pregnancy-first-trimester"],
            ["snomed", "vsac", "class-2"],
            ["pregnancy-status-unknown"],
        )
    for code, display in [
        ("64779008", "Blood coagulation disorder"),
        ("16922007", "Hereditary coagulation factor deficiency"),
        ("1286003", "Vitamin K deficiency coagulation disorder"),
        ("439157002", "Hereditary combined coagulation factor deficiency"),
        ("25904003", "Acquired coagulation factor deficiency"),
    ]:
        chart = Chart(f"c2-bleed-sct-{code}")
        chart.condition(cc(SCT, code, display), onset=400)
        lumbar_order(chart)
        add(
            chart,
            f"Man, 62, '{display}' (SNOMED CT only)",
            "A bleeding diathesis coded only in SNOMED CT "
            "(VSAC bleeding-diathesis set, diathesis half): contraindication.",
            [*BASE, "bleeding-disorder"],
            ["snomed", "vsac", "class-2"],
        )
    chart = Chart("c2-bleed-sct-active-bleeding-is-not-a-diathesis")
    chart.condition(cc(SCT, "1386000", "Intracranial hemorrhage"), status="resolved", onset=900)
    lumbar_order(chart)
    add(
        chart,
        "Man, 62, old intracranial hemorrhage (SNOMED CT), resolved",
        "Active bleeding is not a bleeding diathesis, and it is resolved: no bleeding-disorder card.",
        BASE,
        ["snomed", "class-2"],
        ["bleeding-disorder"],
    )
    chart = Chart("c2-bleed-sct-outside-sets-read-by-words")
    chart.condition(cc(SCT, "28293008", "Hereditary factor VIII deficiency disease"), onset=4000)
    lumbar_order(chart)
    add(
        chart,
        "Man, 62, hemophilia A under a SNOMED CT code no value set lists",
        "The code is placed by no "
        "value set, so the display is read: factor VIII deficiency is a bleeding disorder.",
        [*BASE, "bleeding-disorder"],
        ["snomed", "text", "class-2"],
    )
    for code, display in [("4740000", "Herpes zoster"), ("128045006", "Cellulitis")]:
        chart = Chart(f"c2-inf-sct-{code}-same-leg")
        chart.condition(cc(SCT, code, display), onset=4, body_site=RIGHT_LEG)
        leg_order(chart)
        add(
            chart,
            f"Man, 62, '{display}' (SNOMED CT) on the right calf, right calf order",
            "An active infection coded in SNOMED CT at the needling site: contraindication.",
            [*BASE, "local-infection"],
            ["snomed", "class-2"],
            ["infection-near-site"],
        )
    chart = Chart("c2-inf-sct-outside-sets-cellulitis-words")
    chart.condition(cc(SCT, "200001000000100", "Cellulitis of right lower leg"), onset=3)
    leg_order(chart)
    add(
        chart,
        "Man, 62, cellulitis of right lower leg under a SNOMED CT code outside the sets",
        "No value set places the code: its words name cellulitis and the right lower leg, the ordered site.",
        [*BASE, "local-infection"],
        ["snomed", "text", "class-2"],
    )


def class3() -> None:
    sided = [
        ("62175007", "right", True),
        ("32153003", "left", False),
        ("11207009", "right", True),
        ("61396006", "left", False),
        ("32696007", "right", True),
        ("48979004", "left", False),
    ]
    for code, side, same in sided:
        chart = Chart(f"c3-order-{code}-{side}")
        chart.condition(cc(ICD, "L03.115", "Cellulitis of right lower limb"), onset=4)
        leg_order(chart, cc(SCT, code))
        expected = [*BASE, "local-infection"] if same else BASE
        add(
            chart,
            f"Man, 62, right-leg cellulitis, order at SNOMED CT {code} ({side}, no display)",
            "The order's site is a pre-coordinated sided structure: same side as the cellulitis is a "
            "contraindication, the other leg is apart.",
            expected,
            ["snomed", "sided-site", "class-3"],
            [] if same else ["local-infection"],
        )
    for code, display in [
        ("62175007", "Structure of right lower limb"),
        ("6685009", "Structure of right ankle"),
    ]:
        chart = Chart(f"c3-infection-site-{code}")
        chart.condition(
            cc(ICD, "L03.90", "Cellulitis, unspecified"), onset=4, body_site=cc(SCT, code, display)
        )
        leg_order(chart)
        add(
            chart,
            f"Man, 62, cellulitis with bodySite {display}, right calf order",
            "The infection's bodySite is "
            "a pre-coordinated right-sided structure: same limb and side as the order.",
            [*BASE, "local-infection"],
            ["snomed", "sided-site", "class-3"],
        )
    for slug, text, expected in [
        ("r-leg", "R leg", [*BASE, "local-infection"]),
        ("left-lower-limb", "left lower limb", BASE),
        ("right-lower-extremity", "right lower extremity", [*BASE, "local-infection"]),
        ("rle", "RLE", [*BASE, "local-infection"]),
    ]:
        chart = Chart(f"c3-order-words-{slug}")
        chart.condition(cc(ICD, "L03.115", "Cellulitis of right lower limb"), onset=4)
        leg_order(chart, cc(text=text))
        add(
            chart,
            f"Man, 62, right-leg cellulitis, order site text '{text}'",
            "Limb words with a side place the order.",
            expected,
            ["text", "class-3"],
            [] if "local-infection" in expected else ["local-infection"],
        )
    chart = Chart("c3-order-region-with-laterality-qualifier-left")
    chart.condition(cc(ICD, "L03.116", "Cellulitis of left lower limb"), onset=4)
    leg_order(chart, {"coding": [{"system": SCT, "code": "61685007"}, {"system": SCT, "code": "7771000"}]})
    add(
        chart,
        "Man, 62, left-leg cellulitis, order lower limb + left qualifier",
        "Region code and laterality qualifier as two codings: same side.",
        [*BASE, "local-infection"],
        ["snomed", "qualifier", "class-3"],
    )


def class4_5() -> None:
    contained = [
        ("309362", "clopidogrel"),
        ("1364435", "apixaban"),
        ("855296", "warfarin"),
        ("197622", "dipyridamole"),
    ]
    for code, drug in contained:
        chart = Chart(f"c4-contained-{drug}")
        chart.medication(
            {"medicationReference": {"reference": "#med"}},
            contained={"resourceType": "Medication", "id": "med", "code": cc(RX, code)},
        )
        lumbar_order(chart)
        add(
            chart,
            f"Man, 62, {drug} on a contained Medication (RxNorm {code}, no display)",
            "The drug is coded only on the Medication the order references: antithrombotic precaution"
            + (
                " (and, for a vitamin K antagonist with no INR on file, the INR prompt)."
                if drug == "warfarin"
                else "."
            ),
            [*BASE, "antithrombotic-therapy", *(["inr-not-recent"] if drug == "warfarin" else [])],
            ["rxnorm", "medication-reference", "class-4"],
        )
    products = [
        ("1364445", "apixaban 2.5"),
        ("1232086", "rivaroxaban 20"),
        ("1037045", "dabigatran 150"),
        ("1599555", "edoxaban 60"),
        ("854241", "enoxaparin syringe"),
        ("978733", "dalteparin syringe"),
        ("861356", "fondaparinux syringe"),
        ("1536467", "aspirin effervescent combination"),
        ("243694", "acetaminophen aspirin caffeine"),
        ("259081", "aspirin dipyridamole ER"),
        ("309952", "dipyridamole 25"),
        ("1736470", "eptifibatide"),
        ("1737466", "tirofiban"),
        ("1804735", "argatroban"),
    ]
    for code, label in products:
        chart = Chart(f"c5-product-{code}")
        chart.medication({"medicationCodeableConcept": cc(RX, code)})
        lumbar_order(chart)
        add(
            chart,
            f"Man, 62, RxNorm product {code} ({label}), code only",
            "A clinical or branded drug of an "
            "antithrombotic ingredient in the VSAC RxNorm sets, sent with no display: precaution.",
            [*BASE, "antithrombotic-therapy"],
            ["rxnorm", "vsac", "class-5"],
        )
    for slug, text in [("mesalamine-5-asa", "mesalamine (5-ASA) 1.2 g"), ("5-asa-enema", "5-ASA enema 4 g")]:
        chart = Chart(f"c5-{slug}")
        chart.medication({"medicationCodeableConcept": cc(text=text)})
        lumbar_order(chart)
        add(
            chart,
            f"Man, 62, '{text}'",
            "5-ASA is mesalamine, not aspirin: no antithrombotic card.",
            BASE,
            ["text", "class-5"],
            ["antithrombotic-therapy"],
        )


def class6_11() -> None:
    labs = [
        ("6301-6", ">8.0", "inr-critical"),
        ("6301-6", "> 6", "inr-critical"),
        ("34714-6", "5.4", "inr-critical"),
        ("6301-6", "3.2", "inr-elevated"),
        ("777-3", "<10", "severe-thrombocytopenia"),
        ("26515-7", "<5 K/uL", "severe-thrombocytopenia"),
        ("777-3", "15 K/uL", "severe-thrombocytopenia"),
        ("777-3", "45 x10*3/uL", "low-platelet-count"),
        ("777-3", "12,000/uL", "severe-thrombocytopenia"),
        ("6301-6", "1.0", None),
    ]
    for index, (code, text, finding) in enumerate(labs):
        chart = Chart(f"c6-lab-string-{index:02d}")
        chart.observation(cc(LOINC, code), {"valueString": text}, days=1)
        lumbar_order(chart)
        add(
            chart,
            f"Man, 62, lab {code} sent as the string '{text}'",
            "Comparators and numbers in strings are "
            "read as the FHIR Quantity they spell; a danger-side bound is its worst case.",
            [*BASE, finding] if finding else BASE,
            ["lab-string", "class-6"],
            [] if finding else ["inr-critical", "lab-unit-unknown"],
        )
    chart = Chart("c6-lab-string-unreadable")
    chart.observation(cc(LOINC, "777-3"), {"valueString": "clumped, see smear"}, days=1)
    lumbar_order(chart)
    add(
        chart,
        "Man, 62, platelets 'clumped, see smear'",
        "A value that cannot be read stays not readable.",
        [*BASE, "lab-unit-unknown"],
        ["lab-string", "class-6"],
    )
    chart = Chart("c6-quantity-comparator-no-unit")
    chart.observation(cc(LOINC, "777-3"), {"valueQuantity": {"value": 10, "comparator": "<"}}, days=1)
    lumbar_order(chart)
    add(
        chart,
        "Man, 62, platelets valueQuantity '<10' without a unit",
        "Below 10 in any unit is below the contraindication threshold.",
        [*BASE, "severe-thrombocytopenia"],
        ["comparator", "class-6"],
    )
    panels = [
        (
            "58410-2",
            "777-3",
            {
                "valueQuantity": {
                    "value": 12,
                    "unit": "10*3/uL",
                    "system": "http://unitsofmeasure.org",
                    "code": "10*3/uL",
                }
            },
            "severe-thrombocytopenia",
        ),
        ("57021-8", "26515-7", {"valueQuantity": {"value": 38, "unit": "K/uL"}}, "low-platelet-count"),
        ("69742-5", "777-3", {"valueString": "<10"}, "severe-thrombocytopenia"),
        ("58410-2", "777-3", {"valueQuantity": {"value": 240, "unit": "K/uL"}}, None),
    ]
    for index, (panel, code, value, finding) in enumerate(panels):
        chart = Chart(f"c11-cbc-component-{index}")
        components = [
            {"code": cc(LOINC, "718-7", "Hemoglobin"), "valueQuantity": {"value": 12.9, "unit": "g/dL"}},
            {"code": cc(LOINC, code), **value},
        ]
        chart.observation(cc(LOINC, panel, "CBC panel"), {}, days=1, extra={"component": components})
        lumbar_order(chart)
        add(
            chart,
            f"Man, 62, platelets only as a component of CBC panel {panel}",
            "A panel component is read as a standalone result.",
            [*BASE, finding] if finding else BASE,
            ["panel", "class-11"],
            [] if finding else ["low-platelet-count"],
        )
    chart = Chart("c11-cbc-contained-member")
    chart.observation(
        cc(LOINC, "58410-2", "CBC panel"),
        {},
        days=1,
        extra={
            "contained": [
                {
                    "resourceType": "Observation",
                    "id": "plt",
                    "status": "final",
                    "code": cc(LOINC, "777-3"),
                    "valueQuantity": {"value": 9, "unit": "K/uL"},
                }
            ],
            "hasMember": [{"reference": "#plt"}],
        },
    )
    lumbar_order(chart)
    add(
        chart,
        "Man, 62, platelets 9 as a contained hasMember result of a CBC",
        "The member is read like a standalone result.",
        [*BASE, "severe-thrombocytopenia"],
        ["panel", "has-member", "class-11"],
    )
    for text in ["Pregnancy", "Intrauterine pregnancy", "Pregnant"]:
        chart = Chart(f"c11-text-only-{text.lower().replace(' ', '-')}", female=True, age=28)
        chart.condition(cc(text=text), onset=None, recorded=6)
        lumbar_order(chart)
        add(
            chart,
            f"Woman, 28, text-only problem '{text}'",
            "A pregnancy condition with text only is read by its words.",
            [*BASE, "pregnancy-first-trimester"],
            ["text-only", "class-11"],
        )
    chart = Chart("c11-text-only-ectopic-is-not-ongoing", female=True, age=28)
    chart.condition(cc(text="Ectopic pregnancy, treated"), status="resolved", onset=200)
    chart.not_pregnant()
    lumbar_order(chart)
    add(
        chart,
        "Woman, 28, text 'Ectopic pregnancy, treated', not pregnant now",
        "An ended pregnancy is no current pregnancy.",
        BASE,
        ["text-only", "class-11"],
        ["pregnancy-first-trimester"],
    )


def class7_10() -> None:
    endings = [
        (CPT, "59840", "Induced abortion, by dilation and curettage"),
        (CPT, "59514", "Cesarean delivery only"),
        (CPT, "59409", "Vaginal delivery only"),
        (PCS, "10A07ZZ", "Abortion of Products of Conception, Via Natural or Artificial Opening"),
        (PCS, "10D00Z1", "Extraction of Products of Conception, Low"),
        (SCT, "177143000", "Elective lower segment cesarean section"),
    ]
    for system, code, display in endings:
        chart = Chart(f"c7-ended-{code}", female=True, age=30)
        chart.observation(cc(LOINC, "2106-3"), {"valueString": "Positive"}, days=60)
        chart.procedure(system, code, display, 14)
        lumbar_order(chart)
        add(
            chart,
            f"Woman, 30, positive hCG 60 days ago, then {display} 14 days ago",
            "The completed procedure "
            "ended the pregnancy the test showed, within the status window: no pregnancy card, no prompt.",
            BASE,
            ["procedure", "class-7"],
            ["pregnancy-first-trimester", "pregnancy-status-unknown"],
        )
    chart = Chart("c7-procedure-not-done", female=True, age=30)
    chart.observation(cc(LOINC, "2106-3"), {"valueString": "Positive"}, days=20)
    chart.procedure(CPT, "59840", "Induced abortion, by dilation and curettage", 10, status="not-done")
    lumbar_order(chart)
    add(
        chart,
        "Woman, 30, positive hCG, termination 'not-done'",
        "A procedure not done ends nothing.",
        [*BASE, "pregnancy-first-trimester"],
        ["procedure", "class-7"],
    )
    for code, display in [
        ("Z39.2", "Encounter for routine postpartum follow-up"),
        ("Z37.0", "Single live birth"),
        ("O80", "Encounter for full-term uncomplicated delivery"),
    ]:
        chart = Chart(f"c7-condition-{code.replace('.', '')}", female=True, age=30)
        chart.condition(cc(ICD, "Z34.00", "Encounter for supervision of normal first pregnancy"), onset=300)
        chart.condition(cc(ICD, code, display), onset=12)
        lumbar_order(chart)
        add(
            chart,
            f"Woman, 30, pregnancy problem then '{display}' 12 days ago",
            "The delivery outcome ends the pregnancy.",
            BASE,
            ["icd-10-cm", "class-7"],
            ["pregnancy-first-trimester", "pregnancy-later-trimester"],
        )
    menopause = [
        (cc(ICD, "N95.1", "Menopausal and female climacteric states"), "n951"),
        (cc(ICD, "Z78.0", "Asymptomatic menopausal state"), "z780"),
        (cc(text="Postmenopausal"), "text-postmenopausal"),
        (cc(SCT, "289903006", "Menopause present"), "sct-menopause-words"),
    ]
    for code, slug in menopause:
        chart = Chart(f"c10-menopause-{slug}", female=True, age=52)
        chart.condition(code, onset=700)
        lumbar_order(chart)
        add(
            chart,
            "Woman, 52, menopause on the problem list, no pregnancy status",
            "Menopause ends reproductive potential: no pregnancy-status prompt.",
            BASE,
            ["class-10"],
            ["pregnancy-status-unknown"],
        )
    chart = Chart("c10-perimenopausal-still-prompted", female=True, age=49)
    chart.condition(cc(text="Perimenopausal symptoms"), onset=200)
    lumbar_order(chart)
    add(
        chart,
        "Woman, 49, perimenopausal, no pregnancy status",
        "Perimenopause is not menopause: the prompt stays.",
        [*BASE, "pregnancy-status-unknown"],
        ["text", "class-10"],
    )
    chart = Chart("c10-z3202-negative-test", female=True, age=33)
    chart.condition(
        cc(ICD, "Z32.02", "Encounter for pregnancy test, result negative"),
        onset=None,
        recorded=6,
        category="encounter-diagnosis",
        status=None,
    )
    lumbar_order(chart)
    add(
        chart,
        "Woman, 33, Z32.02 six days ago",
        "A negative test coded Z32.02 is a known status: no prompt.",
        BASE,
        ["icd-10-cm", "class-10"],
        ["pregnancy-status-unknown"],
    )
    for code in ["80384-1", "2112-1", "83086-9"]:
        chart = Chart(f"c10-negative-test-{code}", female=True, age=33)
        value = (
            {
                "valueQuantity": {
                    "value": 2,
                    "unit": "mIU/mL",
                    "system": "http://unitsofmeasure.org",
                    "code": "m[IU]/mL",
                }
            }
            if code == "83086-9"
            else {"valueString": "Negative"}
        )
        chart.observation(cc(LOINC, code), value, days=4)
        lumbar_order(chart)
        add(
            chart,
            f"Woman, 33, negative hCG {code} four days ago",
            "Every VSAC pregnancy-test code is read: a recent negative test is a known status.",
            BASE,
            ["loinc", "vsac", "class-10"],
            ["pregnancy-status-unknown"],
        )


def class8_9() -> None:
    lookalikes = [
        ("B02.29", "Other postherpetic nervous system involvement"),
        ("B02.22", "Postherpetic trigeminal neuralgia"),
        ("B00.52", "Herpesviral keratitis"),
        ("B02.31", "Zoster conjunctivitis"),
        ("B00.4", "Herpesviral encephalitis"),
        ("L05.91", "Pilonidal cyst without abscess"),
    ]
    for code, display in lookalikes:
        chart = Chart(f"c8-lookalike-{code.replace('.', '')}")
        chart.condition(cc(ICD, code, display), onset=10)
        leg_order(chart)
        add(
            chart,
            f"Man, 62, '{display}' ({code})",
            "A look-alike, not an active skin infection at a needling site: no infection card.",
            BASE,
            ["icd-10-cm", "class-8"],
            ["local-infection", "infection-near-site"],
        )
    additions = [
        ("M72.6", "Necrotizing fasciitis", "infection-near-site"),
        ("M71.061", "Abscess of bursa, right knee", "local-infection"),
        ("M65.061", "Abscess of tendon sheath, right lower leg", "local-infection"),
        (
            "T84.53XA",
            "Infection and inflammatory reaction due to internal right knee prosthesis",
            "local-infection",
        ),  # the words name the right knee: the same leg as the order
        ("B01.9", "Varicella without complication", "infection-near-site"),
        (
            "L97.211",
            "Non-pressure chronic ulcer of right calf limited to breakdown of skin",
            "local-infection",
        ),
    ]
    for code, display, finding in additions:
        chart = Chart(f"c8-added-{code.replace('.', '')}")
        chart.condition(cc(ICD, code, display), onset=5)
        leg_order(chart)
        add(
            chart,
            f"Man, 62, '{display}' ({code}), right calf order",
            "An infection the value set lacked: at the "
            "site a contraindication, site unknown or near a precaution.",
            [*BASE, finding],
            ["icd-10-cm", "class-8"],
        )
    for slug, status, days, counts in [
        ("no-status-2-years", None, 730, False),
        ("no-status-100-days", None, 100, False),
        ("no-status-40-days", None, 40, True),
        ("active-2-years", "active", 730, True),
    ]:
        chart = Chart(f"c9-cellulitis-{slug}")
        chart.condition(cc(ICD, "L03.115", "Cellulitis of right lower limb"), status=status, onset=days)
        leg_order(chart)
        add(
            chart,
            f"Man, 62, problem-list cellulitis of the right leg, {slug.replace('-', ' ')}",
            "An acute "
            "infection with no status expires 90 days after onset; a status that says active still counts.",
            [*BASE, "local-infection"] if counts else BASE,
            ["class-9"],
            [] if counts else ["local-infection"],
        )


def class8_sepsis() -> None:
    cases = [
        ("a419-active", cc(ICD, "A41.9", "Sepsis, unspecified organism"), "active", 6, True),
        ("r6521-septic-shock", cc(ICD, "R65.21", "Severe sepsis with septic shock"), "active", 3, True),
        ("a4102-mrsa", cc(ICD, "A41.02", "Sepsis due to MRSA"), None, 10, True),
        ("text-urosepsis", cc(text="Urosepsis"), "active", 4, True),
        ("a419-resolved", cc(ICD, "A41.9", "Sepsis, unspecified organism"), "resolved", 200, False),
        ("a419-no-status-old", cc(ICD, "A41.9", "Sepsis, unspecified organism"), None, 300, False),
    ]
    for slug, code, status, days, counts in cases:
        chart = Chart(f"c8-sepsis-{slug}")
        chart.condition(code, status=status, onset=days)
        lumbar_order(chart)
        add(
            chart,
            f"Man, 62, sepsis on file ({slug.replace('-', ' ')})",
            "Sepsis is a systemic infection: a patient-level precaution whatever the site, while it is "
            "active (an undated-status episode expires 90 days after onset).",
            [*BASE, "systemic-infection"] if counts else BASE,
            ["class-8", "sepsis"],
            [] if counts else ["systemic-infection"],
        )


def document() -> Json:
    """The vignette file's content (rebuilt from scratch on every call)."""
    VIGNETTES.clear()
    for build in (class1, class2, class3, class4_5, class6_11, class7_10, class8_9, class8_sepsis):
        build()
    return {
        "_comment": "Issue 11 vignettes: data forms production EHRs send, written by "
        "tests/vignettes/build_real_world_vignettes.py (format in tests/support/vignettes.py). Synthetic "
        "patients only "
        "(HTEST). Men aged 62 unless the class is about pregnancy.",
        "authoredOn": AUTHORED.isoformat(),
        "vignettes": list(VIGNETTES),
    }


def render() -> str:
    return json.dumps(document(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
