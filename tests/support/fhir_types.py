"""The one name for a FHIR resource or CDS Hooks body as the tests build it: parsed JSON."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
"""A JSON object (a FHIR resource, a bundle, a hook call)."""
