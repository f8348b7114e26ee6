"""Body regions and sides: where an order will needle and where an infection is.

Reads every way an EHR sends a site in R4 (which has no laterality element): a region anchor code, a
pre-coordinated sided SNOMED site, a laterality qualifier as a further coding or as an extension on the
CodeableConcept, a SNOMED post-coordinated expression (``focus:272741003=side``), or only the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fhir_mappings.codes import ICD10CM, SNOMED, SystemAliases, normalise_icd10cm
from fhir_mappings.fhir_json import as_list, as_object, as_text, codings, concept_label

Side = Literal["right", "left", "both"]
SiteRelation = Literal["same", "near", "unknown", "apart"]
_MAX_SITE_TEXT = 256  # a body-site description longer than this is not a description; do not scan it all


@dataclass(frozen=True, slots=True)
class BodySite:
    """A site reduced to coarse regions and a side. ``regions`` is empty when unknown."""

    regions: frozenset[str]
    side: Side | None
    label: str

    @property
    def known(self) -> bool:
        """True when at least one region was recognised."""
        return bool(self.regions)


@dataclass(frozen=True, slots=True)
class BodyRegionKnowledge:
    """The compiled ``body-regions.json``."""

    paired_regions: frozenset[str]
    region_displays: Mapping[str, str]
    region_by_snomed: Mapping[str, str]
    sided_sites: Mapping[str, tuple[str, Side]]
    condition_sites: Mapping[str, str]
    adjacent: frozenset[frozenset[str]]
    laterality_attribute: str
    side_by_qualifier: Mapping[str, Side]
    laterality_extension_suffixes: tuple[str, ...]
    icd_sites: tuple[tuple[str, frozenset[str], Side | None], ...]
    keyword_regions: Mapping[str, str]
    keyword_sides: Mapping[str, Side]
    region_pattern: re.Pattern[str]
    side_pattern: re.Pattern[str]

    def display(self, site: BodySite) -> str:
        """``"right leg"``, ``"chest wall"``, or the sent label when the region is unknown."""
        if not site.regions:
            return site.label
        names = " / ".join(self.region_displays[r] for r in sorted(site.regions))
        side = {"right": "right ", "left": "left ", "both": "both sides, "}.get(site.side or "", "")
        return f"{side}{names}"


def parse_body_regions(document: Mapping[str, Any]) -> BodyRegionKnowledge:
    """Compile the body-region knowledge document."""
    regions: Mapping[str, Any] = document["regions"]
    region_by_snomed = {code: name for name, region in regions.items() for code in region["snomed"]}
    laterality = document["laterality"]
    keywords = [
        (word, region)
        for region, words in document["text_keywords"].items()
        if not region.startswith("_")
        for word in words
    ]
    keywords.sort(key=lambda pair: -len(pair[0]))  # "upper back" before "back"
    side_words = [(w, side) for side, words in document["side_keywords"].items() for w in words]
    return BodyRegionKnowledge(
        paired_regions=frozenset(n for n, r in regions.items() if r["paired"]),
        region_displays={n: r["display"] for n, r in regions.items()},
        region_by_snomed=region_by_snomed,
        sided_sites={
            code: (entry["region"], entry["side"])
            for code, entry in document["precoordinated_sided_sites"].items()
            if not code.startswith("_")
        },
        condition_sites={
            code: entry["region"]
            for code, entry in document["condition_finding_sites"].items()
            if not code.startswith("_")
        },
        adjacent=frozenset(frozenset(pair) for pair in document["adjacent"]),
        laterality_attribute=laterality["attribute"],
        side_by_qualifier=dict(laterality["codes"]),
        laterality_extension_suffixes=tuple(laterality["extension_url_suffixes"]),
        icd_sites=tuple(
            (normalise_icd10cm(code), frozenset(entry["regions"]), entry.get("side"))
            for entry in document["icd_site_codes"]
            for code in entry["codes"]
        ),
        keyword_regions=dict(keywords),
        keyword_sides=dict(side_words),
        region_pattern=_words_pattern(word for word, _ in keywords),
        side_pattern=_words_pattern(word for word, _ in side_words),
    )


def _words_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of the words as whole words, longest first ("upper back" before "back")."""
    alternatives = sorted(set(words), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in alternatives) + r")\b")


def read_body_site(concept: Any, knowledge: BodyRegionKnowledge, aliases: SystemAliases) -> BodySite:
    """Regions and side of one ``bodySite`` CodeableConcept."""
    regions: set[str] = set()
    sides: list[Side] = []
    for coding in codings(concept):
        if aliases.canonical(coding.system) != SNOMED:
            continue
        focus, qualifier_side = _split_expression(coding.code, knowledge)
        if qualifier_side:
            sides.append(qualifier_side)
        if focus in knowledge.sided_sites:
            region, side = knowledge.sided_sites[focus]
            regions.add(region)
            sides.append(side)
        elif focus in knowledge.region_by_snomed:
            regions.add(knowledge.region_by_snomed[focus])
        elif focus in knowledge.side_by_qualifier:
            sides.append(knowledge.side_by_qualifier[focus])
    sides.extend(_extension_sides(concept, knowledge, aliases))
    label = (concept_label(concept) or "unspecified site")[:_MAX_SITE_TEXT]
    text = (as_text((as_object(concept) or {}).get("text")) or label)[:_MAX_SITE_TEXT].lower()
    if not regions:
        regions.update(_regions_from_text(text, knowledge))
    if not sides:
        sides.extend(_sides_from_text(text, knowledge))
    return BodySite(frozenset(regions), _combine_sides(sides), label)


