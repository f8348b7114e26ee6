"""FHIR ValueSet resources compiled into fast membership tests.

Supported compose shapes (the knowledge files use only these; anything else stops start-up):
- ``include`` with ``concept`` lists: exact (system, code) membership;
- ``include``/``exclude`` with one ``is-a`` filter on ICD-10-CM: membership by code prefix after removing the
  dot, so ``M54.5`` covers ``M54.50``, ``M54.51`` and ``M54.59``; a block (``O00-O08``) covers every category
  from its first to its last. An exclude wins over an include;
- ``exclude`` with ``concept`` lists on ICD-10-CM: exactly those codes are not members (explicit exclusions,
  e.g. the "complicating childbirth" leaves under a pregnancy category).

The ``expansion`` (every ICD-10-CM code of the pinned release that is a member, written by
``scripts/expand_valuesets.py``) is derived from ``compose`` and is not read here: matching by compose gives
the same answer for every code of that release (tests check it) and also places codes of later releases that
fall under an included category.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fhir_mappings.codes import ICD10CM, MAX_REMEMBERED_CHARS, SystemAliases, normalise_icd10cm
from fhir_mappings.fhir_json import CodingValue, codings


class ValueSetFormatError(ValueError):
    """A ValueSet uses a compose shape this service cannot evaluate offline."""


@dataclass(frozen=True, slots=True)
class CodeMatch:
    """A coding that matched a value set, as the EHR sent it (system made canonical)."""

    system: str
    code: str
    display: str | None


_MEMO_LIMIT = 8192  # remembered (system, code) answers per value set; forgotten all at once beyond it


@dataclass(frozen=True, slots=True)
class ValueSetMatcher:
    """Membership test for one ValueSet.

    Compiled for hash lookups: the ICD-10-CM prefixes are indexed by length (a code is tested with one set
    lookup per prefix length, not one ``startswith`` per prefix), and each (system, code) answer is
    remembered (bounded), so the same code asked by every rule of every request costs one dict lookup."""

    value_set_id: str
    title: str
    exact_codes: frozenset[tuple[str, str]]
    icd_prefixes: tuple[str, ...]
    icd_excluded_prefixes: tuple[str, ...]
    displays: dict[tuple[str, str], str] = field(default_factory=dict)
    icd_blocks: tuple[tuple[str, str], ...] = ()
    icd_excluded_blocks: tuple[tuple[str, str], ...] = ()
    icd_excluded_codes: frozenset[str] = frozenset()
    _prefixes_by_length: dict[int, frozenset[str]] = field(init=False, repr=False, compare=False)
    _excluded_by_length: dict[int, frozenset[str]] = field(init=False, repr=False, compare=False)
    _memo: dict[tuple[str, str], int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_prefixes_by_length", _by_length(self.icd_prefixes))
        object.__setattr__(self, "_excluded_by_length", _by_length(self.icd_excluded_prefixes))
        object.__setattr__(self, "_memo", {})

    def contains(self, system: str, code: str) -> bool:
        """True when the canonical ``system`` and ``code`` are members."""
        return self.specificity(system, code) > 0

    def specificity(self, system: str, code: str) -> int:
        """How specifically the code is a member: the matched ICD prefix length, 99 for an exact code,
        0 when it is not a member. Used to prefer ``M25.56`` (knee pain) over ``M25.5`` (joint pain)."""
        if len(system) + len(code) > MAX_REMEMBERED_CHARS:
            return self._specificity(system, code)
        key = (system, code)
        memo = self._memo
        found = memo.get(key)
        if found is None:
            found = self._specificity(system, code)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = found
        return found

    def _specificity(self, system: str, code: str) -> int:
        if system != ICD10CM:
            return 99 if (system, code) in self.exact_codes else 0
        normalised = normalise_icd10cm(code)
        if normalised in self.icd_excluded_codes:
            return 0
        if _longest_prefix(normalised, self._excluded_by_length):
            return 0
        if _in_blocks(normalised, self.icd_excluded_blocks):
            return 0
        if (system, normalised) in self.exact_codes:
            return 99
        longest = _longest_prefix(normalised, self._prefixes_by_length)
        if longest:
            return longest
        return 3 if _in_blocks(normalised, self.icd_blocks) else 0

    def match_codings(self, all_codings: Iterable[CodingValue], aliases: SystemAliases) -> list[CodeMatch]:
        """Every coding that is a member (all codings are checked, never only the first)."""
        matches: list[CodeMatch] = []
        for coding in all_codings:
            system = aliases.canonical(coding.system)
            if self.contains(system, coding.code):
                display = coding.display or self.displays.get((system, coding.code))
                matches.append(CodeMatch(system, coding.code, display))
        return matches

    def match_concept(self, concept: Any, aliases: SystemAliases) -> list[CodeMatch]:
        """The member codings of a CodeableConcept."""
        return self.match_codings(codings(concept), aliases)


def compile_value_set(value_set: dict[str, Any]) -> ValueSetMatcher:
    """Compile a ValueSet resource (already validated as FHIR) into a matcher."""
    value_set_id = str(value_set["id"])
    compose = value_set.get("compose") or {}
    exact: set[tuple[str, str]] = set()
    displays: dict[tuple[str, str], str] = {}
    prefixes: list[str] = []
    excluded: list[str] = []
    blocks: dict[str, list[tuple[str, str]]] = {"include": [], "exclude": []}
    excluded_codes: set[str] = set()
    for part_name, target in (("include", prefixes), ("exclude", excluded)):
        for part in compose.get(part_name) or []:
            system = part.get("system")
            filters = part.get("filter") or []
            concepts = part.get("concept") or []
            if filters:
                _check_prefix_filter(value_set_id, system, filters)
                value = normalise_icd10cm(filters[0]["value"])
                if not value:
                    raise ValueSetFormatError(f"ValueSet {value_set_id}: empty is-a filter value")
                if "-" in value:
                    blocks[part_name].append(_block(value_set_id, value))
                else:
                    target.append(value)
            for concept in concepts:
                code = normalise_icd10cm(concept["code"]) if system == ICD10CM else concept["code"]
                if part_name == "exclude":
                    if system != ICD10CM:
                        raise ValueSetFormatError(
                            f"ValueSet {value_set_id}: exclude by concept is only supported on ICD-10-CM"
                        )
                    excluded_codes.add(code)
                    continue
                exact.add((system, code))
                if concept.get("display"):
                    displays[(system, code)] = concept["display"]
            if not filters and not concepts:
                raise ValueSetFormatError(f"ValueSet {value_set_id}: include of a whole code system")
    return ValueSetMatcher(
        value_set_id=value_set_id,
        title=str(value_set.get("title") or value_set_id),
        exact_codes=frozenset(exact),
        icd_prefixes=tuple(prefixes),
        icd_excluded_prefixes=tuple(excluded),
        displays=displays,
        icd_blocks=tuple(blocks["include"]),
        icd_excluded_blocks=tuple(blocks["exclude"]),
        icd_excluded_codes=frozenset(excluded_codes),
    )


def _block(value_set_id: str, value: str) -> tuple[str, str]:
    """``"O00-O08"`` -> ``("O00", "O08")``: a block of three-character categories."""
    first, _, last = value.partition("-")
    if len(first) != 3 or len(last) != 3 or first > last:
        raise ValueSetFormatError(f"ValueSet {value_set_id}: malformed ICD-10-CM block {value!r}")
    return first, last


def _by_length(prefixes: tuple[str, ...]) -> dict[int, frozenset[str]]:
    lengths = sorted({len(prefix) for prefix in prefixes}, reverse=True)  # longest first
    return {length: frozenset(p for p in prefixes if len(p) == length) for length in lengths}


def _longest_prefix(normalised: str, by_length: dict[int, frozenset[str]]) -> int:
    """The length of the longest prefix of ``normalised`` in the index, 0 for none."""
    for length, prefixes in by_length.items():
        if normalised[:length] in prefixes:
            return length
    return 0


def _in_blocks(normalised: str, blocks: tuple[tuple[str, str], ...]) -> bool:
    category = normalised[:3]
    return any(first <= category <= last for first, last in blocks)


def _check_prefix_filter(value_set_id: str, system: str | None, filters: list[Any]) -> None:
    if system != ICD10CM:
        raise ValueSetFormatError(f"ValueSet {value_set_id}: filters are only supported on ICD-10-CM")
    if len(filters) != 1 or filters[0].get("op") != "is-a" or filters[0].get("property") != "concept":
        raise ValueSetFormatError(
            f"ValueSet {value_set_id}: use one 'concept is-a <code>' filter per include"
        )
