"""Clinical thresholds and time windows (``data/policy.json``), each with its source."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Policy:
    """The policy values the rules read. Field names equal the keys in ``policy.json``."""

    first_trimester_end_days: int
    full_term_days: int
    pregnancy_max_days: int
    pregnancy_evidence_max_age_days: int
    condition_active_clinical_statuses: frozenset[str]
    condition_excluded_verification_statuses: frozenset[str]
    observation_usable_statuses: frozenset[str]
    infection_encounter_diagnosis_max_age_days: int
    gestational_age_max_observed_days: int
    reproductive_age_min_years: int
    reproductive_age_max_years: int
    pregnancy_status_max_age_days: int
    second_trimester_end_days: int
    hcg_negative_below_iu_per_l: int
    hcg_positive_from_iu_per_l: int


class PolicyFormatError(ValueError):
    """The policy file is missing a setting, a source, or has a value of the wrong type."""


def parse_policy(document: Mapping[str, Any]) -> Policy:
    """Build a :class:`Policy` from the policy document, checking every setting names a source."""
    settings = document.get("settings")
    if not isinstance(settings, Mapping):
        raise PolicyFormatError("policy: 'settings' object missing")
    values: dict[str, Any] = {}
    for name in Policy.__dataclass_fields__:
        entry = settings.get(name)
        if not isinstance(entry, Mapping) or "value" not in entry:
            raise PolicyFormatError(f"policy: setting '{name}' missing")
        if not str(entry.get("source") or "").strip() or entry.get("basis") not in {
            "guideline",
            "source-doc",
            "conventional",
        }:
            raise PolicyFormatError(f"policy: setting '{name}' needs a source and a basis")
        value = entry["value"]
        if isinstance(value, list):
            values[name] = frozenset(str(item) for item in value)
        elif isinstance(value, int) and not isinstance(value, bool):
            values[name] = value
        else:
            raise PolicyFormatError(f"policy: setting '{name}' must be an integer or a list")
    return Policy(**values)
