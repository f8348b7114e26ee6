"""The knowledge files under fhir_mappings/data: provenance, the finding-code contract, fail-fast loading.

architecture.md section 2: every entry names its source; section 5: the finding codes and indication keys are
a fixed contract. A malformed file must stop start-up with a KnowledgeError that names the file.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.builders import INDICATION_KEYS

from fhir_mappings import Knowledge, KnowledgeError, load_knowledge
from fhir_mappings.codes import ICD10CM, SystemAliases
from fhir_mappings.knowledge import DATA_DIR, SOURCE_EXTENSION
from fhir_mappings.valuesets import ValueSetMatcher

VERIFICATION_EXTENSION = "urn:dn-cds:StructureDefinition/verification"
GENERATED_EXTENSION = "urn:dn-cds:StructureDefinition/generated-from"
ICD10CM_OID = "urn:oid:2.16.840.1.113883.6.90"

# architecture.md section 5, "Finding codes" table (kind -> codes), copied by hand on purpose.
EXPECTED_FINDINGS: dict[str, str] = {
    "indication-found": "indication",
    "no-indication-found": "indication",
    "pregnancy-first-trimester": "contraindication",
    "bleeding-disorder": "contraindication",
    "severe-thrombocytopenia": "contraindication",
    "inr-critical": "contraindication",
    "local-infection": "contraindication",
    "pregnancy-later-trimester": "precaution",
    "antithrombotic-therapy": "precaution",
    "low-platelet-count": "precaution",
    "inr-elevated": "precaution",
    "infection-near-site": "precaution",
    "systemic-infection": "precaution",
    "pneumothorax-risk-site": "precaution",
    "fainting-risk-site": "precaution",
    "pregnancy-status-unknown": "missing-data",
    "patient-data-incomplete": "missing-data",
    "risk-disclosure": "disclosure",
    # added by issue 3 (new codes may be added, none renamed): a lab value in a unit the service cannot read
    "lab-unit-unknown": "missing-data",
    # added by issue 12 (precautions, high-risk anatomy and bleeding policy)
    "lymphedema-limb": "contraindication",
    "implanted-electronic-device": "precaution",
    "prosthetic-joint-near-site": "precaution",
    "breast-implant-near-site": "precaution",
    "immunocompromised": "precaution",
    "seizure-disorder": "precaution",
    "vasovagal-history": "precaution",
    "metal-allergy": "precaution",
    "minor-patient": "precaution",
    "impaired-sensation": "precaution",
    "neurovascular-risk-site": "precaution",
    "organ-risk-site": "precaution",
    "body-site-unrecognised": "notice",
    "inr-not-recent": "missing-data",
    "red-flag-condition": "precaution",
    "combined-antithrombotic-therapy": "precaution",
    "bleeding-risk-condition": "precaution",
}

EXPECTED_INDICATION_KEYS = INDICATION_KEYS

POLICY_BASES = {"guideline", "source-doc", "conventional"}

# ICD-10-CM code syntax: a letter, a digit, a digit or letter (categories such as Z3A, M1A, O9A, C4A have a
# letter third), then optionally a dot and 1-4 letters/digits (subcategory, extension, 7th character).
ICD10CM_SYNTAX = re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?|[A-Z][0-9][0-9A-Z]-[A-Z][0-9][0-9A-Z]")


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _value_sets() -> list[tuple[str, dict[str, Any]]]:
    """(file name, ValueSet resource) for every ValueSet shipped."""
    return [
        (path.name, entry["resource"])
        for path in sorted((DATA_DIR / "valuesets").glob("*.json"))
        for entry in _read(path)["entry"]
    ]


VALUE_SETS = _value_sets()
VALUE_SET_IDS = [resource["id"] for _, resource in VALUE_SETS]
EACH_VALUE_SET = [pytest.param(f, vs, id=vs["id"]) for f, vs in VALUE_SETS]


def _icd_codes(value_set: dict[str, Any]) -> list[str]:
    """Every ICD-10-CM code a ValueSet names: is-a filter values and listed concepts, include and exclude."""
    codes: list[str] = []
    compose = value_set.get("compose") or {}
    for part in [*(compose.get("include") or []), *(compose.get("exclude") or [])]:
        if part.get("system") != ICD10CM:
            continue
        codes.extend(f["value"] for f in part.get("filter") or [])
        codes.extend(c["code"] for c in part.get("concept") or [])
    return codes


def _generated(part: dict[str, Any]) -> bool:
    return any(ext.get("url") == GENERATED_EXTENSION for ext in part.get("extension") or [])


# --- shipped ValueSets ------------------------------------------------------------------------------------


def test_value_sets_are_shipped_for_every_knowledge_area() -> None:
    files = {name for name, _ in VALUE_SETS}
    assert files == {
        "bleeding.json",
        "indications.json",
        "infection.json",
        "orders.json",
        "panels.json",
        "precautions.json",
        "pregnancy.json",
        "reproductive.json",
        "vsac.json",
    }
    assert len(VALUE_SET_IDS) == len(set(VALUE_SET_IDS))


@pytest.mark.parametrize(("file_name", "value_set"), EACH_VALUE_SET)
def test_every_value_set_names_its_source(file_name: str, value_set: dict[str, Any]) -> None:
    sources = [
        ext.get("valueString")
        for ext in value_set.get("extension") or []
        if ext.get("url") == SOURCE_EXTENSION
    ]
    assert sources, f"{file_name}: ValueSet {value_set['id']} has no knowledge-source extension"
    assert all(isinstance(s, str) and s.strip() for s in sources), sources


@pytest.mark.parametrize(("file_name", "value_set"), EACH_VALUE_SET)
def test_every_listed_concept_carries_a_verification_status(
    file_name: str, value_set: dict[str, Any]
) -> None:
    concepts = [
        (part["system"], concept)
        for part in value_set["compose"].get("include") or []
        if not _generated(part)  # generated from the release: verified by test_valueset_expansion.py
        for concept in part.get("concept") or []
    ]
    unverified = [
        f"{system}|{concept['code']}"
        for system, concept in concepts
        if not any(
            ext.get("url") == VERIFICATION_EXTENSION
            and isinstance(ext.get("valueCode"), str)
            and ext["valueCode"].strip()
            for ext in concept.get("extension") or []
        )
    ]
    assert unverified == [], f"{file_name}: concepts without a verification extension"


def test_concept_lists_are_not_all_empty() -> None:
    """Guards the verification test above against passing vacuously."""
    listed = sum(
        len(part.get("concept") or [])
        for _, value_set in VALUE_SETS
        for part in value_set["compose"].get("include") or []
    )
    assert listed >= 20


@pytest.mark.parametrize(
    ("file_name", "value_set"),
    [pytest.param(f, vs, id=vs["id"]) for f, vs in VALUE_SETS if _icd_codes(vs)],
)
def test_icd10cm_codes_are_syntactically_valid(file_name: str, value_set: dict[str, Any]) -> None:
    invalid = [code for code in _icd_codes(value_set) if not ICD10CM_SYNTAX.fullmatch(code)]
    assert invalid == [], f"{file_name}: {value_set['id']} has malformed ICD-10-CM codes"


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("D68", True),
        ("M54.5", True),
        ("S39.012", True),
        ("S16.1XXA", True),
        ("Z3A", True),
        ("M1A.0", True),
        ("O00-O08", True),  # a block of categories
        ("O00-", False),
        ("m54.5", False),
        ("M545", False),
        ("M54.", False),
        ("54.5", False),
        ("M5", False),
        ("M54.50123", False),
        ("M54-5", False),
        (" M54.5", False),
    ],
    ids=lambda value: str(value).strip() or "blank",
)
def test_icd10cm_syntax_check(code: str, valid: bool) -> None:
    assert bool(ICD10CM_SYNTAX.fullmatch(code)) is valid


# --- ICD-10-CM hierarchy and explicit exclusions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "member"),
    [
        ("D68.0", True),  # von Willebrand disease (D68.0x since FY2024)
        ("D68.00", True),
        ("D66", True),  # hereditary factor VIII deficiency (hemophilia A)
        ("D67", True),  # hereditary factor IX deficiency
        ("D68.311", True),  # acquired hemophilia
        ("D69.6", False),  # thrombocytopenia: the platelet count decides (clinical review 2026-12)
        ("D68.51", False),  # activated protein C resistance (factor V Leiden): a thrombophilia
        ("D68.52", False),  # prothrombin gene mutation
        ("D68.59", False),  # other primary thrombophilia
        ("D68.61", False),  # antiphospholipid syndrome
        ("D68.62", False),  # lupus anticoagulant syndrome
        ("D68.69", False),  # other thrombophilia
        ("D70.0", False),  # neutropenia: not a bleeding disorder
    ],
    ids=lambda value: str(value),
)
def test_bleeding_disorder_value_set_excludes_thrombophilias(
    knowledge: Knowledge, code: str, member: bool
) -> None:
    bleeding = knowledge.value_set("bleeding-disorder")
    assert bleeding.contains(ICD10CM, code.replace(".", "")) is member
    coding = {"coding": [{"system": ICD10CM_OID, "code": code, "display": "as sent by the EHR"}]}
    assert bool(bleeding.match_concept(coding, knowledge.aliases)) is member


# --- finding CodeSystem and indication keys -------------------------------------------------------------


def test_finding_code_system_holds_exactly_the_documented_codes_and_kinds(knowledge: Knowledge) -> None:
    assert {code: d.kind for code, d in knowledge.findings.items()} == EXPECTED_FINDINGS
    assert knowledge.finding_system == "urn:dn-cds:CodeSystem/finding"


def test_finding_code_file_matches_the_table() -> None:
    document = _read(DATA_DIR / "finding-codes.json")
    kinds = {
        concept["code"]: [p["valueCode"] for p in concept["property"] if p["code"] == "kind"]
        for concept in document["concept"]
    }
    assert kinds == {code: [kind] for code, kind in EXPECTED_FINDINGS.items()}
    assert all(concept["display"].strip() for concept in document["concept"])
    assert document["content"] == "complete"


def test_the_twenty_indication_keys_equal_the_architecture_list(knowledge: Knowledge) -> None:
    assert len(EXPECTED_INDICATION_KEYS) == 20
    assert list(knowledge.indication_keys()) == sorted(EXPECTED_INDICATION_KEYS)


@pytest.mark.parametrize("key", EXPECTED_INDICATION_KEYS)
def test_each_indication_value_set_has_codes(knowledge: Knowledge, key: str) -> None:
    matcher: ValueSetMatcher = knowledge.value_set(f"indication-{key}")
    assert matcher.icd_prefixes or matcher.exact_codes
    assert matcher.title and matcher.title != matcher.value_set_id


# --- policy.json ----------------------------------------------------------------------------------------

POLICY_SETTINGS = sorted(_read(DATA_DIR / "policy.json")["settings"].items())


@pytest.mark.parametrize(
    ("name", "setting"), [pytest.param(name, _value_1, id=name) for name, _value_1 in POLICY_SETTINGS]
)
def test_every_policy_setting_has_a_source_and_a_basis(name: str, setting: dict[str, Any]) -> None:
    assert isinstance(setting.get("source"), str) and setting["source"].strip(), name
    assert setting.get("basis") in POLICY_BASES, name
    assert "value" in setting and setting.get("unit"), name


def test_policy_values_match_architecture_section_4(knowledge: Knowledge) -> None:
    policy = knowledge.policy
    assert policy.first_trimester_end_days == 98  # 14w0d
    assert policy.full_term_days == 280
    assert policy.pregnancy_evidence_max_age_days == 294
    assert policy.condition_active_clinical_statuses == {"active", "recurrence", "relapse"}
    assert policy.condition_excluded_verification_statuses == {"refuted", "entered-in-error"}
    assert policy.observation_usable_statuses == {"final", "amended", "corrected"}


# --- body-regions.json ----------------------------------------------------------------------------------

BODY_REGIONS = _read(DATA_DIR / "body-regions.json")
REGION_NAMES = set(BODY_REGIONS["regions"])


def _region_references() -> list[tuple[str, str]]:
    """(where, region name) for every place the document names a region."""
    refs = [(f"adjacent[{i}]", region) for i, pair in enumerate(BODY_REGIONS["adjacent"]) for region in pair]
    refs += [
        (f"icd_site_codes[{i}] {entry['codes'][0]}", region)
        for i, entry in enumerate(BODY_REGIONS["icd_site_codes"])
        for region in entry["regions"]
    ]
    for section in ("precoordinated_sided_sites", "condition_finding_sites"):
        refs += [
            (f"{section} {code}", entry["region"])
            for code, entry in BODY_REGIONS[section].items()
            if not code.startswith("_")
        ]
    refs += [(f"text_keywords {r}", r) for r in BODY_REGIONS["text_keywords"] if not r.startswith("_")]
    return refs


REGION_REFERENCES = _region_references()


@pytest.mark.parametrize(
    ("where", "region"),
    [pytest.param(where, region, id=f"{where}-{region}") for where, region in REGION_REFERENCES],
)
def test_every_named_body_region_exists(where: str, region: str) -> None:
    assert region in REGION_NAMES, f"body-regions.json {where}: unknown region {region}"


def test_body_region_references_cover_adjacency_and_icd_sites() -> None:
    wheres = {where.split("[")[0] for where, _ in REGION_REFERENCES}
    assert {"adjacent", "icd_site_codes"} <= wheres
    assert all(len(pair) == 2 and pair[0] != pair[1] for pair in BODY_REGIONS["adjacent"])


@pytest.mark.parametrize(
    "entry",
    [pytest.param(e, id=f"{e['codes'][0]}-{'-'.join(e['regions'])}") for e in BODY_REGIONS["icd_site_codes"]],
)
def test_icd_site_codes_are_l02_l03_and_sides_are_valid(entry: dict[str, Any]) -> None:
    assert all(ICD10CM_SYNTAX.fullmatch(code) and code[:3] in {"L02", "L03"} for code in entry["codes"])
    assert entry.get("side") in {None, "right", "left", "both"}


# --- load_knowledge fails fast, naming the file ----------------------------------------------------------


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped knowledge directory."""
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def _edit_json(path: Path, change: Callable[[Any], None]) -> None:
    document = _read(path)
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


