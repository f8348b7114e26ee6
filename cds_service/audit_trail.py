"""The edge's side of the audit: one :class:`HookCallRecord` per hook call, written before the answer leaves.

What is kept: time, service, hook, hookInstance, the patient's keyed pseudonym, finding codes, card uuids
(with the suggestion uuids each offered, and the token's issuer and tenant: who may give feedback on it),
evidence references (``Type/id``), knowledge version, which prefetch keys were unusable and why (and whether
they could be read from ``fhirServer`` instead), the status and the latency. Never the access token, the JWT,
the patient id or any resource.

If the record cannot be written the call fails with 503 (OperationOutcome): the EHR goes on without this
service's advice rather than getting advice nobody can account for later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import g, has_request_context
from werkzeug.exceptions import HTTPException

from cards.builder import EXTENSION_EVIDENCE
from cds_service.auth import VerifiedToken
from cds_service.catalog import ServiceDefinition
from cds_service.errors import CdsServiceError
from cds_service.fhir_client import FhirError
from cds_service.hook_request import HookRequest
from cds_service.metrics import ServiceMetrics, bounded, service_metrics, slug
from cds_service.patient_data import FetchResult, MissingReason, PatientDataFetcher, read_prefetch
from cds_service.store import AuditedCard, HookCallRecord, Store, StoreUnavailable
from cds_service.store.replay import ReplayedToken

# The verified token (``cds_service.auth.VerifiedToken``) of a hook call whose token id the security gate
# left for the audit record's transaction to claim (``flask.g`` key).
DEFERRED_TOKEN = "dn_cds_deferred_token"  # noqa: S105 - a key name, not a secret


@dataclass(slots=True)
class CallDraft:
    """What the route learns about a call as it goes; the audit record is built from it at the end."""

    service_id: str
    request: HookRequest | None = None
    service: ServiceDefinition | None = None
    cards: Sequence[Mapping[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AuditTrail:
    """Turns drafts into records and writes them to the store."""

    store: Store
    knowledge_version: str
    now: Callable[[], datetime]
    known: KnownLabels = field(default_factory=lambda: KnownLabels())

    @contextmanager
    def hook_call(self, service_id: str, started: float) -> Iterator[CallDraft]:
        """Audit the call made in the block, whether it answers or fails with a service error."""
        draft = CallDraft(service_id)
        try:
            yield draft
        except CdsServiceError as error:
            self._write(self.record(draft, error.status, started), started)
            raise
        except HTTPException as error:  # e.g. 413, a body over DN_CDS_MAX_BODY_BYTES
            self._write(self.record(draft, error.code or 500, started), started)
            raise
        except Exception:
            self._write(self.record(draft, 500, started), started)
            raise
        record = self.record(draft, 200, started)
        draft.request = None  # the request's resources are not kept while the record's commit is awaited
        self._write(record, started)

    def _write(self, record: HookCallRecord, started: float) -> None:
        """Store ``record``, timing the write, and count the call with the status it is answered with.

        A token id the security gate left to the audit (:data:`DEFERRED_TOKEN`) is claimed in the same
        transaction: one commit makes both durable, and a token another call claimed first raises
        :class:`ReplayedToken` (answered 401) with nothing written."""
        metrics = service_metrics()
        written = time.perf_counter()
        status = record.status
        token: VerifiedToken | None = g.pop(DEFERRED_TOKEN, None) if has_request_context() else None
        replay = self.store.replay
        claim = (
            None
            if token is None
            else lambda connection: replay.claim(connection, token.issuer, token.jti, token.expires_at)
        )
        try:
            self.store.audit.record(record, claim)
        except StoreUnavailable as error:
            status = error.status
            raise
        except ReplayedToken:
            status = 401
            raise
        finally:
            finished = time.perf_counter()
            metrics.audit_write_seconds.observe(finished - written)
            observe_call(metrics, record, status, finished - started, self.known)
        if token is not None:
            replay.purge_if_due()

    def record(self, draft: CallDraft, status: int, started: float) -> HookCallRecord:
        """The audit record of ``draft`` answered with ``status``."""
        request = draft.request
        return HookCallRecord(
            called_at=self.now(),
            service_id=draft.service_id,
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000,
            hook=request.hook if request else None,
            hook_instance=request.hook_instance if request else None,
            patient_pseudonym=self.store.pseudonymizer.pseudonym(request.patient_id) if request else None,
            knowledge_version=self.knowledge_version,
            cards=[audited_card(card) for card in draft.cards],
            data_completeness=data_completeness(request, draft.service),
            issuer=g.get("token_issuer") if has_request_context() else None,
            tenant=g.get("tenant") if has_request_context() else None,
        )


@dataclass(frozen=True, slots=True)
class KnownLabels:
    """The closed sets metric labels are drawn from (anything else is counted as ``other``)."""

    services: frozenset[str] = frozenset()
    hooks: frozenset[str] = frozenset()
    findings: frozenset[str] = frozenset()
    indicators: frozenset[str] = frozenset({"info", "warning", "critical"})


def observe_call(
    metrics: ServiceMetrics, record: HookCallRecord, status: int, seconds: float, known: KnownLabels
) -> None:
    """Count one answered hook call (``seconds`` from arrival to audit written) and its cards."""
    service = bounded(record.service_id, known.services)
    metrics.hook_calls.labels(
        service=service, hook=bounded(record.hook, known.hooks), status=str(status)
    ).inc()
    metrics.hook_call_seconds.labels(service=service).observe(seconds)
    if status != 200:
        return
    for card in record.cards:
        metrics.cards.labels(
            finding=bounded(card.finding_code, known.findings),
            indicator=bounded(card.indicator, known.indicators),
        ).inc()


def audited_card(card: Mapping[str, Any]) -> AuditedCard:
    """The audit's view of a card this service built."""
    evidence = card.get("extension", {}).get(EXTENSION_EVIDENCE, [])
    return AuditedCard(
        uuid=card["uuid"],
        finding_code=card["source"]["topic"]["code"],
        indicator=card["indicator"],
        evidence=tuple(evidence),
        suggestions=tuple(suggestion["uuid"] for suggestion in card.get("suggestions", [])),
    )


