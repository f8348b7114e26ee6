"""Prometheus metrics: what an operator watches. No patient data; every label has a bounded set of values.

Under gunicorn the workers write their samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (multiprocess mode,
set up by :mod:`cds_service.gunicorn_config`) and the master serves them on ``DN_CDS_METRICS_PORT``; outside
gunicorn (tests, ``dn-cds demo``) the samples live in this process. ``prometheus_client`` is imported on first
use, not at import time: it decides between in-process and multiprocess values when it is imported, which must
happen after the gunicorn configuration has named the directory.

Label values come from closed sets: service ids and hooks from the catalog (anything else is ``unknown``),
finding codes and indicators from the knowledge files, FHIR failure reasons mapped onto the FHIR error
classes, refusal reasons from the verifier's fixed words. A value outside its set is counted as ``other``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "other"
UNKNOWN = "unknown"
# Seconds: the CDS Hooks budget is about 500 ms, the FHIR budget 2 s by default, gunicorn's timeout 30 s.
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
FHIR_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
STORE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
_WORD = re.compile(r"[a-z][a-z0-9-]{0,39}")


@dataclass(frozen=True, slots=True)
class ServiceMetrics:
    """The service's metrics (one set per process)."""

    hook_calls: Counter
    hook_call_seconds: Histogram
    fhir_fetch_seconds: Histogram
    fhir_fallback: Counter
    audit_write_seconds: Histogram
    cards: Counter
    token_refusals: Counter
    feedback_entries: Counter
    feedback_resubmitted: Counter
    store_errors: Counter
    readiness_failures: Counter


_lock = threading.Lock()
_metrics: list[ServiceMetrics] = []  # at most one: registering a metric twice is an error


def service_metrics() -> ServiceMetrics:
    """This process's metrics, registered with prometheus_client's default registry on first use (once,
    however many threads ask at the same moment)."""
    if _metrics:
        return _metrics[0]
    with _lock:
        if not _metrics:
            _metrics.append(_build())
        return _metrics[0]


def _build() -> ServiceMetrics:
    from prometheus_client import Counter, Histogram  # imported here: see the module docstring

    return ServiceMetrics(
        hook_calls=Counter(
            "dn_cds_hook_calls",
            "Hook calls answered, by service, hook and HTTP status.",
            ["service", "hook", "status"],
        ),
        hook_call_seconds=Histogram(
            "dn_cds_hook_call_seconds",
            "Whole hook call, from the request's arrival to the audit record written.",
            ["service"],
            buckets=CALL_BUCKETS,
        ),
        fhir_fetch_seconds=Histogram(
            "dn_cds_fhir_fetch_seconds",
            "FHIR fallback reads of one hook call (all missing prefetch keys, concurrently).",
            buckets=FHIR_BUCKETS,
        ),
        fhir_fallback=Counter(
            "dn_cds_fhir_fallback",
            "Prefetch keys read from fhirServer, by outcome (read, or why not).",
            ["outcome"],
        ),
        audit_write_seconds=Histogram(
            "dn_cds_audit_write_seconds", "Writing one hook call's audit record.", buckets=STORE_BUCKETS
        ),
        cards=Counter(
            "dn_cds_cards", "Cards returned, by finding code and indicator.", ["finding", "indicator"]
        ),
        token_refusals=Counter("dn_cds_token_refusals", "Requests refused with 401, by reason.", ["reason"]),
        feedback_entries=Counter(
            "dn_cds_feedback_entries", "Feedback entries acknowledged, by card outcome.", ["outcome"]
        ),
        feedback_resubmitted=Counter(
            "dn_cds_feedback_resubmitted", "Acknowledged feedback entries that were already stored (resent)."
        ),
        store_errors=Counter(
            "dn_cds_store_errors", "Store operations that failed, by operation.", ["operation"]
        ),
        readiness_failures=Counter(
            "dn_cds_readiness_failures", "Readiness checks answered 503, by cause.", ["cause"]
        ),
    )


def bounded(value: str | None, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed``, ``unknown`` when absent, else ``other``."""
    if value is None:
        return UNKNOWN
    return value if value in allowed else OTHER


def word(value: str) -> str:
    """A short lower-case word (``[a-z][a-z0-9-]*``, at most 40 characters) as is, anything else ``other``."""
    return value if _WORD.fullmatch(value) else OTHER


def slug(name: str) -> str:
    """``FhirTimeBudget`` -> ``fhir-time-budget``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def multiprocess_dir() -> str | None:
    """The multiprocess directory when this process writes its samples to files (under gunicorn)."""
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None


def registry() -> CollectorRegistry:
    """What ``/metrics`` shows: every worker's samples (multiprocess), else this process's."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    collected = CollectorRegistry()
    MultiProcessCollector(collected, path=directory)  # type: ignore[no-untyped-call]
    return collected


def metrics_wsgi_app() -> Callable[..., Any]:
    """A WSGI app answering ``GET /metrics`` (the Prometheus text format) and 404 elsewhere."""
    from prometheus_client import make_wsgi_app

    exposition = make_wsgi_app(registry())

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: metrics are at /metrics\n"]
        result: Iterable[bytes] = exposition(environ, start_response)
        return result

    return app
