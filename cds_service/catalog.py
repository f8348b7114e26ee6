"""The CDS services this server offers (``data/services.json``), and dispatch by (id, hook)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cds_service.errors import BadRequest, UnknownService

SERVICES_FILE = Path(__file__).parent / "data" / "services.json"
TOKEN_RE = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")  # prefetch tokens; also fills fhirServer queries
_USER_TOKENS = frozenset(
    {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}
)


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    """One discovery entry."""

    id: str
    hook: str
    title: str
    description: str
    prefetch: dict[str, str]
    usage_requirements: str | None = None

    def discovery_entry(self) -> dict[str, Any]:
        """The entry as ``GET /cds-services`` shows it (no empty optional fields)."""
        entry: dict[str, Any] = {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
        }
        if self.prefetch:
            entry["prefetch"] = dict(self.prefetch)
        if self.usage_requirements:
            entry["usageRequirements"] = self.usage_requirements
        return entry


class ServiceCatalog:
    """Looks services up by id and checks the hook the caller sent."""

    def __init__(self, services: list[ServiceDefinition]) -> None:
        self.services = services
        self._by_id_and_hook = {(s.id, s.hook): s for s in services}
        self._ids = {s.id for s in services}

    def resolve(self, service_id: str, hook: str | None) -> ServiceDefinition:
        """The service for (id, hook): 404 for an unknown id, 400 for a hook this id does not serve."""
        if service_id not in self._ids:
            raise UnknownService(f"No CDS service with id '{service_id}'.")
        service = self._by_id_and_hook.get((service_id, hook or ""))
        if service is None:
            served = sorted(s.hook for s in self.services if s.id == service_id)
            raise BadRequest(
                f"Service '{service_id}' serves hook {', '.join(served)}, not '{hook}'.",
                expression="hook",
            )
        return service

    def has_id(self, service_id: str) -> bool:
        """True when some service has this id."""
        return service_id in self._ids

    def discovery(self) -> dict[str, Any]:
        """The ``GET /cds-services`` body."""
        return {"services": [s.discovery_entry() for s in self.services]}


def template_tokens(template: str) -> list[str]:
    """The ``{{...}}`` tokens of a prefetch template."""
    return TOKEN_RE.findall(template)


def load_catalog(path: Path = SERVICES_FILE) -> ServiceCatalog:
    """Read the service definitions, refusing templates that CDS Hooks 2.0 does not allow."""
    document = json.loads(path.read_text(encoding="utf-8"))
    services: list[ServiceDefinition] = []
    for entry in document["services"]:
        prefetch = dict(entry.get("prefetch") or {})
        for key, template in prefetch.items():
            for token in template_tokens(template):
                root_context = token.startswith("context.") and token.count(".") == 1
                if not (root_context or token in _USER_TOKENS):
                    raise ValueError(f"services.json: {entry['id']}.{key} has invalid token {token}")
        services.append(
            ServiceDefinition(
                id=entry["id"],
                hook=entry["hook"],
                title=entry["title"],
                description=entry["description"],
                prefetch=prefetch,
                usage_requirements=entry.get("usageRequirements"),
            )
        )
    return ServiceCatalog(services)


def with_status_filters(catalog: ServiceCatalog, statuses: Mapping[str, Iterable[str]]) -> ServiceCatalog:
    """The catalog with the ``status`` search parameter of the named prefetch keys set to ``statuses``
    (sorted), so that a site policy counting other medication statuses also has them fetched."""
    services = []
    for service in catalog.services:
        prefetch = dict(service.prefetch)
        for key, wanted in statuses.items():
            if key in prefetch:
                value = ",".join(sorted(wanted)).replace("\\", "")
                prefetch[key] = re.sub(r"([?&]status=)[^&]*", rf"\g<1>{value}", prefetch[key])
        services.append(replace(service, prefetch=prefetch))
    return ServiceCatalog(services)
