"""``dn-cds knowledge``: the rule base for a clinical review committee, from the loaded knowledge."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from cards.wording import DATA_DIR as CARDS_DATA_DIR
from cds_service.cli import main
from cds_service.knowledge_report import (
    COLLAPSE_ROWS,
    KnowledgeSources,
    build_report,
    gather_sources,
    render_html,
    render_markdown,
)
from fhir_mappings.knowledge import DATA_DIR as KNOWLEDGE_DATA_DIR
from fhir_mappings.knowledge import SOURCE_EXTENSION


@pytest.fixture(scope="module")
def sources() -> KnowledgeSources:
    return gather_sources()


@pytest.fixture(scope="module")
def markdown(sources: KnowledgeSources) -> str:
    return render_markdown(build_report(sources))


@pytest.fixture(scope="module")
def page(sources: KnowledgeSources) -> str:
    return render_html(build_report(sources))


def _policy() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((KNOWLEDGE_DATA_DIR / "policy.json").read_text(encoding="utf-8"))
    return document


def test_every_finding_code_has_its_rule_and_wording(
    sources: KnowledgeSources, markdown: str, page: str
) -> None:
    for code, finding in sources.knowledge.findings.items():
        assert f"### {code} ({finding.kind})" in markdown
        assert f'<h3 id="finding-{code}">' in page
        wording = sources.wording.findings[code]
        assert wording.rule_source in markdown
        for why in wording.why:
            assert html.escape(why.text) in page


def test_every_value_set_is_listed_with_its_compose_and_size(
    sources: KnowledgeSources, markdown: str
) -> None:
    for vs_id in sources.knowledge.value_sets:
        section = markdown.split(f"### {vs_id}: ", 1)[1].split("\n### ", 1)[0]
        resource = sources.value_sets[vs_id]
        for value in _compose_values(resource):
            assert f"| {value} |" in section, (vs_id, value)
        exact = sum(len(e.get("concept", [])) for e in resource["compose"].get("include", []))
        assert f"**Expansion:** {exact} exact codes" in section or "in the shipped expansion (" in section


def test_every_value_set_appears_in_the_html_report(sources: KnowledgeSources, page: str) -> None:
    for vs_id in sources.knowledge.value_sets:
        assert f'id="vs-{vs_id}"' in page


def test_every_indication_key_is_in_the_indication_table(sources: KnowledgeSources, markdown: str) -> None:
    for key in sources.knowledge.indication_keys():
        assert f"| {key} | " in markdown


def test_every_policy_setting_appears_with_source_and_basis(markdown: str) -> None:
    for name, entry in _policy()["settings"].items():
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {name} |"))
        assert entry["source"].replace("|", "\\|") in row
        assert f"| {entry['basis']} |" in row


def test_unverified_codes_are_listed_for_checking(sources: KnowledgeSources, markdown: str) -> None:
    section = markdown.split("## 10. Verification status of codes", 1)[1]
    for vs_id, resource in sources.value_sets.items():
        for include in resource.get("compose", {}).get("include", []):
            for concept in include.get("concept", []):
                flags = [e.get("valueCode") for e in concept.get("extension", [])]
                if "unverified" in flags:
                    assert f"| {vs_id} | {include['system']} | {concept['code']} | unverified |" in section


def test_risks_and_aftercare_come_from_the_data_file(markdown: str) -> None:
    disclosure = json.loads((CARDS_DATA_DIR / "risk-disclosure.json").read_text(encoding="utf-8"))
    for item in (*disclosure["risks"], *disclosure["aftercare"]):
        assert item["text"] in markdown


def test_report_is_deterministic(sources: KnowledgeSources) -> None:
    assert render_markdown(build_report(sources)) == render_markdown(build_report(gather_sources()))


def test_html_is_a_standalone_page(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in page and '<meta charset="utf-8">' in page
    for external in ("<script", "<link", "src="):
        assert external not in page
    targets = set(re.findall(r'href="([^"]*)"', page))
    assert targets, "a table of contents links to the parts"
    assert all(target.startswith("#") for target in targets)  # in-page links only
    ids = set(re.findall(r' id="([^"]+)"', page))
    assert {target[1:] for target in targets} <= ids  # no broken in-page link


def test_html_page_has_a_table_of_contents_and_collapses_long_tables(page: str) -> None:
    contents = page.split('<nav aria-label="Contents">', 1)[1].split("</nav>", 1)[0]
    for anchor in ("findings", "policy", "disclosure", "value-sets", "files"):
        assert f'href="#{anchor}"' in contents
    # Thresholds come before the long code tables, and the code tables are collapsed.
    assert page.index('id="policy"') < page.index('id="value-sets"')
    assert "<details><summary>Compose of " in page.split('id="value-sets"', 1)[1]
    for table in re.findall(r"<table>.*?</table>", page, flags=re.S):
        rows = table.count("<tr>") - 1
        if rows > COLLAPSE_ROWS:
            before = page[: page.index(table)]
            assert before.rfind("<details>") > before.rfind("</details>"), table[:200]


def test_html_page_shows_no_raw_markdown(page: str) -> None:
    text = re.sub(r"<[^>]+>", "", page.split("<body>", 1)[1])
    assert "`" not in text
    assert "**" not in text


def test_rules_state_their_numbers(sources: KnowledgeSources, markdown: str) -> None:
    policy = sources.knowledge.policy
    section = markdown.split("### severe-thrombocytopenia (contraindication)", 1)[1].split("\n### ", 1)[0]
    assert f"**Rule.** Platelet count below {policy.platelet_contraindication_below:g}" in section
    findings = markdown.split("## 2. ", 1)[0]
    assert "{policy:" not in findings


@pytest.mark.parametrize(
    "outside", ["../shared", "shared/design", "architecture.md", "clinical-knowledge.md"]
)
def test_the_report_cites_nothing_outside_the_repository(markdown: str, outside: str) -> None:
    assert outside not in markdown


def test_html_escapes_and_markdown_tables_survive_hostile_text(tmp_path: Path) -> None:
    knowledge_dir, cards_dir = _copy_data(tmp_path)
    bundle_path = knowledge_dir / "valuesets" / "indications.json"
    bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    resource = bundle["entry"][0]["resource"]
    resource["purpose"] = "<script>alert(1)</script> & co"
    resource["compose"]["include"][-1]["concept"][0]["display"] = "Pipe | in <b>display</b>"
    bundle_path.write_text(json.dumps(bundle), encoding="utf-8")
    policy = _policy()
    next(iter(policy["settings"].values()))["source"] = 'Guideline "<i>x</i>" | y'
    (knowledge_dir / "policy.json").write_text(json.dumps(policy), encoding="utf-8")
    blocks = build_report(gather_sources(knowledge_dir, cards_dir))
    page = render_html(blocks)
    assert "<script>" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "Pipe | in &lt;b&gt;display&lt;/b&gt;" in page
    assert "Guideline &quot;&lt;i&gt;x&lt;/i&gt;&quot; | y" in page
    markdown = render_markdown(blocks)
    assert "| Pipe \\| in <b>display</b> |" in markdown
    row = next(line for line in markdown.splitlines() if 'Guideline "<i>x</i>"' in line)
    assert len(re.findall(r"(?<!\\)\|", row)) == 7  # six cells: the pipe in the source is escaped


def test_new_value_sets_and_settings_appear_without_code_changes(tmp_path: Path) -> None:
    knowledge_dir, cards_dir = _copy_data(tmp_path)
    extra = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "ValueSet",
                    "id": "hysterectomy-test",
                    "url": "urn:dn-cds:ValueSet/hysterectomy-test",
                    "version": "2026.11.9",
                    "title": "Hysterectomy (test)",
                    "status": "draft",
                    "extension": [{"url": SOURCE_EXTENSION, "valueString": "test source"}],
                    "compose": {
                        "include": [
                            {
                                "system": "http://hl7.org/fhir/sid/icd-10-cm",
                                "filter": [{"property": "concept", "op": "is-a", "value": "Z90.71"}],
                            }
                        ]
                    },
                    "expansion": {
                        "timestamp": "2026-04-01",
                        "contains": [
                            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z90.710"},
                            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z90.711"},
                            {"system": "http://snomed.info/sct", "code": "236886002"},
                        ],
                    },
                }
            }
        ],
    }
    (knowledge_dir / "valuesets" / "extra.json").write_text(json.dumps(extra), encoding="utf-8")
    policy = _policy()
    policy["settings"]["platelet_test_threshold"] = {
        "value": 50,
        "unit": "10*9/L",
        "source": "test convention",
        "basis": "conventional",
    }
    (knowledge_dir / "policy.json").write_text(json.dumps(policy), encoding="utf-8")
    markdown = render_markdown(build_report(gather_sources(knowledge_dir, cards_dir)))
    assert "### hysterectomy-test: Hysterectomy (test)" in markdown
    assert "3 codes in the shipped expansion (2 ICD-10-CM, 1 SNOMED CT), expanded 2026-04-01" in markdown
    assert "**Source:** test source" in markdown
    assert (
        "| platelet_test_threshold | 50 | 10*9/L | conventional | test convention "
        "| no (not read by this release) |" in markdown
    )
    assert "| fhir_mappings/data/valuesets/extra.json | 2026.11.9 |" in markdown


@pytest.mark.parametrize("report_format", ["markdown", "html"])
def test_cli_writes_the_report_to_a_file(
    report_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / f"rules.{report_format}"
    assert main(["knowledge", "--format", report_format, "--output", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    if report_format == "html":
        assert text.startswith("<!DOCTYPE html>")
    else:
        assert text.startswith("# Dry-needling CDS: clinical rule base for review")
    assert str(target) in capsys.readouterr().err


def test_cli_prints_markdown_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["knowledge"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Dry-needling CDS") and "## 7. Value sets" in out


def test_cli_reports_an_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["knowledge", "--output", str(tmp_path / "missing" / "rules.md")]) == 2
    assert "cannot write" in capsys.readouterr().err


def _compose_values(resource: dict[str, Any]) -> list[str]:
    return [
        str(item.get("value") or item.get("code"))
        for part in ("include", "exclude")
        for entry in resource.get("compose", {}).get(part, [])
        for item in [*entry.get("filter", []), *entry.get("concept", [])]
    ]


def _copy_data(tmp_path: Path) -> tuple[Path, Path]:
    knowledge_dir = tmp_path / "knowledge"
    cards_dir = tmp_path / "cards"
    shutil.copytree(KNOWLEDGE_DATA_DIR, knowledge_dir)
    shutil.copytree(CARDS_DATA_DIR, cards_dir)
    return knowledge_dir, cards_dir


def test_antithrombotic_names_lab_units_and_site_risks_are_listed(markdown: str) -> None:
    part = markdown.split("## 5. Antithrombotic drugs, laboratory units and site risks", 1)[1]
    assert (
        "| warfarin | anticoagulant | `antithrombotic-warfarin` | warfarin, coumadin, jantoven | yes |"
        in part
    )
    assert "10*3/ul x 1" in part and "/ul x 0.001" in part
    assert "| fainting-risk-site | head, neck | none |" in part
    assert "No site policy file (`DN_CDS_POLICY_FILE`)" in markdown


def test_a_site_policy_file_is_shown_beside_the_shipped_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site.json"
    site.write_text(
        json.dumps(
            {
                "version": "clinic-4",
                "settings": {
                    "antithrombotic_excluded_ingredients": {
                        "value": ["aspirin"],
                        "source": "Committee minute 12",
                        "basis": "conventional",
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("DN_CDS_POLICY_FILE", str(site))
    assert main(["knowledge"]) == 0
    text = capsys.readouterr().out
    assert "Site policy file (`DN_CDS_POLICY_FILE`, version clinic-4)" in text
    assert (
        "| antithrombotic_excluded_ingredients |   | aspirin | conventional | Committee minute 12 |" in text
    )
    assert "| aspirin | antiplatelet |" in text and "no (policy: antithrombotic_excluded_ingredients)" in text
    assert "+site.clinic-4" in text


OUTSIDE_REFERENCES = re.compile(
    r"\.\./shared|shared/(?:design|seed|reference)|architecture\.md|clinical-knowledge\.md|"
    r"patient-information\.txt"
)


def _shipped_text_files() -> list[Path]:
    root = KNOWLEDGE_DATA_DIR.parent.parent
    files = [*KNOWLEDGE_DATA_DIR.rglob("*.json"), *CARDS_DATA_DIR.glob("*.json")]
    files += [*(root / "cds_service" / "data").glob("*.json"), root / "README.md", root / "SECURITY.md"]
    return sorted(files)


@pytest.mark.parametrize("path", _shipped_text_files(), ids=lambda path: path.name)
def test_no_shipped_file_cites_a_document_outside_the_repository(path: Path) -> None:
    """A reader of the repository alone can follow every reference (docs/clinical-basis.md summarises the
    design notes with their published references)."""
    found = OUTSIDE_REFERENCES.findall(path.read_text(encoding="utf-8"))
    assert found == []


def test_the_cited_clinical_basis_has_every_cited_section() -> None:
    root = KNOWLEDGE_DATA_DIR.parent.parent
    basis = (root / "docs" / "clinical-basis.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{2,3} (\d[a-z]?)\.", basis, flags=re.M))
    cited = {
        section
        for path in _shipped_text_files()
        for match in re.finditer(
            r"clinical-basis\.md sections? (\d[a-z]?)(?: and (\d[a-z]?))?", path.read_text()
        )
        for section in match.groups()
        if section
    }
    assert cited and cited <= headings, cited - headings


def test_the_citation_rewrite_points_inside_the_repository() -> None:
    import importlib.util

    script = KNOWLEDGE_DATA_DIR.parent.parent / "scripts" / "cite_in_repo.py"
    spec = importlib.util.spec_from_file_location("cite_in_repo", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (
        module.rewrite("see shared/design/clinical-knowledge.md section 2b and architecture.md section 4")
        == "see docs/clinical-basis.md section 2b and docs/clinical-basis.md section 6"
    )
    assert module.rewrite("seed: dry-needling-patient-information.txt (x)") == (
        "seed: the dry-needling patient information sheet (docs/clinical-basis.md section 0) (x)"
    )
    assert module.rewrite("docs/clinical-basis.md section 6") == "docs/clinical-basis.md section 6"
