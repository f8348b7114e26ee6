"""Expand the ICD-10-CM value sets from the pinned ICD-10-CM release and write the result into the ValueSets.

    python scripts/expand_valuesets.py          # rewrite fhir_mappings/data/valuesets/*.json
    python scripts/expand_valuesets.py --check  # exit 1 (and name the files) when a rewrite would change them

The release is the CMS ICD-10-CM tabular bundled in the PyPI package ``simple-icd-10-cm`` (pinned in
pyproject.toml). For every ValueSet with ICD-10-CM content this script:

1. regenerates the *generated* compose parts: an ``include``/``exclude`` carrying the
   ``urn:dn-cds:StructureDefinition/generated-from`` extension gets, as its ``concept`` list, every code of
   the release under its ``within`` categories/blocks whose description matches ``descriptionMatches`` and not
   ``descriptionExcludes`` (case-insensitive regular expressions). The rule stays in the file beside the list,
   so a reviewer reads both; the list is never typed by hand;
2. writes ``expansion``: every code of the release that is a member (is-a = the code and all its descendants;
   blocks ``O00-O08`` = every category from first to last; excludes win), plus the listed concepts of other
   code systems; and
3. makes sure the ValueSet names the release as a source.

Only the package's data is read; nothing is fetched. The service never imports the package: it matches on
``compose`` (see fhir_mappings/valuesets.py), and tests check that this agrees with the expansion.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VALUESET_DIR = ROOT / "fhir_mappings" / "data" / "valuesets"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
GENERATED_EXTENSION = "urn:dn-cds:StructureDefinition/generated-from"
SOURCE_EXTENSION = "urn:dn-cds:StructureDefinition/knowledge-source"
PACKAGE = "simple-icd-10-cm"
PACKAGE_VERSION = "1.5.0"
RELEASE_LABEL = "ICD-10-CM FY2026 with the April 1, 2026 update (CMS icd10cm tabular April-1-2026)"
RELEASE_VERSION = "2026"
RELEASE_DATE = "2026-04-01T00:00:00Z"
RELEASE_SOURCE = (
    f"{RELEASE_LABEL}, read from the PyPI package {PACKAGE} {PACKAGE_VERSION}; "
    "expansion and generated lists written by scripts/expand_valuesets.py"
)


@cache
def release() -> ModuleType:
    """The pinned ICD-10-CM release (the package warns about a deprecated importlib API on import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import simple_icd_10_cm

    from importlib.metadata import version

    installed = version(PACKAGE)
    if installed != PACKAGE_VERSION:
        raise SystemExit(f"{PACKAGE} {installed} installed, {PACKAGE_VERSION} pinned: pip install -e .[test]")
    return simple_icd_10_cm


@cache
def release_codes() -> tuple[tuple[str, str, str], ...]:
    """(dotless code, dotted code, description) of every category, subcategory and extended code."""
    icd = release()
    return tuple(
        (dotless(code), code, icd.get_description(code))
        for code in icd.get_all_codes(True)
        if icd.is_category_or_subcategory(code) or icd.is_extended_subcategory(code)
    )


def dotless(code: str) -> str:
    return code.replace(".", "").replace(" ", "").upper()


def is_valid_code(code: str) -> bool:
    """True when ``code`` (a code, or a block ``A00-A09`` of two valid categories) is in the release."""
    icd = release()
    if "-" in code:
        first, _, last = code.partition("-")
        return icd.is_category(first) and icd.is_category(last) and first <= last
    return bool(icd.is_valid_item(code)) and bool(
        icd.is_category_or_subcategory(code) or icd.is_extended_subcategory(code)
    )


def codes_under(value: str) -> Iterator[tuple[str, str, str]]:
    """The release's codes that ``value`` (a code, taken with its descendants, or a block) covers."""
    value = dotless(value)
    if "-" in value:
        first, _, last = value.partition("-")
        yield from (entry for entry in release_codes() if first <= entry[0][:3] <= last)
    else:
        yield from (entry for entry in release_codes() if entry[0].startswith(value))


def generated_concepts(part: dict[str, Any]) -> list[dict[str, str]] | None:
    """The concept list a generated compose part should hold, or ``None`` for a hand-written part."""
    rule = next((e for e in part.get("extension") or [] if e.get("url") == GENERATED_EXTENSION), None)
    if rule is None:
        return None
    fields: dict[str, list[str]] = {}
    for item in rule.get("extension") or []:
        fields.setdefault(item["url"], []).append(item["valueString"])
    if not fields.get("within") or len(fields.get("descriptionMatches", [])) != 1:
        raise SystemExit(f"generated-from needs 'within' and one 'descriptionMatches': {rule}")
    matches = re.compile(fields["descriptionMatches"][0], re.IGNORECASE)
    excludes = [re.compile(p, re.IGNORECASE) for p in fields.get("descriptionExcludes", [])]
    found: dict[str, tuple[str, str]] = {}
    for within in fields["within"]:
        for code, dotted, description in codes_under(within):
            if matches.search(description) and not any(p.search(description) for p in excludes):
                found[code] = (dotted, description)
    return [{"code": dotted, "display": description} for _, (dotted, description) in sorted(found.items())]


def icd_members(parts: Iterable[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    members: dict[str, tuple[str, str]] = {}
    for part in parts:
        if part.get("system") != ICD10CM:
            continue
        for item in part.get("filter") or []:
            members.update({code: (dotted, text) for code, dotted, text in codes_under(item["value"])})
        index = release_index()
        for concept in part.get("concept") or []:
            code = dotless(concept["code"])
            if code in index:
                members[code] = index[code]
    return members


@cache
def release_index() -> dict[str, tuple[str, str]]:
    return {code: (dotted, text) for code, dotted, text in release_codes()}


def has_icd(value_set: dict[str, Any]) -> bool:
    compose = value_set.get("compose") or {}
    return any(p.get("system") == ICD10CM for p in [*compose.get("include", []), *compose.get("exclude", [])])


def expand(value_set: dict[str, Any]) -> dict[str, Any]:
    """The ValueSet with its generated parts, expansion and release source brought up to date."""
    compose = value_set["compose"]
    for part in [*compose.get("include", []), *compose.get("exclude", [])]:
        concepts = generated_concepts(part)
        if concepts is not None:
            part["concept"] = concepts
    included = icd_members(compose.get("include", []))
    excluded = icd_members(compose.get("exclude", []))
    contains: list[dict[str, str]] = [
        {"system": ICD10CM, "code": dotted, "display": text}
        for code, (dotted, text) in sorted(included.items())
        if code not in excluded
    ]
    for part in compose.get("include", []):
        if part.get("system") != ICD10CM:
            for concept in part.get("concept") or []:
                entry = {"system": part["system"], "code": concept["code"]}
                if concept.get("display"):
                    entry["display"] = concept["display"]
                contains.append(entry)
    value_set["expansion"] = {
        "identifier": f"urn:dn-cds:expansion:{value_set['id']}:icd10cm-{RELEASE_VERSION}",
        "timestamp": RELEASE_DATE,
        "total": len(contains),
        "parameter": [
            {"name": "used-codesystem", "valueUri": f"{ICD10CM}|{RELEASE_VERSION}"},
            {"name": "generator", "valueString": RELEASE_SOURCE},
        ],
        "contains": contains,
    }
    sources = value_set.setdefault("extension", [])
    if not any(e.get("url") == SOURCE_EXTENSION and e.get("valueString") == RELEASE_SOURCE for e in sources):
        sources[:] = [e for e in sources if not str(e.get("valueString", "")).startswith("ICD-10-CM FY")]
        sources.append({"url": SOURCE_EXTENSION, "valueString": RELEASE_SOURCE})
    return value_set


def render(path: Path) -> str:
    """The file's text after expansion (unchanged text for files without ICD-10-CM value sets)."""
    bundle = json.loads(path.read_text(encoding="utf-8"))
    for entry in bundle.get("entry") or []:
        if has_icd(entry["resource"]):
            expand(entry["resource"])
    return json.dumps(bundle, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    parser.add_argument("--dir", type=Path, default=VALUESET_DIR, help="value-set directory")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(args.dir.glob("*.json")):
        text = render(path)
        if text != path.read_text(encoding="utf-8"):
            stale.append(path.name)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date (run scripts/expand_valuesets.py): {', '.join(stale)}")
        return 1
    print(("rewrote: " + ", ".join(stale)) if stale and not args.check else "value sets up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
