"""Reads the prefetch keys the EHR did not usably send from its ``fhirServer`` (CDS Hooks C2-C4, C6).

- The query is the service's own prefetch template with its tokens substituted: prefetch and fallback share
  one text and cannot drift.
- Only a ``fhirServer`` on the caller's allowlist is ever called: the ``fhir_servers`` of the token's
  issuer (or ``tenant_fhir_servers`` of its tenant) in ``DN_CDS_TRUSTED_ISSUERS``, else
  ``DN_CDS_FHIR_SERVER_ALLOWLIST``; any other -> 412, no request.
- The keys of one hook call are read concurrently (a small per-process thread pool), within one overall time
  budget (``DN_CDS_FHIR_TIME_BUDGET_SECONDS``); searchsets are paged via ``next`` links that must stay on the
  server's origin and allowlist, up to ``DN_CDS_FHIR_MAX_PAGES`` pages. A read template
  (``Patient/{{context.patientId}}``) must be answered with that very resource, a search with a Bundle:
  anything else is a failure of the key, never silently "no data".
- A key that cannot be read (401, timeout, server down, too many pages...) is reported as a failure with a
  short reason, never as "no data": the evaluation runs on what it has and says what is missing.
- The access token goes only to that server, and is never logged, cached or stored.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from flask import g, has_request_context

from cds_service.catalog import TOKEN_RE, ServiceDefinition
from cds_service.errors import PreconditionFailed
from cds_service.fhir_client import (
    AddressPolicy,
    ByteBudget,
    FhirBadResponse,
    FhirClient,
    FhirError,
    FhirOriginRefused,
    FhirQueryFailed,
    FhirTooManyPages,
    origin,
)
from cds_service.hook_request import HookRequest
from cds_service.patient_data import (
    FetchResult,
    MissingReason,
    Resources,
    next_page_url,
    page_problem,
    too_many_resources,
)
from cds_service.settings import Settings
from cds_service.trust import normalised_path, path_under
from fhir_mappings.fhir_json import bundle_resources

log = logging.getLogger("dn_cds.fhir")
_USER_TOKEN_TYPES = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


class ServerAllowlist:
    """FHIR base URL prefixes: same scheme, host and port, and a path that starts with the prefix's path at a
    segment boundary (``https://h/fhir`` allows ``https://h/fhir/R4``, not ``https://h/fhirx``).

    Paths are compared as the server will resolve them (:func:`cds_service.trust.normalised_path`), and a
    URL whose path holds a dot segment in any spelling, an encoded slash or a double encoding is never
    allowed: ``https://h/fhir/../admin`` is not under ``https://h/fhir``.
    """

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self.prefixes = prefixes
        self._entries = [(origin(p), normalised_path(urlsplit(p).path) or "") for p in prefixes]

    def allows(self, url: str) -> bool:
        """True when ``url`` is under an allowlisted prefix (and carries no credentials or fragment)."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        if parts.username is not None or parts.password is not None or parts.fragment or "#" in url:
            return False
        path = normalised_path(parts.path)
        if path is None:
            return False
        where = origin(url)
        return any(where == entry and path_under(path, prefix) for entry, prefix in self._entries)


class FhirFetcher:
    """The :class:`~cds_service.patient_data.PatientDataFetcher` that queries ``fhirServer``."""

    def __init__(self, settings: Settings, client: FhirClient | None = None, max_workers: int = 8) -> None:
        self.allowlist = ServerAllowlist(settings.fhir_server_allowlist)
        self.issuers = {trust.issuer: trust for trust in settings.trusted_issuers}
        self._allowlists: dict[tuple[str, ...], ServerAllowlist] = {
            settings.fhir_server_allowlist: self.allowlist
        }
        self.budget = settings.fhir_time_budget_seconds
        self.max_pages = settings.fhir_max_pages
        self.max_call_bytes = settings.fhir_max_call_bytes
        self.max_resources = settings.max_resources_per_key
        self.client = client or FhirClient(
            settings.fhir_connect_timeout_seconds,
            settings.fhir_read_timeout_seconds,
            pool_size=max_workers * 2,
            max_response_bytes=settings.fhir_max_response_bytes,
            address_policy=AddressPolicy(
                tuple(ipaddress.ip_network(network) for network in settings.fhir_private_networks)
            ),
        )
        self.max_workers = max_workers
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0

    def fetch(
        self, request: HookRequest, service: ServiceDefinition, missing: Mapping[str, MissingReason]
    ) -> FetchResult:
        """Read each missing key from ``fhirServer`` within the time budget; 412 when there is none to read
        from, or it is not on the allowlist."""
        keys = ", ".join(f"{key} ({reason}: {reason.explanation})" for key, reason in missing.items())
        if request.fhir_server is None:
            raise PreconditionFailed(
                f"Required prefetch data not usable: {keys}; the request has no fhirServer to fetch it from.",
                expression="prefetch",
            )
        allowlist = self.allowlist_for(*caller())
        if not allowlist.allows(request.fhir_server):
            raise PreconditionFailed(
                f"Required prefetch data not usable: {keys}; fhirServer is not allowed: it is not on this"
                " service's allowlist for the caller (the issuer's fhir_servers in DN_CDS_TRUSTED_ISSUERS,"
                " else DN_CDS_FHIR_SERVER_ALLOWLIST), so no request was made to it.",
                expression="fhirServer",
            )
        started = time.monotonic()
        deadline = started + self.budget
        executor = self._pool()
        budget = ByteBudget(self.max_call_bytes)
        futures: dict[str, Future[Resources]] = {
            key: executor.submit(self._read_key, request, service.prefetch[key], deadline, budget, allowlist)
            for key in missing
        }
        wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()))
        result = FetchResult()
        for key, future in futures.items():
            if not future.done():
                future.cancel()
                result.failures[key] = f"no answer within the time budget ({self.budget:g} s)"
            elif (error := future.exception()) is not None:
                if isinstance(error, FhirError):
                    result.failures[key] = error.reason
                else:  # a bug: keep the type only, the message could carry patient data
                    log.error("fhir fetch of %s failed with %s", key, type(error).__name__)
                    result.failures[key] = "the FHIR query failed unexpectedly"
            else:
                result.resources[key] = future.result()
        log.info(
            "fhir fetch keys=%s failed=%s elapsed_ms=%.1f",
            ",".join(futures),
            ",".join(result.failures) or "-",
            (time.monotonic() - started) * 1000,
        )
        return result

    def read_references(self, request: HookRequest, references: list[str], started: float) -> FetchResult:
        """Read each ``Type/id`` from ``fhirServer`` (concurrently), by the deadline of the call that began at
        ``started`` (one time budget per hook call); resources and failures are keyed by the reference."""
        result = FetchResult()
        if request.fhir_server is None or not self.allowlist.allows(request.fhir_server):
            for reference in references:
                result.failures[reference] = "fhirServer is not allowed, so it was not read"
            return result
        deadline = started + self.budget
        executor = self._pool()
        futures = {ref: executor.submit(self._read_one, request, ref, deadline) for ref in references}
        wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()))
        for reference, future in futures.items():
            if not future.done():
                future.cancel()
                result.failures[reference] = f"no answer within the time budget ({self.budget:g} s)"
            elif (error := future.exception()) is not None:
                if isinstance(error, FhirError):
                    result.failures[reference] = error.reason
                else:
                    log.error("fhir read of a referenced resource failed with %s", type(error).__name__)
                    result.failures[reference] = "the FHIR read failed unexpectedly"
            else:
                result.resources[reference] = future.result()
        return result

    def _read_one(self, request: HookRequest, reference: str, deadline: float) -> Resources:
        """One instance read; the answer must be that very resource."""
        assert request.fhir_server is not None  # noqa: S101 - checked by read_references()
        resource_type, _, resource_id = reference.partition("/")
        url = f"{request.fhir_server}/{resource_type}/{quote(resource_id, safe='')}"
        body = self.client.get_json(url, request.access_token, deadline)
        if (body.get("resourceType"), body.get("id")) != (resource_type, resource_id):
            raise FhirBadResponse("the FHIR server's answer to a read is not the resource asked for")
        return [body]

    def _pool(self) -> ThreadPoolExecutor:
        """This process's thread pool (made lazily, and again after a fork)."""
        with self._lock:
            if self._executor is None or self._pid != os.getpid():
                self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="dn-cds-fhir")
                self._pid = os.getpid()
            return self._executor

    def allowlist_for(self, issuer: str | None, tenant: str | None) -> ServerAllowlist:
        """The allowlist for a call by ``issuer`` (and ``tenant``): its own, else the global one."""
        trust = self.issuers.get(issuer) if issuer is not None else None
        prefixes = (
            self.allowlist.prefixes
            if trust is None
            else trust.fhir_allowlist(tenant, self.allowlist.prefixes)
        )
        with self._lock:
            found = self._allowlists.get(prefixes)
            if found is None:
                found = self._allowlists[prefixes] = ServerAllowlist(prefixes)
            return found

    def _read_key(
        self,
        request: HookRequest,
        template: str,
        deadline: float,
        budget: ByteBudget | None = None,
        allowlist: ServerAllowlist | None = None,
    ) -> Resources:
        """All resources the template's query returns, following ``next`` pages on the same server."""
        assert request.fhir_server is not None  # noqa: S101 - checked by fetch()
        allowlist = allowlist or self.allowlist
        query = fill_template(template, request)
        url = f"{request.fhir_server}/{query}"
        if not allowlist.allows(url):  # e.g. a patient id ".." would make Patient/.. a dot segment
            raise FhirOriginRefused("the FHIR query's URL is not under the allowed server (refused)")
        read = read_target(query)
        resources: Resources = []
        for _ in range(self.max_pages):
            body = self.client.get_json(
                url, request.access_token, deadline, allowed=allowlist.allows, budget=budget
            )
            if body.get("resourceType") == "OperationOutcome":
                raise FhirQueryFailed()
            if read is not None:
                if (body.get("resourceType"), body.get("id")) != read:
                    raise FhirBadResponse("the FHIR server's answer to a read is not the resource asked for")
                return [body]
            if body.get("resourceType") != "Bundle":
                raise FhirBadResponse("the FHIR server's answer to a search is not a Bundle")
            problem = page_problem(body)
            if problem is MissingReason.FAILED:
                raise FhirQueryFailed()
            if problem is not None:
                raise FhirBadResponse("the FHIR server's Bundle is not readable")
            resources.extend(r for r in bundle_resources(body) if r.get("resourceType") != "OperationOutcome")
            if len(resources) > self.max_resources:  # not evaluated anyway: read no further pages
                raise FhirError(too_many_resources(self.max_resources))
            next_url = next_page_url(body)
            if next_url is None:
                return resources
            if not (
                next_url and origin(next_url) == origin(request.fhir_server) and allowlist.allows(next_url)
            ):
                raise FhirOriginRefused()
            url = next_url
        raise FhirTooManyPages(f"the FHIR search has more than {self.max_pages} pages (read as incomplete)")


