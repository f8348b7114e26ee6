"""DN_CDS_POLICY_FILE: a site file overriding settings of the shipped policy.json by key (architecture.md
section 6). Unknown keys, wrong types, a missing source or an unreadable file stop start-up, naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.builders import days_ago, lab_result, patient_record
from support.cds_client import CdsClient
from support.clock import TODAY
from support.tokens import issuer_trust

from cds_service import Settings, create_app
from cds_service.cli import main
from cds_service.settings import SettingsError
from fhir_mappings import KnowledgeError, evaluate_patient, load_knowledge
from fhir_mappings.knowledge import DATA_DIR
from fhir_mappings.policy import setting_names

SOURCE = {"source": "Clinic safety committee decision 2026-10-02", "basis": "conventional"}


def _site_file(tmp_path: Path, settings: Any, **top: Any) -> Path:
    path = tmp_path / "site-policy.json"
    path.write_text(json.dumps({"settings": settings, **top}), encoding="utf-8")
    return path


def test_overrides_change_only_the_named_settings(tmp_path: Path) -> None:
    shipped = load_knowledge()
    path = _site_file(
        tmp_path,
        {
            "platelet_precaution_below": {"value": 75, **SOURCE},
            "inr_precaution_above": {"value": 2.5, **SOURCE},
            "lab_max_age_days": {"value": 7, **SOURCE},
            "antithrombotic_excluded_ingredients": {"value": ["aspirin"], **SOURCE},
        },
        version="clinic-7",
    )
    site = load_knowledge(policy_file=path)
    assert site.policy.platelet_precaution_below == 75.0
    assert site.policy.inr_precaution_above == 2.5
    assert site.policy.lab_max_age_days == 7
    assert site.policy.antithrombotic_excluded_ingredients == {"aspirin"}
    assert site.policy.site_overrides == {
        "platelet_precaution_below",
        "inr_precaution_above",
        "lab_max_age_days",
        "antithrombotic_excluded_ingredients",
    }
    for name in set(setting_names()) - site.policy.site_overrides:
        assert getattr(site.policy, name) == getattr(shipped.policy, name), name
    assert site.version == f"{shipped.version}+site.clinic-7"
    assert shipped.policy.site_overrides == frozenset()

    platelets = lab_result("777-3", 60, "10*3/uL", effective=days_ago(2))
    codes = {f.code for f in evaluate_patient(patient_record(platelets), site, TODAY)}
    assert "low-platelet-count" in codes
    assert "low-platelet-count" not in {
        f.code for f in evaluate_patient(patient_record(platelets), shipped, TODAY)
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"platelet_treshold": {"value": 30, **SOURCE}}, "unknown setting(s) platelet_treshold"),
        ({"lab_max_age_days": {"value": "30", **SOURCE}}, "'lab_max_age_days' must be an integer, got str"),
        ({"lab_max_age_days": {"value": 7.5, **SOURCE}}, "must be an integer, got number"),
        ({"platelet_precaution_below": {"value": [50], **SOURCE}}, "must be a number"),
        ({"platelet_precaution_below": {"value": True, **SOURCE}}, "must be a number, got boolean"),
        ({"medication_request_active_statuses": {"value": "active", **SOURCE}}, "must be a list of strings"),
        ({"inr_precaution_above": {"value": -1, **SOURCE}}, "must not be negative"),
        ({"inr_precaution_above": 2.5}, "'inr_precaution_above' missing"),
        ({"inr_precaution_above": {"value": 2.5}}, "needs a source and a basis"),
        (
            {"inr_precaution_above": {"value": 2.5, "source": "x", "basis": "site"}},
            "needs a source and a basis",
        ),
        ([], "a 'settings' object is required"),
    ],
)
def test_bad_site_files_stop_start_up(tmp_path: Path, settings: Any, message: str) -> None:
    path = _site_file(tmp_path, settings)
    with pytest.raises(KnowledgeError) as raised:
        load_knowledge(policy_file=path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value) and "DN_CDS_POLICY_FILE" in str(raised.value)


@pytest.mark.parametrize(
    "content", ["{not json", "\udcff".encode("utf-8", "surrogateescape").decode("latin-1")]
)
def test_unreadable_site_file_stops_start_up(tmp_path: Path, content: str) -> None:
    path = tmp_path / "site.json"
    path.write_bytes(content.encode("latin-1") if content != "{not json" else content.encode())
    with pytest.raises(KnowledgeError, match="DN_CDS_POLICY_FILE"):
        load_knowledge(policy_file=path)


def test_settings_read_the_path_and_refuse_a_missing_file(tmp_path: Path) -> None:
    path = _site_file(tmp_path, {})
    assert Settings.from_env({"DN_CDS_POLICY_FILE": str(path)}).policy_file == path
    assert Settings.from_env({"DN_CDS_POLICY_FILE": "  "}).policy_file is None
    assert Settings.from_env({}).policy_file is None
    with pytest.raises(SettingsError, match="DN_CDS_POLICY_FILE"):
        Settings.from_env({"DN_CDS_POLICY_FILE": str(tmp_path / "absent.json")})
    with pytest.raises(SettingsError, match="DN_CDS_POLICY_FILE"):
        Settings.from_env({"DN_CDS_POLICY_FILE": str(tmp_path)})  # a directory


def test_the_app_uses_the_site_policy_and_its_prefetch_statuses(tmp_path: Path) -> None:
    path = _site_file(
        tmp_path,
        {"medication_request_active_statuses": {"value": ["active", "on-hold", "draft"], **SOURCE}},
        version="2",
    )
    app = create_app(Settings(policy_file=path, trusted_issuers=(issuer_trust(),)), today=lambda: TODAY)
    with app.test_client() as client:
        services = CdsClient(client).discovery().get_json()["services"]
    for service in services:
        # plus 'completed': it counts while its own therapy period runs
        assert service["prefetch"]["medicationRequests"] == (
            "MedicationRequest?patient={{context.patientId}}&status=active,completed,draft,on-hold"
        )
        assert service["prefetch"]["medicationStatements"].endswith(
            "&status=active,completed,intended,on-hold,unknown"
        )
    assert app.extensions["dn_cds"].advisor.knowledge.version.endswith("+site.2")


def test_a_bad_site_file_stops_create_app_and_dn_cds_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _site_file(tmp_path, {"inr_critical": {"value": 5, **SOURCE}})
    with pytest.raises(KnowledgeError, match="unknown setting"):
        create_app(Settings(policy_file=path))
    monkeypatch.setenv("DN_CDS_POLICY_FILE", str(path))
    monkeypatch.setattr("os.execv", lambda *args: pytest.fail("gunicorn must not start"))
    assert main(["serve"]) == 2
    assert "unknown setting(s) inr_critical" in capsys.readouterr().err


def test_the_shipped_policy_names_a_source_and_basis_for_the_new_settings() -> None:
    settings = json.loads((DATA_DIR / "policy.json").read_text(encoding="utf-8"))["settings"]
    for name in (
        "medication_request_active_statuses",
        "medication_statement_active_statuses",
        "antithrombotic_excluded_ingredients",
        "platelet_contraindication_below",
        "platelet_precaution_below",
        "inr_contraindication_at_or_above",
        "inr_precaution_above",
        "lab_max_age_days",
    ):
        assert settings[name]["basis"] == "conventional", name
        assert settings[name]["source"].strip(), name
    assert settings["platelet_contraindication_below"]["value"] == 20
    assert settings["platelet_precaution_below"]["value"] == 50
    assert settings["inr_contraindication_at_or_above"]["value"] == 4.0
    assert settings["inr_precaution_above"]["value"] == 3.0
    assert settings["lab_max_age_days"]["value"] == 30
