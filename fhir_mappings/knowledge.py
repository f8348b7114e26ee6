"""Load the knowledge files once, check them, and compile them for the rules.

A malformed file stops start-up with :class:`KnowledgeError` naming the file and what is wrong. ValueSets and
the finding CodeSystem are validated as FHIR R4 (``fhir.resources.R4B``, the nearest package to R4) here, at
load time, never on the request path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.valueset import ValueSet
from pydantic import ValidationError

from fhir_mappings.answer_text import AnswerTextKnowledge, parse_answer_text
from fhir_mappings.body_regions import BodyRegionKnowledge, parse_body_regions
from fhir_mappings.codes import SystemAliases
from fhir_mappings.condition_text import ConditionTextKnowledge, parse_condition_text
from fhir_mappings.policy import Policy, PolicyFormatError, parse_policy
from fhir_mappings.precaution_knowledge import PrecautionKnowledge, parse_precautions
from fhir_mappings.risk_knowledge import (
    AntithromboticKnowledge,
    LabTest,
    SiteRisk,
    parse_antithrombotics,
    parse_labs,
    parse_site_risks,
)
from fhir_mappings.terminology import ContentMemo, Terminology
from fhir_mappings.valuesets import ValueSetFormatError, ValueSetMatcher, compile_value_set

DATA_DIR = Path(__file__).parent / "data"
SOURCE_EXTENSION = "urn:dn-cds:StructureDefinition/knowledge-source"
FINDING_KINDS = frozenset(
    {"indication", "contraindication", "precaution", "missing-data", "disclosure", "notice"}
)


class KnowledgeError(RuntimeError):
    """A knowledge file is missing or malformed; the service must not start."""


@dataclass(frozen=True, slots=True)
class FindingDefinition:
    """One concept of the finding CodeSystem."""

    code: str
    kind: str
    display: str


@dataclass(frozen=True, slots=True)
class Knowledge:
    """Everything the rules know, compiled once."""

    version: str
    value_sets: Mapping[str, ValueSetMatcher]
    findings: Mapping[str, FindingDefinition]
    finding_system: str
    policy: Policy
    body_regions: BodyRegionKnowledge
    aliases: SystemAliases
    sorted_indication_keys: tuple[str, ...] = ()
    answer_text: AnswerTextKnowledge = field(default_factory=AnswerTextKnowledge)
    antithrombotics: AntithromboticKnowledge = field(default_factory=AntithromboticKnowledge)
    lab_tests: tuple[LabTest, ...] = ()
    site_risks: tuple[SiteRisk, ...] = ()
    condition_text: ConditionTextKnowledge = field(default_factory=ConditionTextKnowledge)
    precautions: PrecautionKnowledge = field(default_factory=PrecautionKnowledge)

    terminology: Terminology = field(init=False, repr=False, compare=False)
    # answers that depend only on a concept's codings and this knowledge (chart_view.concept_facts)
    concept_memo: ContentMemo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Derived from value_sets and aliases (so a dataclasses.replace gets its own).
        terminology = Terminology(dict(self.value_sets))
        object.__setattr__(self, "terminology", terminology)
        object.__setattr__(self, "concept_memo", ContentMemo())
        # the free-text rules read a concept's words when no value set of *this* knowledge places its codes
        text = replace(self.condition_text, is_known_code=terminology.is_known_code)
        object.__setattr__(self, "condition_text", text)

    def value_set(self, value_set_id: str) -> ValueSetMatcher:
        """The compiled ValueSet with this id (a missing id is a programming error)."""
        return self.value_sets[value_set_id]

    def indication_keys(self) -> tuple[str, ...]:
        """The indication keys, from the ``indication-<key>`` ValueSet ids (sorted, computed at load)."""
        return self.sorted_indication_keys


def load_knowledge(data_dir: Path = DATA_DIR, policy_file: Path | None = None) -> Knowledge:
    """Read, validate and compile every knowledge file under ``data_dir``.

    ``policy_file`` is a site's policy override file (``DN_CDS_POLICY_FILE``): it changes settings of
    ``policy.json`` by key; an unknown key or a value of the wrong type raises :class:`KnowledgeError`.
    """
    value_sets: dict[str, ValueSetMatcher] = {}
    for path in sorted((data_dir / "valuesets").glob("*.json")):
        for resource in _bundle_value_sets(path):
            if resource["id"] in value_sets:
                raise KnowledgeError(f"{path.name}: duplicate ValueSet id {resource['id']}")
            try:
                value_sets[resource["id"]] = compile_value_set(resource)
            except ValueSetFormatError as error:
                raise KnowledgeError(f"{path.name}: {error}") from error
            except (KeyError, TypeError, AttributeError) as error:  # generated lists skip FHIR checks
                raise KnowledgeError(
                    f"{path.name}: ValueSet {resource['id']} has a malformed concept ({error!r}); "
                    "regenerate it with scripts/expand_valuesets.py"
                ) from error
    if not value_sets:
        raise KnowledgeError(f"{data_dir}: no ValueSets found")
    finding_system, findings = _finding_codes(data_dir / "finding-codes.json")
    policy_document = _read_json(data_dir / "policy.json")
    try:
        policy = parse_policy(policy_document)
    except PolicyFormatError as error:
        raise KnowledgeError(f"policy.json: {error}") from error
    site_document = _read_site_policy(policy_file) if policy_file is not None else None
    if site_document is not None:
        try:
            policy = parse_policy(policy_document, site_document)
        except PolicyFormatError as error:
            raise KnowledgeError(f"{policy_file} (DN_CDS_POLICY_FILE): {error}") from error
    try:
        body_regions = parse_body_regions(_read_json(data_dir / "body-regions.json"))
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise KnowledgeError(f"body-regions.json: missing or malformed {error}") from error
    try:
        aliases = SystemAliases(_read_json(data_dir / "code-systems.json")["systems"])
    except (KeyError, TypeError, AttributeError) as error:
        raise KnowledgeError(f"code-systems.json: missing or malformed {error}") from error
    version = str(policy_document.get("version", "unversioned"))
    if site_document is not None:
        version += f"+site.{_site_version(site_document)}"
    antithrombotics, lab_tests, site_risks = _risk_knowledge(data_dir, value_sets, body_regions)
    answer_text = _answer_text(_read_json(data_dir / "pregnancy-text.json"))
    condition_text = _condition_text(_read_json(data_dir / "condition-text.json"), value_sets)
    precautions = _precautions(_read_json(data_dir / "precautions.json"), value_sets, body_regions)
    return Knowledge(
        version=version,
        value_sets=value_sets,
        findings=findings,
        finding_system=finding_system,
        policy=policy,
        body_regions=body_regions,
        aliases=aliases,
        answer_text=answer_text,
        antithrombotics=antithrombotics,
        lab_tests=lab_tests,
        site_risks=site_risks,
        condition_text=condition_text,
        precautions=precautions,
        sorted_indication_keys=tuple(
            sorted(
                vs_id.removeprefix("indication-") for vs_id in value_sets if vs_id.startswith("indication-")
            )
        ),
    )


def _read_site_policy(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise KnowledgeError(f"{path} (DN_CDS_POLICY_FILE): cannot be read ({error})") from error
    except json.JSONDecodeError as error:
        raise KnowledgeError(f"{path} (DN_CDS_POLICY_FILE): not valid JSON ({error})") from error


def _site_version(site_document: Any) -> str:
    """The site file's own ``version``, made safe for a version string (``"unversioned"`` when absent)."""
    raw = str(site_document.get("version") or "unversioned") if isinstance(site_document, dict) else ""
    return re.sub(r"[^0-9A-Za-z.-]", "-", raw)[:40] or "unversioned"


