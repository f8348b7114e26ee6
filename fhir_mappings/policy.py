"""Clinical thresholds and time windows (``data/policy.json``), each with its source.

A site may override settings by key with its own file (``DN_CDS_POLICY_FILE``): same shape, only the settings
it changes, each with its value, source and basis. An unknown key or a value of another type than the shipped
one stops start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

POLICY_BASES = frozenset({"guideline", "source-doc", "conventional"})
# Fields of Policy that are not settings (metadata about where the settings came from).
_METADATA_FIELDS = frozenset({"site_overrides"})


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
    infection_acute_max_age_days: int
    gestational_age_max_observed_days: int
    medication_request_active_statuses: frozenset[str]
    medication_statement_active_statuses: frozenset[str]
    antithrombotic_excluded_ingredients: frozenset[str]
    platelet_contraindication_below: float
    platelet_precaution_below: float
    inr_contraindication_at_or_above: float
    inr_precaution_above: float
    lab_max_age_days: int
    reproductive_age_min_years: int
    reproductive_age_max_years: int
    pregnancy_status_max_age_days: int
    second_trimester_end_days: int
    hcg_negative_below_iu_per_l: int
    hcg_positive_from_iu_per_l: int
    medication_current_while_period_runs_statuses: frozenset[str]
    antithrombotic_info_only_ingredients: frozenset[str]
    bleeding_precaution_conditions: frozenset[str]
    inr_max_age_days_on_vka: int
    inr_monitored_ingredients: frozenset[str]
    minor_age_below_years: int
    site_overrides: frozenset[str] = field(default=frozenset())  # keys a site policy file changed


class PolicyFormatError(ValueError):
    """The policy file is missing a setting, a source, or has a value of the wrong type."""


def setting_names() -> tuple[str, ...]:
    """The setting keys the rules read, in declaration order."""
    return tuple(name for name in Policy.__dataclass_fields__ if name not in _METADATA_FIELDS)


def parse_policy(document: Mapping[str, Any], site: Mapping[str, Any] | None = None) -> Policy:
    """Build a :class:`Policy` from the policy document, checking every setting names a source.

    ``site`` is a site's override document (``{"settings": {key: {value, source, basis}}}``); its keys must
    be settings of the shipped document and its values of the same type.
    """
    settings = document.get("settings")
    if not isinstance(settings, Mapping):
        raise PolicyFormatError("policy: 'settings' object missing")
    entries = {name: _entry(settings.get(name), name, "policy") for name in setting_names()}
    overridden: set[str] = set()
    if site is not None:
        site_settings = site.get("settings") if isinstance(site, Mapping) else None
        if not isinstance(site_settings, Mapping):
            raise PolicyFormatError("site policy: a 'settings' object is required")
        unknown = sorted(set(site_settings) - set(entries))
        if unknown:
            raise PolicyFormatError(
                f"site policy: unknown setting(s) {', '.join(unknown)}; known: {', '.join(entries)}"
            )
        for name, raw in site_settings.items():
            entry = _entry(raw, name, "site policy")
            _check_type(name, entries[name]["value"], entry["value"])
            entries[name] = entry
            overridden.add(name)
    values = {name: _value(name, entry["value"]) for name, entry in entries.items()}
    return Policy(**values, site_overrides=frozenset(overridden))


def _entry(entry: Any, name: str, where: str) -> Mapping[str, Any]:
    if not isinstance(entry, Mapping) or "value" not in entry:
        raise PolicyFormatError(f"{where}: setting '{name}' missing (needs value, source and basis)")
    if not str(entry.get("source") or "").strip() or entry.get("basis") not in POLICY_BASES:
        raise PolicyFormatError(
            f"{where}: setting '{name}' needs a source and a basis ({', '.join(sorted(POLICY_BASES))})"
        )
    return entry


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "list of strings"
    return type(value).__name__


_EXPECTED_KIND = {"int": "integer", "float": "number", "frozenset[str]": "list of strings"}


def _check_type(name: str, shipped: Any, site: Any) -> None:
    """A site value must have the type the setting is declared with (an integer is a valid number)."""
    declared = str(Policy.__dataclass_fields__[name].type)
    expected, got = _EXPECTED_KIND.get(declared, _kind(shipped)), _kind(site)
    if expected == got or (expected == "number" and got == "integer"):
        return
    article = "an" if expected[0] in "aeiou" else "a"
    raise PolicyFormatError(f"site policy: setting '{name}' must be {article} {expected}, got {got} {site!r}")


def _value(name: str, value: Any) -> Any:
    kind = _kind(value)
    if kind == "list of strings":
        return frozenset(str(item) for item in value)
    if kind in {"integer", "number"}:
        if value < 0:
            raise PolicyFormatError(f"policy: setting '{name}' must not be negative")
        return float(value) if name in _NUMBER_SETTINGS else value
    raise PolicyFormatError(f"policy: setting '{name}' must be a number or a list of strings")


_NUMBER_SETTINGS = frozenset(
    name for name, spec in Policy.__dataclass_fields__.items() if spec.type in {"float", float}
)
