"""Which draft orders are dry-needling orders, and where they will needle."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_mappings.body_regions import BodySite, read_body_site
from fhir_mappings.fhir_json import as_list, bundle_resources, codings, relative_reference
from fhir_mappings.knowledge import Knowledge

DRY_NEEDLING_VALUE_SET = "dry-needling-order"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR R4 id datatype


@dataclass(frozen=True, slots=True)
class DryNeedlingOrder:
    """A draft dry-needling ServiceRequest and its parsed body sites.

    ``reference`` is ``ServiceRequest/<id>``; an order sent without an id (or with one that is not a valid
    FHIR id) is still evaluated, but cannot be the target of a suggestion (``has_id`` is False).
    """

    reference: str
    resource: Mapping[str, Any]
    body_sites: tuple[BodySite, ...]
    has_id: bool = True


def is_dry_needling_order(
    resource: Mapping[str, Any],
    knowledge: Knowledge,
    local_codes: frozenset[tuple[str, str]] = frozenset(),
) -> bool:
    """A ServiceRequest whose code carries CPT 20560/20561 or a site-configured local code."""
    if resource.get("resourceType") != "ServiceRequest":
        return False
    value_set = knowledge.value_set(DRY_NEEDLING_VALUE_SET)
    for coding in codings(resource.get("code")):
        system = knowledge.aliases.canonical(coding.system)
        if value_set.contains(system, coding.code) or (system, coding.code) in local_codes:
            return True
    return False


def find_dry_needling_orders(
    draft_orders: Any,
    knowledge: Knowledge,
    selections: Iterable[str] | None = None,
    local_codes: frozenset[tuple[str, str]] = frozenset(),
) -> list[DryNeedlingOrder]:
    """The dry-needling orders among ``draftOrders``; only the selected ones when ``selections`` is given.

    Selections are matched as ``resourceType/id`` (never against ``fullUrl``).
    """
    selected = set(selections) if selections is not None else None
    orders: list[DryNeedlingOrder] = []
    for index, resource in enumerate(bundle_resources(draft_orders)):
        reference = relative_reference(resource)
        if selected is not None and reference not in selected:
            continue
        if not is_dry_needling_order(resource, knowledge, local_codes):
            continue
        sites = tuple(
            read_body_site(concept, knowledge.body_regions, knowledge.aliases)
            for concept in as_list(resource.get("bodySite"))
        )
        if reference is None:  # order-sign may carry an order without an id: evaluate it all the same
            orders.append(
                DryNeedlingOrder(
                    f"ServiceRequest (draft order {index + 1}, no id)", resource, sites, has_id=False
                )
            )
        else:  # an id that is not a FHIR id cannot be a suggestion's resourceId (CDS Hooks R9)
            valid_id = bool(_FHIR_ID.match(reference.split("/", 1)[1]))
            orders.append(DryNeedlingOrder(reference, resource, sites, has_id=valid_id))
    return orders