def test_the_unmodified_copy_loads(data_copy: Path) -> None:
    copied = load_knowledge(data_copy)
    assert copied.findings.keys() == EXPECTED_FINDINGS.keys()
    assert copied.value_sets.keys() == set(VALUE_SET_IDS)


@pytest.mark.parametrize(
    "relative_path",
    [
        "valuesets/bleeding.json",
        "valuesets/indications.json",
        "finding-codes.json",
        "policy.json",
        "body-regions.json",
        "code-systems.json",
        "antithrombotics.json",
        "labs.json",
        "site-risks.json",
    ],
)
def test_corrupted_json_names_the_file(data_copy: Path, relative_path: str) -> None:
    path = data_copy / relative_path
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")  # truncated mid-document, as a bad save would
    with pytest.raises(KnowledgeError, match=re.escape(path.name)):
        load_knowledge(data_copy)


def test_a_missing_file_is_named(data_copy: Path) -> None:
    (data_copy / "policy.json").unlink()
    with pytest.raises(KnowledgeError, match=r"policy\.json"):
        load_knowledge(data_copy)


def _infection_value_set(bundle: Any) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][0]["resource"]
    assert resource["id"] == "skin-soft-tissue-infection"
    return resource


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda vs: vs.pop("extension"), id="no-extensions"),
        pytest.param(
            lambda vs: vs.__setitem__(
                "extension", [{"url": "urn:dn-cds:StructureDefinition/verification", "valueCode": "verified"}]
            ),
            id="other-extension-only",
        ),
        pytest.param(
            lambda vs: vs.__setitem__("extension", [{"url": SOURCE_EXTENSION, "valueString": "   "}]),
            id="blank-source",
        ),
    ],
)
def test_value_set_without_a_source_is_refused(data_copy: Path, change: Callable[[Any], None]) -> None:
    _edit_json(data_copy / "valuesets/infection.json", lambda b: change(_infection_value_set(b)))
    with pytest.raises(KnowledgeError, match=r"infection\.json.*skin-soft-tissue-infection.*source"):
        load_knowledge(data_copy)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda vs: vs.__setitem__("experimental", "maybe"), id="boolean-as-text"),
        pytest.param(lambda vs: vs.__setitem__("colour", "red"), id="unknown-element"),
        pytest.param(
            lambda vs: vs["compose"]["include"][0].__setitem__("concept", [{"display": "Cellulitis"}]),
            id="concept-without-code",
        ),
        pytest.param(lambda vs: vs.__setitem__("url", 42), id="url-not-a-string"),
    ],
)
def test_value_set_with_an_invalid_fhir_field_is_refused(
    data_copy: Path, change: Callable[[Any], None]
) -> None:
    _edit_json(data_copy / "valuesets/infection.json", lambda b: change(_infection_value_set(b)))
    with pytest.raises(KnowledgeError, match=r"infection\.json: entry 0 is not a valid FHIR ValueSet"):
        load_knowledge(data_copy)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s.pop("source"), id="source-missing"),
        pytest.param(lambda s: s.__setitem__("source", ""), id="source-empty"),
        pytest.param(lambda s: s.__setitem__("source", "  "), id="source-blank"),
        pytest.param(lambda s: s.pop("basis"), id="basis-missing"),
        pytest.param(lambda s: s.__setitem__("basis", "expert-opinion"), id="basis-unknown"),
    ],
)
def test_policy_setting_without_source_or_basis_is_refused(
    data_copy: Path, change: Callable[[Any], None]
) -> None:
    _edit_json(data_copy / "policy.json", lambda doc: change(doc["settings"]["first_trimester_end_days"]))
    with pytest.raises(KnowledgeError, match=r"policy\.json.*first_trimester_end_days"):
        load_knowledge(data_copy)


