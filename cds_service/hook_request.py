"""Validate a hook call body into a :class:`HookRequest` (CDS Hooks 2.0 + Library 1.0.1 contexts).

Every check raises :class:`BadRequest` naming the JSON path that is wrong. Unknown fields and ``extension``
keys are ignored, as the spec requires; draftOrders may hold any resource type and may lack ``type``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cds_service.errors import BadRequest
from cds_service.trust import normalised_path

# CDS Hooks Library invariant ord-1 for userId: ^[\d\w]+\/[\d\w-.]+$ (\w includes "_").
_USER_REFERENCE = re.compile(r"^\w+/[\w\-.]+$")
# selections must name draft orders as "Type/id", with the same tolerance for ids as draftOrders.
_SELECTION = re.compile(r"^[A-Za-z][A-Za-z0-9]*/[^\s/]+$")
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# Draft-order ids: only what makes "Type/id" unusable is refused (EHRs, and the spec's own examples, stray
# from the strict FHIR id pattern).
_REFERENCE_ID = re.compile(r"[^\s/]+")
_ORDER_HOOKS = frozenset({"order-select", "order-sign"})
_REQUIRED_CONTEXT: dict[str, tuple[str, ...]] = {
    "patient-view": ("userId", "patientId"),
    "order-select": ("userId", "patientId", "selections", "draftOrders"),
    "order-sign": ("userId", "patientId", "draftOrders"),
}
_FHIR_AUTHORIZATION_FIELDS: tuple[tuple[str, type], ...] = (
    ("access_token", str),
    ("token_type", str),
    ("expires_in", int),
    ("scope", str),
    ("subject", str),
)


@dataclass(frozen=True, slots=True)
class HookRequest:
    """A validated hook call. ``prefetch`` maps each key sent to its value (a resource or ``None``)."""

    hook: str
    hook_instance: str
    patient_id: str
    user_id: str
    context: Mapping[str, Any]
    prefetch: Mapping[str, Any] = field(default_factory=dict)
    fhir_server: str | None = None
    access_token: str | None = field(default=None, repr=False)

    @property
    def draft_orders(self) -> Any:
        """The ``context.draftOrders`` Bundle (order hooks only)."""
        return self.context.get("draftOrders")

    @property
    def selections(self) -> list[str] | None:
        """``context.selections`` on order-select, else ``None`` (meaning: all draft orders)."""
        return list(self.context["selections"]) if self.hook == "order-select" else None


def parse_hook_request(body: Any) -> HookRequest:
    """Check a decoded JSON body and return the request, or raise :class:`BadRequest`."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    hook = _required_string(body, "hook", "hook")
    if hook not in _REQUIRED_CONTEXT:
        raise BadRequest(f"Hook '{hook}' is not supported by this server.", expression="hook")
    hook_instance = _required_string(body, "hookInstance", "hookInstance")
    try:
        uuid.UUID(hook_instance)
    except ValueError:
        raise BadRequest("hookInstance must be a UUID.", expression="hookInstance") from None
    fhir_server = _fhir_server(body)
    access_token = _fhir_authorization(body, fhir_server)
    context = body.get("context")
    if not isinstance(context, dict):
        raise BadRequest("context is required and must be a JSON object.", expression="context")
    for name in _REQUIRED_CONTEXT[hook]:
        if context.get(name) is None:
            raise BadRequest(f"context.{name} is required for {hook}.", expression=f"context.{name}")
    user_id = _required_string(context, "userId", "context.userId")
    if not _USER_REFERENCE.match(user_id):
        raise BadRequest(
            "context.userId must be a relative reference 'Type/id'.", expression="context.userId"
        )
    patient_id = _patient_id(context)
    encounter_id = context.get("encounterId")
    if encounter_id is not None and not isinstance(encounter_id, str):
        raise BadRequest("context.encounterId must be a string.", expression="context.encounterId")
    if hook in _ORDER_HOOKS:
        _check_draft_orders(context["draftOrders"])
    if hook == "order-select":
        _check_selections(context["selections"], context["draftOrders"])
    prefetch = body.get("prefetch")
    if prefetch is None:
        prefetch = {}
    if not isinstance(prefetch, dict):
        raise BadRequest("prefetch must be a JSON object.", expression="prefetch")
    for key, value in prefetch.items():
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("resourceType"), str)):
            raise BadRequest(f"prefetch.{key} must be a FHIR resource or null.", expression=f"prefetch.{key}")
    extension = body.get("extension")
    if extension is not None and not isinstance(extension, dict):
        raise BadRequest("extension must be a JSON object.", expression="extension")
    return HookRequest(hook, hook_instance, patient_id, user_id, context, prefetch, fhir_server, access_token)


