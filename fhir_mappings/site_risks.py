"""Site-specific risks of an ordered site: pneumothorax over the lung, fainting at the head or neck."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_mappings.fhir_json import as_list, concept_texts
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.orders import DryNeedlingOrder


@dataclass(frozen=True, slots=True)
class SiteRiskMatch:
    """A site risk that applies to an order, and the site that triggered it (as the card names it)."""

    code: str
    site: str


def order_site_risks(order: DryNeedlingOrder, knowledge: Knowledge) -> list[SiteRiskMatch]:
    """The site risks of the order's body sites, in ``site-risks.json`` order (none for an unknown site)."""
    texts = _site_texts(order)
    matches: list[SiteRiskMatch] = []
    for risk in knowledge.site_risks:
        site = next((s for s in order.body_sites if s.regions & risk.regions), None)
        if site is not None:
            matches.append(SiteRiskMatch(risk.code, knowledge.body_regions.display(site)))
            continue
        worded = next((m.group(0) for t in texts if (m := risk.keyword_pattern.search(t))), None)
        if worded is not None:
            matches.append(SiteRiskMatch(risk.code, worded.lower()))
    return matches


def _site_texts(order: DryNeedlingOrder) -> list[str]:
    """The text and coding displays of the order's bodySite concepts (each capped)."""
    texts: list[str] = []
    for concept in as_list(order.resource.get("bodySite"))[:8]:
        texts += [text[:256] for text in concept_texts(concept, max_codings=8)]
    return texts
