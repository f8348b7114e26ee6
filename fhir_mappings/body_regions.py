"""Body regions and sides: where an order will needle and where an infection is.

Reads every way an EHR sends a site in R4 (which has no laterality element): a region anchor code, a
pre-coordinated sided SNOMED site, a laterality qualifier as a further coding or as an extension on the
CodeableConcept, a SNOMED post-coordinated expression (``focus:272741003=side``), or only words: the text
and the codings' displays (``"R knee"``, ``"Knee (R)"``, ``"RLE"``, ``"Right knee region structure"``).

ICD-10-CM codes give a site through an explicit code table (L02/L03) and digit rules (M00, M60.0, M86, L04:
the character after a prefix is the site, the next one the side).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fhir_mappings.codes import ICD10CM, SNOMED, SystemAliases, normalise_icd10cm
from fhir_mappings.fhir_json import as_list, as_object, as_text, codings, concept_label, concept_texts

Side = Literal["right", "left", "both"]
SiteRelation = Literal["same", "near", "unknown", "apart"]
_MAX_SITE_TEXT = 256  # a body-site description longer than this is not a description; do not scan it all
_MAX_SITE_TEXTS = 8  # the text and at most this many codings' displays are scanned per CodeableConcept


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
class IcdDigitRule:
    """ICD-10-CM codes that carry the site in the character after a prefix and the side in the next one."""

    prefixes: tuple[str, ...]  # dot-stripped, upper case
    site_digits: Mapping[str, frozenset[str]]
    side_digits: Mapping[str, Side]

    def site(self, normalised: str, label: str) -> BodySite | None:
        """The site a dot-stripped code encodes, or ``None`` if this rule gives none."""
        for prefix in self.prefixes:
            if not normalised.startswith(prefix) or len(normalised) <= len(prefix):
                continue
            regions = self.site_digits.get(normalised[len(prefix)])
            if not regions:
                return None
            side_digit = normalised[len(prefix) + 1 : len(prefix) + 2]
            return BodySite(regions, self.side_digits.get(side_digit), label)
        return None


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
    icd_digit_rules: tuple[IcdDigitRule, ...]
    keyword_regions: Mapping[str, frozenset[str]]
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
    keyword_regions: dict[str, set[str]] = {}
    for region, words in document["text_keywords"].items():
        if region.startswith("_"):
            continue
        for word in words:
            keyword_regions.setdefault(word.lower(), set()).add(region)
    side_words = {
        w.lower(): side
        for side, words in document["side_keywords"].items()
        if not side.startswith("_")
        for w in words
    }
    digit_rules = document.get("icd_site_digit_rules", [])
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
            for entry in [
                *document["icd_site_codes"],
                *(e for r in digit_rules for e in r.get("exceptions", [])),
            ]
            for code in entry["codes"]
        ),
        icd_digit_rules=tuple(
            IcdDigitRule(
                prefixes=tuple(normalise_icd10cm(prefix) for prefix in rule["prefixes"]),
                site_digits={digit: frozenset(regions) for digit, regions in rule["site_digits"].items()},
                side_digits=dict(rule["side_digits"]),
            )
            for rule in digit_rules
        ),
        keyword_regions={word: frozenset(regions) for word, regions in keyword_regions.items()},
        keyword_sides=side_words,
        region_pattern=_words_pattern(keyword_regions),
        side_pattern=_words_pattern(side_words),
    )


def _words_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of the words as whole words, longest first ("upper back" before "back").

    A word counts only when no letter or digit touches it. A one-letter word (the side abbreviations "r",
    "l") must also not follow "-" or "t/", nor come before a number, "spine", or "/" and a letter other
    than r or l: "R knee", "R. knee", "Knee (R)", "R-knee" and "R hip/L knee" read their sides, but "L4-5",
    "L5-S1", "L 5", "L-spine", "T-L junction", "T/L", "L/S" and "R/O" do not. A side dropped this way is
    unknown, which matches either side.
    """
    distinct = sorted(set(words), key=lambda w: (-len(w), w))
    longer = [re.escape(w) for w in distinct if len(w) > 1]
    letters = [re.escape(w) for w in distinct if len(w) == 1]
    alternatives = []
    if longer:
        alternatives.append(r"(?<!\w)(?:" + "|".join(longer) + r")(?!\w)")
    if letters:
        alternatives.append(
            r"(?<![\w-])(?<!t/)(?:"
            + "|".join(letters)
            + r")(?!\w)(?![\s.-]*\d)(?![\s-]*spine)(?!/[a-km-qs-z])"
        )
    return re.compile("|".join(alternatives) or r"(?!)")


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
    texts = _site_texts(concept)
    if not regions:
        regions.update(region for text in texts for region in _regions_from_text(text, knowledge))
    # the words are read even when a code gives the side: words that contradict the code make it "both"
    sides.extend(side for text in texts for side in _sides_from_text(text, knowledge))
    return BodySite(frozenset(regions), _combine_sides(sides), label)