def _required_string(container: Mapping[str, Any], name: str, path: str) -> str:
    value = container.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{path} is required and must be a non-empty string.", expression=path)
    return value.strip()


def _patient_id(context: Mapping[str, Any]) -> str:
    raw = _required_string(context, "patientId", "context.patientId")
    patient_id = raw.removeprefix("Patient/")  # tolerated: the spec asks for a bare id
    if not _FHIR_ID.match(patient_id):
        raise BadRequest("context.patientId must be a FHIR id.", expression="context.patientId")
    return patient_id


def _fhir_server(body: Mapping[str, Any]) -> str | None:
    server = body.get("fhirServer")
    if server is None:
        return None
    if not isinstance(server, str):
        raise BadRequest("fhirServer must be a string URL.", expression="fhirServer")
    parts = urlsplit(server)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise BadRequest("fhirServer must be an absolute http(s) URL.", expression="fhirServer")
    if "#" in server or "?" in server or "@" in parts.netloc or normalised_path(parts.path) is None:
        raise BadRequest(
            "fhirServer must be a plain base URL: no credentials, query, fragment, dot segments ('..') or"
            " encoded slashes.",
            expression="fhirServer",
        )
    return server.rstrip("/")


def _fhir_authorization(body: Mapping[str, Any], fhir_server: str | None) -> str | None:
    authorization = body.get("fhirAuthorization")
    if authorization is None:
        return None
    if not isinstance(authorization, dict):
        raise BadRequest("fhirAuthorization must be a JSON object.", expression="fhirAuthorization")
    if fhir_server is None:
        raise BadRequest(
            "fhirServer is required when fhirAuthorization is present (cds-r-1).", expression="fhirServer"
        )
    for name, expected in _FHIR_AUTHORIZATION_FIELDS:
        value = authorization.get(name)
        if not isinstance(value, expected) or isinstance(value, bool) or value == "":
            raise BadRequest(
                f"fhirAuthorization.{name} is required ({expected.__name__}).",
                expression=f"fhirAuthorization.{name}",
            )
    if str(authorization["token_type"]).lower() != "bearer":
        raise BadRequest(
            "fhirAuthorization.token_type must be 'Bearer'.", expression="fhirAuthorization.token_type"
        )
    return str(authorization["access_token"])


def _check_draft_orders(draft_orders: Any) -> None:
    if not isinstance(draft_orders, dict) or draft_orders.get("resourceType") != "Bundle":
        raise BadRequest("context.draftOrders must be a FHIR Bundle.", expression="context.draftOrders")
    entries = draft_orders.get("entry", [])
    if not isinstance(entries, list):
        raise BadRequest(
            "context.draftOrders.entry must be an array.", expression="context.draftOrders.entry"
        )
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise BadRequest(
                f"context.draftOrders.entry[{index}].resource must be a FHIR resource.",
                expression=f"context.draftOrders.entry[{index}].resource",
            )
        resource_id = resource.get("id")
        if resource_id is not None and not (
            isinstance(resource_id, str) and _REFERENCE_ID.fullmatch(resource_id)
        ):
            raise BadRequest(
                f"context.draftOrders.entry[{index}].resource.id must be a string without spaces or '/'.",
                expression=f"context.draftOrders.entry[{index}].resource.id",
            )


def _check_selections(selections: Any, draft_orders: Mapping[str, Any]) -> None:
    if not isinstance(selections, list) or not selections:
        raise BadRequest("context.selections must be a non-empty array.", expression="context.selections")
    available = {
        f"{entry['resource']['resourceType']}/{entry['resource'].get('id')}"
        for entry in draft_orders.get("entry", [])
    }
    for index, selection in enumerate(selections):
        path = f"context.selections[{index}]"
        if not isinstance(selection, str) or not _SELECTION.match(selection):
            raise BadRequest(f"{path} must be a relative reference 'Type/id'.", expression=path)
        if selection not in available:
            raise BadRequest(f"{path} names no resource in context.draftOrders.", expression=path)
