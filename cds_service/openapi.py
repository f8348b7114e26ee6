"""``GET /openapi.json``: the service's OpenAPI 3 document (``data/openapi.json``), with this deployment's
public base URL as its server and the catalog's service ids. No token needed: it holds no patient data."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify

from cds_service.routes import state

OPENAPI_FILE = Path(__file__).parent / "data" / "openapi.json"
blueprint = Blueprint("openapi", __name__)


@cache
def _template() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    return document


def openapi_document(base_url: str, service_ids: list[str]) -> dict[str, Any]:
    """The document for a deployment at ``base_url`` offering ``service_ids``."""
    document = copy.deepcopy(_template())
    document["servers"] = [{"url": base_url}]
    document["components"]["parameters"]["ServiceId"]["schema"]["enum"] = sorted(set(service_ids))
    return document


@blueprint.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 document of this service."""
    current = state()
    return jsonify(openapi_document(current.settings.base_url, [s.id for s in current.catalog.services]))