def caller() -> tuple[str | None, str | None]:
    """The verified issuer and tenant of the hook call being answered (``None`` outside a request, or
    without authentication)."""
    if not has_request_context():
        return None, None
    return g.get("token_issuer"), g.get("tenant")


def read_target(query: str) -> tuple[str, str] | None:
    """(type, id) when the filled template is a read (``Patient/123``: no query, two path segments), else
    ``None`` (a search). A read is answered with that resource itself, never a Bundle; a 404 on it stays a
    failure, not "no data": the EHR's own server lacking the hook's patient (or hiding it) is not a fact
    about the patient."""
    path, question, _ = query.partition("?")
    parts = path.split("/")
    if question or len(parts) != 2 or not all(parts):  # Type/id
        return None
    return parts[0], unquote(parts[1])


class TemplateError(FhirError):
    default_reason = "the prefetch template has a token this request gives no value for"


def fill_template(template: str, request: HookRequest) -> str:
    """The prefetch template with each ``{{token}}`` replaced by the request's (URL-encoded) value."""

    def value(match: re.Match[str]) -> str:
        found = _token_value(match.group(1), request)
        if found is None:
            raise TemplateError()
        return quote(found, safe="")

    return TOKEN_RE.sub(value, template)


def _token_value(token: str, request: HookRequest) -> str | None:
    if token == "context.patientId":  # noqa: S105 - a template token, not a password
        return request.patient_id
    if token.startswith("context."):
        value: Any = request.context.get(token.removeprefix("context."))
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    wanted = _USER_TOKEN_TYPES.get(token)
    user_type, _, user_id = request.user_id.partition("/")
    return user_id if wanted == user_type and user_id else None
