"""Knowledge for the bleeding-medication, laboratory and site-risk rules, compiled from their data files
(``antithrombotics.json``, ``labs.json``, ``site-risks.json``). Parsing only; the rules live in
``medications.py``, ``labs.py`` and ``site_risks.py``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

_NEVER = re.compile(r"(?!)")


@dataclass(frozen=True, slots=True)
class Antithrombotic:
    """One antithrombotic ingredient: its class, code value sets and the names read in free text."""

    key: str
    drug_class: str
    display: str
    value_set: str
    condition_value_set: str | None
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AntithromboticKnowledge:
    """The compiled ``antithrombotics.json``."""

    ingredients: tuple[Antithrombotic, ...] = ()
    condition_value_set: str = ""
    name_pattern: re.Pattern[str] = _NEVER
    ingredient_by_name: Mapping[str, str] = field(default_factory=dict)
    condition_classes: Mapping[str, str] = field(default_factory=dict)  # dotless Z79 code -> drug class

    def ingredient(self, key: str) -> Antithrombotic:
        """The ingredient with this key."""
        return next(i for i in self.ingredients if i.key == key)


@dataclass(frozen=True, slots=True)
class LabTest:
    """A laboratory test the bleeding rules read, with the units it may come in."""

    key: str
    display: str
    value_set: str
    canonical_unit: str
    display_unit: str
    danger: Literal["low", "high"]
    unitless_allowed: bool
    factors: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class SiteRisk:
    """Order sites that fire a site-risk finding: by region, or by words of the site text."""

    code: str
    regions: frozenset[str]
    keyword_pattern: re.Pattern[str]


def parse_antithrombotics(document: Mapping[str, Any]) -> AntithromboticKnowledge:
    """Compile ``antithrombotics.json``."""
    ingredients = tuple(
        Antithrombotic(
            key=key,
            drug_class=str(entry["class"]),
            display=str(entry["display"]),
            value_set=str(entry["value_set"]),
            condition_value_set=entry.get("condition_value_set"),
            names=tuple(str(name).lower() for name in entry["names"]),
        )
        for key, entry in document["ingredients"].items()
    )
    by_name: dict[str, str] = {}
    for ingredient in ingredients:
        for name in ingredient.names:
            if by_name.setdefault(name, ingredient.key) != ingredient.key:
                raise ValueError(f"name {name!r} listed for two ingredients")
    return AntithromboticKnowledge(
        ingredients=ingredients,
        condition_value_set=str(document["condition_value_set"]),
        name_pattern=drug_names_pattern(by_name),
        ingredient_by_name=by_name,
        condition_classes={
            code.replace(".", "").upper(): str(drug_class)
            for code, drug_class in document.get("condition_classes", {}).items()
            if not code.startswith("_")
        },
    )


def parse_labs(document: Mapping[str, Any]) -> tuple[LabTest, ...]:
    """Compile ``labs.json``."""
    tests = []
    for key, entry in document["tests"].items():
        danger = entry["danger"]
        if danger not in {"low", "high"}:
            raise ValueError(f"test {key}: danger must be 'low' or 'high'")
        tests.append(
            LabTest(
                key=key,
                display=str(entry["display"]),
                value_set=str(entry["value_set"]),
                canonical_unit=str(entry["canonical_unit"]),
                display_unit=str(entry["display_unit"]),
                danger=danger,
                unitless_allowed=bool(entry["unitless_allowed"]),
                factors={normalise_unit(unit): float(factor) for unit, factor in entry["units"].items()},
            )
        )
    return tuple(tests)


def parse_site_risks(document: Mapping[str, Any], known_regions: Iterable[str]) -> tuple[SiteRisk, ...]:
    """Compile ``site-risks.json``; every region must be one of ``known_regions``."""
    regions_known = set(known_regions)
    risks = []
    for code, entry in document["site_risks"].items():
        regions = frozenset(str(region) for region in entry["regions"])
        unknown = sorted(regions - regions_known)
        if unknown:
            raise ValueError(f"{code}: unknown regions {unknown}")
        risks.append(SiteRisk(code, regions, words_pattern(entry["text_keywords"])))
    return tuple(risks)


def words_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """Any of ``words`` as a whole word (no letter or digit touching it), longest first, case-insensitive."""
    distinct = sorted({w.lower() for w in words}, key=lambda w: (-len(w), w))
    if not distinct:
        return _NEVER
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in distinct) + r")(?!\w)", re.IGNORECASE)


def drug_names_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """Like :func:`words_pattern`, and no hyphen before the name: "5-ASA" (mesalamine) is no "ASA"."""
    distinct = sorted({n.lower() for n in names}, key=lambda n: (-len(n), n))
    if not distinct:
        return _NEVER
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(n) for n in distinct) + r")(?!\w)", re.IGNORECASE)


_MICRO = str.maketrans({"\u00b5": "u", "\u03bc": "u", "^": "*", " ": ""})


def normalise_unit(unit: str) -> str:
    """A unit string reduced for comparison: ``"x10E3/µL"`` -> ``"10*3/ul"``, ``"K/mcL"`` -> ``"k/ul"``."""
    text = unit.strip().translate(_MICRO).lower().replace("mcl", "ul")
    text = re.sub(r"10e(\d)", r"10*\1", text)
    return re.sub(r"^[x\u00d7]", "", text)