def _site_texts(concept: Any) -> list[str]:
    """The text and every coding's display (any system), lower-case, each capped; at most _MAX_SITE_TEXTS."""
    texts: list[str] = []
    for text in concept_texts(concept, max_codings=_MAX_SITE_TEXTS * 4):
        lowered = _clip(text).lower()
        if lowered not in texts:
            texts.append(lowered)
        if len(texts) == _MAX_SITE_TEXTS:
            break
    return texts


def _clip(text: str) -> str:
    """``text`` cut to _MAX_SITE_TEXT characters, never mid-word ("...left" must not become "l")."""
    if len(text) <= _MAX_SITE_TEXT:
        return text
    clipped = text[:_MAX_SITE_TEXT]
    if text[_MAX_SITE_TEXT].isalnum():
        clipped = re.sub(r"\w+$", "", clipped)
    return clipped


def sites_from_icd(code: str, knowledge: BodyRegionKnowledge) -> BodySite | None:
    """The site an ICD-10-CM code encodes in its characters, if it encodes one: the explicit code table
    (L02/L03 and the digit rules' exceptions) first, then the digit rules (M00, M60.0, M86, L04)."""
    normalised = normalise_icd10cm(code)
    for prefix, regions, side in knowledge.icd_sites:
        if normalised.startswith(prefix):
            return BodySite(regions, side, code)
    for rule in knowledge.icd_digit_rules:
        site = rule.site(normalised, code)
        if site is not None:
            return site
    return None


def condition_sites(
    condition: Mapping[str, Any], knowledge: BodyRegionKnowledge, aliases: SystemAliases
) -> list[BodySite]:
    """Where a condition is: its ``bodySite`` codings, else the ICD site digits or the SNOMED finding site of
    the disorder, else the words of the diagnosis itself. A side found in one source fills a side missing in
    another."""
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
    if not code_sites:  # last resort: the diagnosis's own words ("Cellulitis of right knee")
        named = read_body_site(condition.get("code"), knowledge, aliases)
        return [BodySite(named.regions, named.side or side_only, named.label)] if named.known else []
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
    """Every region named in the text ("left wrist and neck" -> arm and neck; "back" -> both backs)."""
    return {
        region
        for m in knowledge.region_pattern.finditer(text)
        for region in knowledge.keyword_regions[m.group(0)]
    }


def _sides_from_text(text: str, knowledge: BodyRegionKnowledge) -> list[Side]:
    return [knowledge.keyword_sides[m.group(0)] for m in knowledge.side_pattern.finditer(text)]


def _combine_sides(sides: list[Side]) -> Side | None:
    distinct = set(sides)
    if not distinct:
        return None
    if "both" in distinct or distinct == {"left", "right"}:
        return "both"
    return next(iter(distinct))