def test_finding_code_without_a_valid_kind_is_refused(data_copy: Path) -> None:
    def change(document: Any) -> None:
        document["concept"][0]["property"] = [{"code": "kind", "valueCode": "suggestion"}]

    _edit_json(data_copy / "finding-codes.json", change)
    with pytest.raises(KnowledgeError, match=r"finding-codes\.json.*indication-found"):
        load_knowledge(data_copy)


def test_system_aliases_map_oids_to_canonical_uris() -> None:
    aliases = SystemAliases(_read(DATA_DIR / "code-systems.json")["systems"])
    assert aliases.canonical(ICD10CM_OID) == ICD10CM
    assert aliases.canonical("urn:oid:2.16.840.1.113883.6.96") == "http://snomed.info/sct"
    assert aliases.canonical("http://example.org/local") == "http://example.org/local"


def _first_trimester_part(bundle: Any) -> dict[str, Any]:
    resource = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "pregnancy-first-trimester-condition"
    )
    part: dict[str, Any] = resource["compose"]["include"][0]
    return part


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda part: part["concept"].append({"display": "no code"}), id="concept-without-code"),
        pytest.param(lambda part: part.__setitem__("concept", ["O09.01"]), id="concept-not-an-object"),
        pytest.param(lambda part: part.__setitem__("concept", 7), id="concept-list-not-a-list"),
    ],
)
def test_a_malformed_generated_list_stops_start_up(data_copy: Path, change: Callable[[Any], None]) -> None:
    """Generated lists are not FHIR-validated at start-up (tests do that), so compiling must refuse them."""
    _edit_json(data_copy / "valuesets/pregnancy.json", lambda b: change(_first_trimester_part(b)))
    with pytest.raises(KnowledgeError, match=r"pregnancy\.json.*pregnancy-first-trimester-condition"):
        load_knowledge(data_copy)