def data_completeness(
    request: HookRequest | None, service: ServiceDefinition | None
) -> dict[str, dict[str, str]]:
    """Each prefetch key the EHR did not usably send: ``{"prefetch": why (missing, failed, incomplete,
    unreadable), "fhirServer": "read" or why not}`` (the latter when this request tried to fetch it)."""
    if request is None or service is None:
        return {}
    fetched: dict[str, str] = g.get(_FETCH_OUTCOMES, {}) if has_request_context() else {}
    completeness: dict[str, dict[str, str]] = {}
    for key, reason in read_prefetch(request, service).missing.items():
        completeness[key] = {"prefetch": str(reason)}
        if key in fetched:
            completeness[key]["fhirServer"] = fetched[key]
    return completeness


_FETCH_OUTCOMES = "dn_cds_fetch_outcomes"


class AuditedFetcher:
    """Passes fetches through to ``inner``, noting for the audit which keys it read and why others not."""

    def __init__(self, inner: PatientDataFetcher) -> None:
        self.inner = inner

    def fetch(
        self, request: HookRequest, service: ServiceDefinition, missing: Mapping[str, MissingReason]
    ) -> FetchResult:
        """``inner.fetch``, its outcome per key kept for this request's audit record."""
        metrics = service_metrics()
        try:
            with metrics.fhir_fetch_seconds.time():
                result = self.inner.fetch(request, service, missing)
        except CdsServiceError:
            _note_fetch({key: "not fetchable" for key in missing})
            metrics.fhir_fallback.labels(outcome="not-fetchable").inc(len(missing))
            raise
        outcomes = {
            key: "read"
            if key in result.resources and key not in result.failures
            else result.failures.get(key, "not fetched")
            for key in missing
        }
        _note_fetch(outcomes)
        for outcome in outcomes.values():
            metrics.fhir_fallback.labels(outcome=fallback_outcome(outcome)).inc()
        return result

    def read_references(self, request: HookRequest, references: list[str], started: float) -> FetchResult:
        """``inner.read_references`` (referenced Medications, panel members), noted for the audit as one
        entry, ``referencedResources``; an inner fetcher that cannot read references fails each one."""
        reader = getattr(self.inner, "read_references", None)
        if reader is None:
            result = FetchResult(
                failures={ref: "this service cannot read referenced resources" for ref in references}
            )
        else:
            result = reader(request, references, started)
        failures = [result.failures[ref] for ref in references if ref in result.failures]
        _note_fetch({"referencedResources": failures[0] if failures else "read"})
        return result


def _error_classes(base: type[FhirError]) -> Iterator[type[FhirError]]:
    for subclass in base.__subclasses__():
        yield subclass
        yield from _error_classes(subclass)


_FALLBACK_OUTCOMES = {
    "read": "read",
    "not fetched": "not-fetched",
    "the FHIR query failed unexpectedly": "unexpected-error",
} | {cls.default_reason: slug(cls.__name__).removeprefix("fhir-") for cls in _error_classes(FhirError)}


def fallback_outcome(reason: str) -> str:
    """A FHIR fallback outcome as a metric label: ``read``, the FHIR error's kind, or ``other``."""
    if reason.startswith("no answer within the time budget"):
        return "time-budget"
    if reason.startswith("the FHIR search has more than"):
        return "too-many-pages"
    if reason.startswith(("the FHIR server's answer to a", "the FHIR server's Bundle")):
        return "bad-response"
    if reason.startswith("the prefetch template has a token"):
        return "template"
    return _FALLBACK_OUTCOMES.get(reason, "other")


def _note_fetch(outcomes: Mapping[str, str]) -> None:
    if has_request_context():
        g.setdefault(_FETCH_OUTCOMES, {}).update(outcomes)
