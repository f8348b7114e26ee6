"""One hook call end to end: orders -> patient record -> findings -> cards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cards import CardContext, CardWording, build_cards
from cds_service.catalog import ServiceDefinition
from cds_service.hook_request import HookRequest
from cds_service.incomplete_data import (
    KeyCoverage,
    check_negative_findings,
    drop_unsupported_negatives,
    incomplete_data_finding,
)
from cds_service.patient_data import (
    DEFAULT_MAX_RESOURCES_PER_KEY,
    PatientDataFetcher,
    gather_patient_data,
)
from fhir_mappings import (
    Knowledge,
    evaluate_orders,
    evaluate_patient,
    find_dry_needling_orders,
)
from fhir_mappings.fhir_json import read_once


@dataclass(frozen=True, slots=True)
class Advisor:
    """Loaded knowledge and wording, plus how to get missing patient data."""

    knowledge: Knowledge
    wording: CardWording
    fetcher: PatientDataFetcher
    local_order_codes: frozenset[tuple[str, str]] = frozenset()
    key_coverage: Mapping[str, KeyCoverage] = field(default_factory=dict)
    handout_label: str = "Patient handout"
    max_resources_per_key: int = DEFAULT_MAX_RESOURCES_PER_KEY
    finding_displays: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        # Built once per process, not per hook call.
        displays = {code: f.display for code, f in self.knowledge.findings.items()}
        object.__setattr__(self, "finding_displays", displays)
        check_negative_findings(self.key_coverage, self.knowledge)

    def cards(
        self,
        request: HookRequest,
        service: ServiceDefinition,
        today: date,
        *,
        handout_url: str | None = None,
        source_url: str | None = None,
        uuid_seed: str = "",
    ) -> list[dict[str, Any]]:
        """The cards for a validated request. No dry-needling order on an order hook -> no cards and no
        patient data needed. ``handout_url`` (absolute) is linked from the disclosure card; ``source_url``
        (absolute, the rule-base page) is every card's ``source.url``; ``uuid_seed`` (a secret per caller and
        call) makes the card uuids unguessable."""
        with read_once():  # the request's JSON is read, never changed: each concept's codings read once
            return self._cards(request, service, today, handout_url, source_url, uuid_seed)

    def _cards(
        self,
        request: HookRequest,
        service: ServiceDefinition,
        today: date,
        handout_url: str | None,
        source_url: str | None,
        uuid_seed: str,
    ) -> list[dict[str, Any]]:
        if request.hook == "patient-view":
            data = gather_patient_data(request, service, self.fetcher, self.max_resources_per_key)
            findings = evaluate_patient(data.record, self.knowledge, today)
            orders = {}
            references: tuple[str, ...] = ()
        else:
            dn_orders = find_dry_needling_orders(
                request.draft_orders, self.knowledge, request.selections, self.local_order_codes
            )
            if not dn_orders:
                return []
            data = gather_patient_data(request, service, self.fetcher, self.max_resources_per_key)
            findings = evaluate_orders(dn_orders, data.record, self.knowledge, today, request.draft_orders)
            orders = {order.reference: order.resource for order in dn_orders if order.has_id}
            references = tuple(order.reference for order in dn_orders)
        if data.unavailable:  # never let missing data read as "nothing on file"
            findings = drop_unsupported_negatives(findings, data.unavailable, self.key_coverage)
            findings.append(
                incomplete_data_finding(data.unavailable, self.key_coverage, self.knowledge, references)
            )
        context = CardContext(
            hook_instance=request.hook_instance,
            finding_system=self.knowledge.finding_system,
            finding_displays=self.finding_displays,
            knowledge_version=self.knowledge.version,
            handout_link=(self.handout_label, handout_url) if handout_url else None,
            source_url=source_url,
            uuid_seed=uuid_seed,
        )
        return build_cards(findings, orders, context, self.wording)
