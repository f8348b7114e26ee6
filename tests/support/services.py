"""The shipped service catalog (services.json), as the tests look services up: by hook."""

from __future__ import annotations

from cds_service.catalog import ServiceDefinition, load_catalog

CATALOG = load_catalog()
SERVICES: dict[str, ServiceDefinition] = {service.hook: service for service in CATALOG.services}
"""Each hook's service definition (``order-select``, ``order-sign``, ``patient-view``)."""
