"""The clinical vignette suite: realistic patients with the finding codes the service must return.

Each ``tests/vignettes/*.json`` file holds::

    {"_comment": "...", "authoredOn": "2026-11-26", "vignettes": [
        {"slug": "unique-kebab-slug",
         "title": "One line a clinician understands",
         "description": "What the chart shows and why the expected findings follow (the clinical reasoning)",
         "tags": ["icd-10-cm", "snomed", "text-only", ...],       # coding variants exercised
         "nearMissOf": ["local-infection"],                        # codes this vignette shows NOT firing
         "expectedFindings": ["indication-found", "risk-disclosure", ...],
         "expectedIndications": ["low-back-pain"],                # optional: the indication keys matched
         "resources": [Patient, Condition, Observation, ..., one draft ServiceRequest]}]}

A vignette may hold several draft orders (order-select vs order-sign): ``"selected": "ServiceRequest/<id>"``
names the one order-select selects (``expectedFindings`` are for it), and ``"expectedFindingsOnSign"`` lists
the finding codes order-sign returns for all the draft dry-needling orders (one code per card, repeats kept).

Dates are written as if today were ``authoredOn`` and shifted to the run date, as for the demo patients.
Every resource needs an ``id``; the draft dry-needling ServiceRequest has ``status: draft``; the Patient's
id is the patient id of the hook call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from cds_service.demo import DemoPatient, shift_dates
from support.paths import VIGNETTE_DIR

RUN_DATE = date(2027, 3, 1)
"""The date the vignette tests run the vignettes on: not their authoring date, so every vignette must survive
the date shift."""


@dataclass(frozen=True, slots=True)
class Vignette:
    """One vignette: the patient as a demo patient, plus what it is meant to show."""

    patient: DemoPatient
    source_file: str
    tags: tuple[str, ...]
    near_miss_of: tuple[str, ...]
    expected_indications: tuple[str, ...] | None = None
    expected_on_sign: tuple[str, ...] | None = None
    # contraindication codes this vignette expects as a warning card (lymphedema whose side is not matched)
    expected_as_warning: tuple[str, ...] = ()

    def expected_for(self, hook: str) -> tuple[str, ...]:
        """The finding codes (sorted) the vignette expects on ``hook``."""
        if hook == "order-sign" and self.expected_on_sign is not None:
            return self.expected_on_sign
        return self.patient.expected_findings

    @property
    def slug(self) -> str:
        return self.patient.slug


def load_vignettes(today: date, vignette_dir: Path = VIGNETTE_DIR) -> list[Vignette]:
    """Every vignette in ``vignette_dir``, dates shifted so that each file's ``authoredOn`` is ``today``."""
    vignettes: list[Vignette] = []
    for path in sorted(vignette_dir.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        shift = (today - date.fromisoformat(document["authoredOn"])).days
        for entry in document["vignettes"]:
            resources = tuple(shift_dates(r, shift) for r in entry["resources"])
            vignettes.append(
                Vignette(
                    patient=DemoPatient(
                        slug=entry["slug"],
                        title=entry["title"],
                        description=entry.get("description", ""),
                        patient_id=_patient_id(resources, entry["slug"]),
                        order_reference=_order_reference(resources, entry["slug"], entry.get("selected")),
                        expected_findings=tuple(sorted(entry["expectedFindings"])),
                        resources=resources,
                    ),
                    source_file=path.name,
                    tags=tuple(entry.get("tags", ())),
                    near_miss_of=tuple(entry.get("nearMissOf", ())),
                    expected_indications=_expected_indications(entry),
                    expected_as_warning=tuple(entry.get("expectedAsWarning", ())),
                    expected_on_sign=(
                        tuple(sorted(entry["expectedFindingsOnSign"]))
                        if "expectedFindingsOnSign" in entry
                        else None
                    ),
                )
            )
    return vignettes


def _expected_indications(entry: Mapping[str, Any]) -> tuple[str, ...] | None:
    keys = entry.get("expectedIndications")
    return None if keys is None else tuple(sorted(keys))


def _patient_id(resources: tuple[Mapping[str, Any], ...], slug: str) -> str:
    ids = [r["id"] for r in resources if r.get("resourceType") == "Patient"]
    if len(ids) != 1:
        raise ValueError(f"vignette {slug}: needs exactly one Patient, found {len(ids)}")
    return str(ids[0])


def _order_reference(resources: tuple[Mapping[str, Any], ...], slug: str, selected: str | None) -> str:
    drafts = [
        r for r in resources if r.get("resourceType") == "ServiceRequest" and r.get("status") == "draft"
    ]
    if selected is not None:
        if selected not in {f"ServiceRequest/{r['id']}" for r in drafts}:
            raise ValueError(f"vignette {slug}: selected {selected} is not a draft ServiceRequest")
        return selected
    if len(drafts) != 1:
        raise ValueError(f"vignette {slug}: needs exactly one draft ServiceRequest, found {len(drafts)}")
    return f"ServiceRequest/{drafts[0]['id']}"
