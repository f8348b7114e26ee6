"""What the rules conclude: findings with their evidence. Cards are built from these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class FindingKind(StrEnum):
    """The kind of a finding code (its ``kind`` property in the finding CodeSystem)."""

    INDICATION = "indication"
    CONTRAINDICATION = "contraindication"
    PRECAUTION = "precaution"
    MISSING_DATA = "missing-data"
    DISCLOSURE = "disclosure"
    NOTICE = "notice"  # information only: a check that could not be done, said so that it is never silent


@dataclass(frozen=True, slots=True)
class Evidence:
    """One patient record behind a finding."""

    reference: str | None
    description: str
    recorded: date | None = None
    label: str | None = None  # the record's own name ("Hemophilia A"), for card summaries


@dataclass(frozen=True, slots=True)
class IndicationMatch:
    """An indication key matched by one coding of one record."""

    key: str
    system: str
    code: str
    display: str | None
    origin: str  # "order reason" or "problem list"
    reference: str | None


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's conclusion about the patient or one order.

    ``order_references`` lists the dry-needling orders it concerns (empty on patient-view). ``facts``
    holds the patient-specific values the card wording fills in (``{"ga": "9w2d"}``).
    """

    code: str
    kind: FindingKind
    order_references: tuple[str, ...] = ()
    facts: Mapping[str, str] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    indications: tuple[IndicationMatch, ...] = ()
    unrecognised: tuple[str, ...] = ()
    site_risks: tuple[str, ...] = ()  # risk-disclosure: site-risk codes whose disclosure lines apply