def _risk_knowledge(
    data_dir: Path, value_sets: Mapping[str, ValueSetMatcher], body_regions: BodyRegionKnowledge
) -> tuple[AntithromboticKnowledge, tuple[LabTest, ...], tuple[SiteRisk, ...]]:
    """The medication, laboratory and site-risk knowledge; every value set they name must exist."""
    compiled: list[Any] = []
    for name, parse in (
        ("antithrombotics.json", parse_antithrombotics),
        ("labs.json", parse_labs),
        ("site-risks.json", lambda doc: parse_site_risks(doc, body_regions.region_displays)),
    ):
        document = _read_json(data_dir / name)
        if not isinstance(document, dict) or not document.get("sources"):
            raise KnowledgeError(f"{name}: names no source")
        try:
            compiled.append(parse(document))
        except (KeyError, TypeError, AttributeError, ValueError, StopIteration) as error:
            raise KnowledgeError(f"{name}: missing or malformed {error}") from error
    antithrombotics, lab_tests, site_risks = compiled
    named = [antithrombotics.condition_value_set]
    named += [i.value_set for i in antithrombotics.ingredients]
    named += [i.condition_value_set for i in antithrombotics.ingredients if i.condition_value_set]
    named += [test.value_set for test in lab_tests]
    missing = sorted(set(named) - set(value_sets))
    if missing:
        raise KnowledgeError(f"antithrombotics.json/labs.json: unknown value sets {missing}")
    return antithrombotics, lab_tests, site_risks


