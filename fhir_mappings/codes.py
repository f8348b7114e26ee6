"""Code-system identity: canonical system URIs, ICD-10-CM normalisation, coding matching."""

from __future__ import annotations

from collections.abc import Mapping

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"


def normalise_icd10cm(code: str) -> str:
    """``"m54.50"`` -> ``"M5450"``: upper case, dots and spaces removed (prefix matching works on this)."""
    return code.replace(".", "").replace(" ", "").upper()


class SystemAliases:
    """Maps the system URIs EHRs send (OIDs, trailing slashes) to canonical FHIR URIs."""

    def __init__(self, aliases_by_canonical: Mapping[str, list[str]]) -> None:
        self._canonical: dict[str, str] = {}
        for canonical, aliases in aliases_by_canonical.items():
            self._canonical[canonical] = canonical
            for alias in aliases:
                self._canonical[alias] = canonical

    def canonical(self, system: str) -> str:
        """The canonical URI for ``system`` (unchanged when it is not a known alias)."""
        return self._canonical.get(system, system)
