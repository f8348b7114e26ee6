"""Build fhir_mappings/data/valuesets/vsac.json from the VSAC expansions in shared/reference/value-sets.

    python scripts/build_vsac_valuesets.py [--reference DIR]   # rewrite vsac.json (then its ICD expansions)
    python scripts/build_vsac_valuesets.py --check             # exit 1 when a rewrite would change it

Each ValueSet written here takes the codes of named VSAC expansions (OID and version recorded as its
sources) that fit one rule, by a rule on the code's system and display that stays in this script beside the
result; every code left out is listed in the ValueSet's ``dn-cds-excluded`` extension with why, so the
knowledge report can show what was taken and what was not. Rerunnable: the output depends only on the
reference files and this script. Licences: SNOMED CT (IHTSDO; US use under the NLM UMLS licence), LOINC
(Regenstrief), RxNorm and ICD-10-PCS (US government, public); VSAC content via the cqframework repositories
(CC0-1.0).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = ROOT.parent.parent / "shared" / "reference" / "value-sets"
OUTPUT = ROOT / "fhir_mappings" / "data" / "valuesets" / "vsac.json"
SOURCE_EXTENSION = "urn:dn-cds:StructureDefinition/knowledge-source"
EXCLUDED_EXTENSION = "urn:dn-cds:StructureDefinition/excluded-code"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
CPT = "http://www.ama-assn.org/go/cpt"
VERSION = "2026.12.0"
LICENCE = (
    "Licences: VSAC expansions as published in the cqframework eCQM content repositories (CC0-1.0); codes "
    "belong to their code systems: SNOMED CT (IHTSDO; US use under the NLM UMLS licence, elsewhere an "
    "affiliate licence may be needed), LOINC (Regenstrief, free licence), RxNorm and ICD-10-PCS (US "
    "government, public), CPT (AMA)"
)

# Antithrombotic ingredients: the RxNorm products of every VSAC drug set are assigned to each ingredient whose
# name is a word of the product's display (a combination product counts for each of its antithrombotics).
ANTITHROMBOTIC_SETS = (
    "anticoagulant-therapy",
    "anticoagulants-for-all-indications",
    "oral-anticoagulant-medications",
    "antithrombotic-therapy-anticoagulant",
    "antithrombotic-therapy-for-ischemic-stroke",
    "warfarin",
    "direct-thrombin-inhibitor",
    "oral-factor-xa-inhibitor",
    "injectable-factor-xa-inhibitor",
    "rivaroxaban-vte-prophylaxis",
    "unfractionated-heparin",
    "low-dose-ufh-vte-prophylaxis",
    "lmwh-vte-prophylaxis",
    "ticagrelor-therapy",
    "pharmacological-contraindications-antithrombotic",
    "glycoprotein-iib-iiia-inhibitors",
    "dipyridamole-medications",
)
INGREDIENT_WORDS = {
    "warfarin": "warfarin",
    "apixaban": "apixaban",
    "rivaroxaban": "rivaroxaban",
    "dabigatran": "dabigatran",
    "edoxaban": "edoxaban",
    "betrixaban": "betrixaban",
    "heparin": r"(?<!\w)heparin",
    "enoxaparin": "enoxaparin",
    "dalteparin": "dalteparin",
    "tinzaparin": "tinzaparin",
    "fondaparinux": "fondaparinux",
    "argatroban": "argatroban",
    "bivalirudin": "bivalirudin",
    "desirudin": "desirudin",
    "clopidogrel": "clopidogrel",
    "prasugrel": "prasugrel",
    "ticagrelor": "ticagrelor",
    "ticlopidine": "ticlopidine",
    "cilostazol": "cilostazol",
    "aspirin": "aspirin",
    "dipyridamole": "dipyridamole",
    "vorapaxar": "vorapaxar",
    "cangrelor": "cangrelor",
    "eptifibatide": "eptifibatide",
    "tirofiban": "tirofiban",
    "abciximab": "abciximab",
}
# Not antithrombotic products although VSAC lists them in an anticoagulant set: flushes and lock solutions
# keep a line open and give no systemic anticoagulation.
# Ingredient codes of ingredients VSAC lists no product of (RxNorm IN; unverified against an RxNorm release).
INGREDIENT_CODES = {
    "tinzaparin": ("69528", "tinzaparin"),
    "vorapaxar": ("1537034", "vorapaxar"),
    "cangrelor": ("1656052", "cangrelor"),
}
NOT_THERAPY = re.compile(r"\b(flush|lock)\b", re.IGNORECASE)

PREGNANCY_SETS = ("pregnancy", "pregnant-state", "pregnancy-or-other-related-diagnoses")
# Ectopic and molar pregnancies are pregnancy-ended events in this rule base (ICD-10-CM O00-O08 ends a
# pregnancy in valuesets/pregnancy.json); they are not read as an ongoing pregnancy.
PREGNANCY_EXCLUDE = re.compile(r"ectopic|tubal pregnancy|ovary|hydatidiform|\bmole\b", re.IGNORECASE)

BLEEDING_SETS = ("active-bleeding-or-bleeding-diathesis",)
BLEEDING_KEEP = re.compile(
    r"coagulation|coagulopathy|h(a)?emophilia|willebrand|factor .*deficien|hemorrhagic disorder|"
    r"thrombocytop|purpura|platelet|intravascular coagulation|bleeding diathesis|hemorrhagic diathesis|"
    r"fibrinogen|prothrombin",
    re.IGNORECASE,
)
# Thrombophilias (short clotting times, deficiency of a natural inhibitor) are not bleeding disorders (the
# ICD-10-CM set excludes D68.5/D68.6 likewise); a postpartum defect with hemorrhage is an obstetric event.
BLEEDING_EXCLUDE = re.compile(r"shortened|naturally occurring coagulation factor inhibitor|postpartum", re.I)

PREGNANCY_TEST_EXCLUDE = {"55870-0": "cord blood: a newborn's sample, not the patient's pregnancy"}

# Pregnancy-ending procedures besides VSAC deliveries: induced/incomplete/missed abortion, evacuation and
# ectopic-pregnancy surgery (CPT 2026 Maternity Care and Delivery section 59000-59899, AMA) and ICD-10-PCS
# 10A0 "Abortion of Products of Conception" (CMS ICD-10-PCS FY2026 tables).
ENDING_CPT = {
    "59100": "Hysterotomy, abdominal (eg, for hydatidiform mole, abortion)",
    "59120": "Surgical treatment of ectopic pregnancy; tubal or ovarian,"
    " requiring salpingectomy and/or oophorectomy",
    "59121": "Surgical treatment of ectopic pregnancy; tubal or ovarian,"
    " without salpingectomy and/or oophorectomy",
    "59130": "Surgical treatment of ectopic pregnancy; abdominal pregnancy",
    "59150": "Laparoscopic treatment of ectopic pregnancy; without salpingectomy and/or oophorectomy",
    "59151": "Laparoscopic treatment of ectopic pregnancy; with salpingectomy and/or oophorectomy",
    "59400": "Routine obstetric care including antepartum care, vaginal delivery and postpartum care",
    "59409": "Vaginal delivery only (with or without episiotomy and/or forceps)",
    "59410": "Vaginal delivery only; including postpartum care",
    "59510": "Routine obstetric care including antepartum care, cesarean delivery, and postpartum care",
    "59514": "Cesarean delivery only",
    "59515": "Cesarean delivery only; including postpartum care",
    "59610": "Routine obstetric care, vaginal delivery after previous cesarean delivery",
    "59612": "Vaginal delivery only, after previous cesarean delivery",
    "59614": "Vaginal delivery only, after previous cesarean delivery; including postpartum care",
    "59618": "Routine obstetric care, cesarean delivery following"
    " attempted vaginal delivery after previous cesarean",
    "59620": "Cesarean delivery only, following attempted vaginal delivery after previous cesarean delivery",
    "59622": "Cesarean delivery only, following attempted vaginal"
    " delivery after previous cesarean; postpartum care",
    "59812": "Treatment of incomplete abortion, any trimester, completed surgically",
    "59820": "Treatment of missed abortion, completed surgically; first trimester",
    "59821": "Treatment of missed abortion, completed surgically; second trimester",
    "59830": "Treatment of septic abortion, completed surgically",
    "59840": "Induced abortion, by dilation and curettage",
    "59841": "Induced abortion, by dilation and evacuation",
    "59850": "Induced abortion, by 1 or more intra-amniotic injections",
    "59851": "Induced abortion, by 1 or more intra-amniotic injections;"
    " with dilation and curettage and/or evacuation",
    "59852": "Induced abortion, by 1 or more intra-amniotic injections; with hysterotomy",
    "59855": "Induced abortion, by 1 or more vaginal suppositories",
    "59856": "Induced abortion, by 1 or more vaginal suppositories; with"
    " dilation and curettage and/or evacuation",
    "59857": "Induced abortion, by 1 or more vaginal suppositories; with hysterotomy",
}
ENDING_PCS = {
    "10A00ZZ": "Abortion of Products of Conception, Open Approach",
    "10A03ZZ": "Abortion of Products of Conception, Percutaneous Approach",
    "10A04ZZ": "Abortion of Products of Conception, Percutaneous Endoscopic Approach",
    "10A07Z6": "Abortion of Products of Conception, Vacuum, Via Natural or Artificial Opening",
    "10A07ZW": "Abortion of Products of Conception, Laminaria, Via Natural or Artificial Opening",
    "10A07ZX": "Abortion of Products of Conception, Abortifacient, Via Natural or Artificial Opening",
    "10A07ZZ": "Abortion of Products of Conception, Via Natural or Artificial Opening",
    "10A08ZZ": "Abortion of Products of Conception, Via Natural or Artificial Opening Endoscopic",
}
# The SNOMED CT concepts for termination (VSAC has no termination set): unverified against a SNOMED release.
ENDING_SNOMED = {
    "386639001": "Termination of pregnancy (procedure)",
    "714812005": "Induced termination of pregnancy (procedure)",
    "11466000": "Cesarean section (procedure)",
    "236958009": "Induction of labor (procedure)",
}


def read_reference(directory: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    return document


def source_line(document: dict[str, Any], name: str) -> str:
    oid = str(document["url"]).rsplit("/", 1)[-1]
    # The OID and expansion version name the published source; the local file name is no citation.
    return f"VSAC {document['title']} OID {oid} version {document['version']} (expansion as published)"


VERIFICATION_EXTENSION = "urn:dn-cds:StructureDefinition/verification"
# A code taken from a published VSAC expansion is verified by that expansion; a hand-listed one is not.
VERIFIED_BY_VSAC = "verified"
HAND_LISTED = "unverified"


def value_set(
    vs_id: str,
    title: str,
    purpose: str,
    sources: Iterable[str],
    codes: dict[tuple[str, str], str],
    excluded: dict[tuple[str, str], tuple[str, str]],
    hand_listed: set[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    by_system: dict[str, list[dict[str, Any]]] = {}
    for (system, code), display in sorted(codes.items()):
        status = HAND_LISTED if (system, code) in (hand_listed or set()) else VERIFIED_BY_VSAC
        by_system.setdefault(system, []).append(
            {
                "code": code,
                "display": display,
                "extension": [{"url": VERIFICATION_EXTENSION, "valueCode": status}],
            }
        )
    extensions = [{"url": SOURCE_EXTENSION, "valueString": s} for s in [*sources, LICENCE]]
    extensions += [
        {"url": EXCLUDED_EXTENSION, "valueString": f"{system}|{code} {display}: {why}"}
        for (system, code), (display, why) in sorted(excluded.items())
    ]
    return {
        "resourceType": "ValueSet",
        "id": vs_id,
        "url": f"urn:dn-cds:ValueSet/{vs_id}",
        "version": VERSION,
        "name": "".join(part.capitalize() for part in vs_id.split("-")),
        "title": title,
        "status": "draft",
        "experimental": False,
        "extension": extensions,
        "purpose": purpose,
        "compose": {"include": [{"system": s, "concept": c} for s, c in by_system.items()]},
    }


def build(directory: Path) -> dict[str, Any]:
    resources = [
        *antithrombotic_sets(directory),
        pregnancy_snomed(directory),
        bleeding_snomed(directory),
        pregnancy_tests(directory),
        pregnancy_ending_procedures(directory),
        systemic_infection(directory),
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "_comment": (
            "Generated by scripts/build_vsac_valuesets.py from published VSAC expansions (each ValueSet "
            "names its VSAC sources by OID and expansion version)."
        ),
        "entry": [{"resource": r} for r in resources],
    }


def antithrombotic_sets(directory: Path) -> list[dict[str, Any]]:
    per_ingredient: dict[str, dict[tuple[str, str], str]] = {key: {} for key in INGREDIENT_WORDS}
    sources: dict[str, set[str]] = {key: set() for key in INGREDIENT_WORDS}
    excluded: dict[tuple[str, str], tuple[str, str]] = {}
    patterns = {key: re.compile(rf"\b{word}\b", re.IGNORECASE) for key, word in INGREDIENT_WORDS.items()}
    for name in ANTITHROMBOTIC_SETS:
        document = read_reference(directory, name)
        for entry in document["codes"]:
            if entry["system"] != RXNORM:
                continue
            display = entry["display"]
            if NOT_THERAPY.search(display):
                excluded[(RXNORM, entry["code"])] = (
                    display,
                    "a line flush or lock: no systemic anticoagulation",
                )
                continue
            keys = [key for key, pattern in patterns.items() if pattern.search(display)]
            if not keys:
                excluded[(RXNORM, entry["code"])] = (
                    display,
                    "no listed antithrombotic ingredient in its name",
                )
            for key in keys:
                per_ingredient[key][(RXNORM, entry["code"])] = display
                sources[key].add(source_line(document, name))
    for key, (code, display) in INGREDIENT_CODES.items():
        per_ingredient[key][(RXNORM, code)] = display
        sources[key].add("RxNorm ingredient (IN) code, unverified against an RxNorm release")
    return [
        value_set(
            f"antithrombotic-{key}-products",
            f"{key} products (VSAC RxNorm)",
            "Every RxNorm clinical drug, branded drug and pack of the VSAC antithrombotic drug sets "
            f"whose name contains {key}; read with the ingredient set named in antithrombotics.json.",
            sorted(sources[key]) or ["no VSAC product: the ingredient code and names only"],
            codes,
            {k: v for k, v in excluded.items() if key == "aspirin"},  # listed once, on the largest set
            {(RXNORM, INGREDIENT_CODES[key][0])} if key in INGREDIENT_CODES else set(),
        )
        for key, codes in per_ingredient.items()
        # cilostazol, abciximab: no VSAC product; cilostazol keeps its own set, abciximab is read by name
        if codes
    ]


def pregnancy_snomed(directory: Path) -> dict[str, Any]:
    codes: dict[tuple[str, str], str] = {}
    excluded: dict[tuple[str, str], tuple[str, str]] = {}
    sources = []
    for name in PREGNANCY_SETS:
        document = read_reference(directory, name)
        sources.append(source_line(document, name))
        for entry in document["codes"]:
            if entry["system"] != SNOMED:
                continue  # ICD-10-CM: valuesets/pregnancy.json composes its own from the CMS release
            key = (SNOMED, entry["code"])
            if PREGNANCY_EXCLUDE.search(entry["display"]):
                excluded[key] = (entry["display"], "ectopic or molar pregnancy: read as pregnancy-ended")
            else:
                codes[key] = entry["display"]
    return value_set(
        "pregnancy-condition-snomed",
        "Pregnancy (SNOMED CT, VSAC)",
        "SNOMED CT findings and disorders that mean a current pregnancy, read with pregnancy-condition.",
        sources,
        codes,
        excluded,
    )


def bleeding_snomed(directory: Path) -> dict[str, Any]:
    codes: dict[tuple[str, str], str] = {}
    excluded: dict[tuple[str, str], tuple[str, str]] = {}
    sources = []
    for name in BLEEDING_SETS:
        document = read_reference(directory, name)
        sources.append(source_line(document, name))
        for entry in document["codes"]:
            if entry["system"] != SNOMED:
                continue  # ICD-10-CM: D65-D69/D75.82 in valuesets/bleeding.json already cover the diatheses
            key = (SNOMED, entry["code"])
            display = entry["display"]
            if BLEEDING_EXCLUDE.search(display):
                excluded[key] = (display, "thrombophilia or obstetric event, not a bleeding diathesis")
            elif BLEEDING_KEEP.search(display):
                codes[key] = display
            else:
                excluded[key] = (display, "active bleeding (a hemorrhage), not a bleeding diathesis")
    return value_set(
        "bleeding-disorder-snomed",
        "Bleeding diathesis (SNOMED CT, VSAC)",
        "SNOMED CT coagulation and platelet disorders (the diathesis half of the VSAC set), read with "
        "bleeding-disorder.",
        sources,
        codes,
        excluded,
    )


def pregnancy_tests(directory: Path) -> dict[str, Any]:
    document = read_reference(directory, "pregnancy-test")
    codes: dict[tuple[str, str], str] = {}
    excluded: dict[tuple[str, str], tuple[str, str]] = {}
    for entry in document["codes"]:
        key = (LOINC, entry["code"])
        if entry["code"] in PREGNANCY_TEST_EXCLUDE:
            excluded[key] = (entry["display"], PREGNANCY_TEST_EXCLUDE[entry["code"]])
        else:
            codes[key] = entry["display"]
    return value_set(
        "pregnancy-test-observation-vsac",
        "Pregnancy tests (LOINC, VSAC)",
        "Every LOINC hCG test of the VSAC Pregnancy Test set, read with pregnancy-test-observation: "
        "qualitative results by answer, quantitative ones in IU/L or mIU/mL (other units are not read).",
        [source_line(document, "pregnancy-test")],
        codes,
        excluded,
    )


def pregnancy_ending_procedures(directory: Path) -> dict[str, Any]:
    document = read_reference(directory, "delivery-procedures")
    codes = {(entry["system"], entry["code"]): entry["display"] for entry in document["codes"]}
    codes.update({(CPT, code): display for code, display in ENDING_CPT.items()})
    codes.update({(ICD10PCS, code): display for code, display in ENDING_PCS.items()})
    codes.update({(SNOMED, code): display for code, display in ENDING_SNOMED.items()})
    return value_set(
        "pregnancy-ending-procedure",
        "Procedures that end a pregnancy",
        "Deliveries (VSAC Delivery Procedures), terminations, evacuations and ectopic-pregnancy surgery: a "
        "completed one ends the pregnancy recorded before it.",
        [
            source_line(document, "delivery-procedures"),
            "CPT 2026 (AMA), Maternity Care and Delivery 59000-59899: abortion, evacuation, ectopic and "
            "delivery codes",
            "ICD-10-PCS FY2026 (CMS), table 10A: Abortion of Products of Conception",
            "SNOMED CT 386639001, 714812005, 11466000, 236958009 (unverified against a SNOMED CT release)",
        ],
        codes,
        {},
        {(CPT, c) for c in ENDING_CPT}
        | {(ICD10PCS, c) for c in ENDING_PCS}
        | {(SNOMED, c) for c in ENDING_SNOMED},
    )


def systemic_infection(directory: Path) -> dict[str, Any]:
    """Sepsis (VSAC Sepsis, ICD-10-CM): every code taken; a patient-level precaution, not a site rule."""
    document = read_reference(directory, "sepsis")
    codes = {(entry["system"], entry["code"]): entry["display"] for entry in document["codes"]}
    return value_set(
        "systemic-infection",
        "Sepsis (systemic infection)",
        "Sepsis and septic shock: a systemic infection is a reason to postpone elective needling wherever "
        "the site (a patient-level precaution, issue 11 class 8).",
        [source_line(document, "sepsis")],
        codes,
        {},
    )


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what scripts/expand_valuesets.py adds (ICD-10-CM expansions, release source)."""
    copy = json.loads(json.dumps(document))
    for entry in copy.get("entry", []):
        resource = entry["resource"]
        resource.pop("expansion", None)
        resource["extension"] = [
            ext for ext in resource["extension"] if "expand_valuesets.py" not in str(ext.get("valueString"))
        ]
    return copy


def main(argv: list[str] | None = None) -> int:
    """Write vsac.json, then let scripts/expand_valuesets.py add the ICD-10-CM expansions (sepsis)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    built = build(args.reference)
    if args.check:
        committed = json.loads(OUTPUT.read_text(encoding="utf-8"))
        if _comparable(committed) != _comparable(built):
            print(f"{OUTPUT} is out of date: run scripts/build_vsac_valuesets.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(json.dumps(built, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expand = ROOT / "scripts" / "expand_valuesets.py"
    return subprocess.run([sys.executable, str(expand)], check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