def _precautions(
    document: Any, value_sets: Mapping[str, ValueSetMatcher], body_regions: BodyRegionKnowledge
) -> PrecautionKnowledge:
    """``precautions.json`` compiled; every value set and body region it names must exist."""
    try:
        compiled = parse_precautions(document)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise KnowledgeError(f"precautions.json: missing or malformed {error}") from error
    missing = sorted(set(compiled.value_set_ids()) - set(value_sets))
    unknown_regions = sorted(set(compiled.regions()) - set(body_regions.region_displays))
    if missing or unknown_regions:
        raise KnowledgeError(
            f"precautions.json: unknown value sets {missing} or body regions {unknown_regions}"
        )
    return compiled


def _condition_text(document: Any, value_sets: Mapping[str, ValueSetMatcher]) -> ConditionTextKnowledge:
    """``condition-text.json`` compiled; every value set it names must exist."""
    if not isinstance(document, dict) or not document.get("sources"):
        raise KnowledgeError("condition-text.json: names no source")
    try:
        compiled = parse_condition_text(document)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise KnowledgeError(f"condition-text.json: missing or malformed {error}") from error
    missing = sorted(set(compiled.names_by_value_set) - set(value_sets))
    if missing:
        raise KnowledgeError(f"condition-text.json: unknown value sets {missing}")
    return compiled  # its is_known_code is bound to the knowledge's own terminology (Knowledge.__post_init__)


def _answer_text(document: Any) -> AnswerTextKnowledge:
    """``pregnancy-text.json`` compiled (see fhir_mappings/answer_text.py for its grammar)."""
    if not isinstance(document, dict) or not document.get("sources"):
        raise KnowledgeError("pregnancy-text.json: names no source")
    try:
        return parse_answer_text(document)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise KnowledgeError(f"pregnancy-text.json: missing or malformed {error}") from error


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise KnowledgeError(f"{path}: knowledge file missing") from error
    except json.JSONDecodeError as error:
        raise KnowledgeError(f"{path.name}: not valid JSON ({error})") from error


def _bundle_value_sets(path: Path) -> list[dict[str, Any]]:
    bundle = _read_json(path)
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise KnowledgeError(f"{path.name}: expected a collection Bundle of ValueSets")
    resources: list[dict[str, Any]] = []
    for index, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        try:
            ValueSet.model_validate(_without_derived_lists(resource))
        except ValidationError as error:
            raise KnowledgeError(
                f"{path.name}: entry {index} is not a valid FHIR ValueSet: {error}"
            ) from error
        assert isinstance(resource, dict)  # noqa: S101 - narrowed by the validation above
        if not any(
            ext.get("url") == SOURCE_EXTENSION and str(ext.get("valueString") or "").strip()
            for ext in resource.get("extension") or []
        ):
            raise KnowledgeError(f"{path.name}: ValueSet {resource['id']} names no source")
        resources.append(resource)
    return resources


GENERATED_EXTENSION = "urn:dn-cds:StructureDefinition/generated-from"


def _without_derived_lists(resource: Any) -> Any:
    """The ValueSet as validated at start-up: without its expansion and without the concept lists of
    generated compose parts. Both are written by scripts/expand_valuesets.py from the pinned ICD-10-CM
    release and checked by the test suite (regeneration, FHIR validity, code validity); validating their
    thousands of codes here would multiply the start-up time. Matching still uses the generated lists."""
    if not isinstance(resource, dict):
        return resource
    checked = {k: v for k, v in resource.items() if k != "expansion"}
    compose = checked.get("compose")
    if isinstance(compose, dict):
        checked["compose"] = {
            key: [_without_generated_concepts(part) for part in parts] if isinstance(parts, list) else parts
            for key, parts in compose.items()
        }
    return checked


def _without_generated_concepts(part: Any) -> Any:
    if isinstance(part, dict) and any(
        isinstance(ext, dict) and ext.get("url") == GENERATED_EXTENSION for ext in part.get("extension") or []
    ):
        return {k: v for k, v in part.items() if k != "concept"}
    return part


def _finding_codes(path: Path) -> tuple[str, dict[str, FindingDefinition]]:
    document = _read_json(path)
    try:
        CodeSystem.model_validate(document)
    except ValidationError as error:
        raise KnowledgeError(f"{path.name}: not a valid FHIR CodeSystem: {error}") from error
    findings: dict[str, FindingDefinition] = {}
    for concept in document["concept"]:
        kinds = [p.get("valueCode") for p in concept.get("property", []) if p.get("code") == "kind"]
        if len(kinds) != 1 or kinds[0] not in FINDING_KINDS:
            raise KnowledgeError(f"{path.name}: concept {concept['code']} needs one valid 'kind'")
        findings[concept["code"]] = FindingDefinition(concept["code"], kinds[0], concept["display"])
    return str(document["url"]), findings
