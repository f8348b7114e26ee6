"""Code-system identity: canonical system URIs, ICD-10-CM normalisation, coding matching."""

from __future__ import annotations

import re
from collections.abc import Mapping

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"


def normalise_icd10cm(code: str) -> str:
    """``"m54.50"`` -> ``"M5450"``: upper case, dots and spaces removed (prefix matching works on this)."""
    return code.replace(".", "").replace(" ", "").upper()


class SystemAliases:
    """Maps the system URIs EHRs send to canonical FHIR URIs.

    Handles listed aliases (OIDs, WHO ICD-10 routed to ICD-10-CM prefix matching), case and trailing-slash
    variants of http URIs, bare OIDs without ``urn:oid:``, and SNOMED CT edition/version URIs
    (``http://snomed.info/sct/731000124108/version/20250301``) in ``system``, and ``https://`` spellings of
    the ``http://`` URIs.
    """

    def __init__(self, aliases_by_canonical: Mapping[str, list[str]]) -> None:
        self._canonical: dict[str, str] = {}
        self._answers: dict[str, str] = {}  # system as sent -> canonical (bounded memo)
        for canonical, aliases in aliases_by_canonical.items():
            for name in (canonical, *aliases):
                self._canonical[_comparable(name)] = canonical

    def canonical(self, system: str) -> str:
        """The canonical URI for ``system`` (unchanged when it is not a known alias)."""
        if len(system) > MAX_REMEMBERED_CHARS:
            return self._resolve(system)
        found = self._answers.get(system)
        if found is None:
            found = self._resolve(system)
            if len(self._answers) >= _MEMO_LIMIT:
                self._answers.clear()
            self._answers[system] = found
        return found

    def _resolve(self, system: str) -> str:
        key = _comparable(system)
        if key in self._canonical:
            return self._canonical[key]
        if _BARE_OID.match(key) and f"urn:oid:{key}" in self._canonical:
            return self._canonical[f"urn:oid:{key}"]
        http_key = "http://" + key.removeprefix("https://")
        if key.startswith("https://") and http_key in self._canonical:  # "https://loinc.org": wrong scheme
            return self._canonical[http_key]
        if key.startswith(_SNOMED_EDITION_PREFIX):
            return SNOMED
        return system


_MEMO_LIMIT = 4096  # distinct system URIs remembered; forgotten all at once beyond it (hostile input)
# Every memo of codes, systems and codings remembers only keys whose text is at most this long (all strings of
# the key together): real ones are far shorter (system URIs under 100 characters, SNOMED CT ids at most 18
# digits, displays a line), while a key holding a hostile body's megabyte strings, remembered across calls,
# would let callers grow the process by gigabytes. Longer ones are answered the same, afresh each time.
MAX_REMEMBERED_CHARS = 1024
_BARE_OID = re.compile(r"^\d+(\.\d+)+$")
_SNOMED_EDITION_PREFIX = SNOMED + "/"


def _comparable(system: str) -> str:
    """Case-insensitive, trimmed, without a trailing slash (URIs and OIDs only; codes stay case-sensitive)."""
    return system.strip().rstrip("/").lower()