def sites_from_icd(code: str, knowledge: BodyRegionKnowledge) -> BodySite | None:
    """The site an ICD-10-CM L02/L03 code encodes in its digits, if it encodes one."""
    normalised = normalise_icd10cm(code)
    for prefix, regions, side in knowledge.icd_sites:
        if normalised.startswith(prefix):
            return BodySite(regions, side, code)
    return None


def condition_sites(
    condition: Mapping[str, Any], knowledge: BodyRegionKnowledge, aliases: SystemAliases
) -> list[BodySite]:
    """Where a condition is: its ``bodySite`` codings, else the ICD site digits, else the SNOMED finding
    site of the disorder. A side found in one source fills a side missing in another."""
    sites = [read_body_site(concept, knowledge, aliases) for concept in as_list(condition.get("bodySite"))]
    sites = [site for site in sites if site.known or site.side]
    code_sites: list[BodySite] = []
    for coding in codings(condition.get("code")):
        system = aliases.canonical(coding.system)
        if system == ICD10CM:
            icd_site = sites_from_icd(coding.code, knowledge)
            if icd_site:
                code_sites.append(icd_site)
        elif system == SNOMED and coding.code in knowledge.condition_sites:
            code_sites.append(
                BodySite(frozenset({knowledge.condition_sites[coding.code]}), None, coding.code)
            )
    known_sites = [site for site in sites if site.known]
    if known_sites:
        return [_fill_side(site, code_sites) for site in known_sites]
    side_only = next((site.side for site in sites if site.side), None)
    return [BodySite(site.regions, site.side or side_only, site.label) for site in code_sites]


def _fill_side(site: BodySite, code_sites: list[BodySite]) -> BodySite:
    """``site`` with its missing side taken from a code site of the same region (L03.116 + "lower leg")."""
    if site.side is not None:
        return site
    side = next((c.side for c in code_sites if c.side and c.regions & site.regions), None)
    return BodySite(site.regions, side, site.label) if side else site


def relate_sites(
    order_site: BodySite, infection_site: BodySite, knowledge: BodyRegionKnowledge
) -> SiteRelation:
    """How close an infection is to an ordered needling site."""
    if not order_site.known or not infection_site.known:
        return "unknown"
    best: SiteRelation = "apart"
    for order_region in order_site.regions:
        for infection_region in infection_site.regions:
            relation = _relate_regions(
                order_region, infection_region, order_site.side, infection_site.side, knowledge
            )
            if relation == "same":
                return "same"
            if relation == "near":
                best = "near"
    return best


def _relate_regions(
    region_a: str,
    region_b: str,
    side_a: Side | None,
    side_b: Side | None,
    knowledge: BodyRegionKnowledge,
) -> SiteRelation:
    sides_differ = side_a in {"left", "right"} and side_b in {"left", "right"} and side_a != side_b
    both_paired = region_a in knowledge.paired_regions and region_b in knowledge.paired_regions
    if region_a == region_b:
        if not sides_differ:
            return "same"
        return "apart" if region_a in knowledge.paired_regions else "near"
    if frozenset({region_a, region_b}) in knowledge.adjacent:
        return "apart" if sides_differ and both_paired else "near"
    return "apart"


def _split_expression(code: str, knowledge: BodyRegionKnowledge) -> tuple[str, Side | None]:
    """``"30021000:272741003=24028007"`` -> (``"30021000"``, ``"right"``)."""
    if ":" not in code:
        return code.strip(), None
    focus, refinement = code.split(":", 1)
    side: Side | None = None
    for attribute, _, value in (part.partition("=") for part in refinement.split(",")):
        if attribute.strip().split("|")[0].strip() == knowledge.laterality_attribute:
            side = knowledge.side_by_qualifier.get(value.strip().split("|")[0].strip())
    return focus.strip().split("|")[0].strip(), side


def _extension_sides(concept: Any, knowledge: BodyRegionKnowledge, aliases: SystemAliases) -> Iterable[Side]:
    for extension in as_list((as_object(concept) or {}).get("extension")):
        extension_obj = as_object(extension) or {}
        url = as_text(extension_obj.get("url")) or ""
        if not url.endswith(knowledge.laterality_extension_suffixes):
            continue
        for coding in codings(extension_obj.get("valueCodeableConcept")):
            if aliases.canonical(coding.system) == SNOMED and coding.code in knowledge.side_by_qualifier:
                yield knowledge.side_by_qualifier[coding.code]


def _regions_from_text(text: str, knowledge: BodyRegionKnowledge) -> set[str]:
    """Every region named in the text ("left wrist and neck" -> arm and neck)."""
    return {knowledge.keyword_regions[m.group(0)] for m in knowledge.region_pattern.finditer(text)}


def _sides_from_text(text: str, knowledge: BodyRegionKnowledge) -> list[Side]:
    return [knowledge.keyword_sides[m.group(0)] for m in knowledge.side_pattern.finditer(text)]


def _combine_sides(sides: list[Side]) -> Side | None:
    distinct = set(sides)
    if not distinct:
        return None
    if "both" in distinct or distinct == {"left", "right"}:
        return "both"
    return next(iter(distinct))
