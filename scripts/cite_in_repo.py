"""Rewrite citations of documents outside this repository (../shared/design/architecture.md and
clinical-knowledge.md, the seed's file name) to docs/clinical-basis.md, which summarises them with their
published references.

Idempotent; run from the repository root: ``python scripts/cite_in_repo.py [FILE ...]`` (default: every
knowledge file and the Python packages). Kept so a branch merged later can be brought in line.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BASIS = "docs/clinical-basis.md"
# architecture.md sections -> clinical-basis.md sections (4: clinical policy -> 6; 5: card contract -> 7)
_ARCHITECTURE = {"4": "6", "5": "7"}
_RULES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"(?:\.\./)?(?:shared/design/)?architecture\.md section 4 and clinical-knowledge\.md (\d[a-z]?)"
        ),
        BASIS + r" sections 6 and \1",
    ),
    (
        re.compile(r"(?:\.\./)?(?:shared/design/)?clinical-knowledge\.md (?:section )?(\d[a-z]?)"),
        BASIS + r" section \1",
    ),
    (
        re.compile(r"(?:\.\./)?(?:shared/design/)?architecture\.md section ([45])"),
        "ARCH",
    ),
    (
        re.compile(r"(?:\.\./)?(?:shared/seed/)?dry-needling-patient-information\.txt"),
        "the dry-needling patient information sheet (" + BASIS + " section 0)",
    ),
]


def rewrite(text: str) -> str:
    """``text`` with every outside citation pointing at docs/clinical-basis.md."""
    for pattern, replacement in _RULES:
        if replacement == "ARCH":
            text = pattern.sub(lambda m: f"{BASIS} section {_ARCHITECTURE[m.group(1)]}", text)
        else:
            text = pattern.sub(replacement, text)
    return text


def default_files(root: Path) -> list[Path]:
    patterns = ["fhir_mappings/data/**/*.json", "cards/data/*.json", "cds_service/data/*.json"]
    patterns += ["fhir_mappings/**/*.py", "cards/**/*.py", "cds_service/**/*.py", "fhir_mappings/README.md"]
    return sorted({p for pattern in patterns for p in root.glob(pattern)})


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or default_files(Path.cwd())
    for path in files:
        text = path.read_text(encoding="utf-8")
        new = rewrite(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
