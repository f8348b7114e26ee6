"""``dn-cds load-patients`` and ``dn-cds check`` as processes, against a fresh local FHIR server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests
from support.local_fhir import LocalFhirServer, running_fhir_server
from support.servers import dn_cds_serve

from cds_service.integration_cli import check_request


def cli_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DN_CDS_")}
    env["DN_CDS_AUTH"] = "off"  # the service's JWT check (when present) is not what these tests exercise
    env.update(extra)
    return env


def dn_cds(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cds_service", *args],
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def loaded_server() -> Iterator[LocalFhirServer]:
    """A fresh server, loaded by ``dn-cds load-patients`` (the command itself puts the data there)."""
    with running_fhir_server() as server:
        before = requests.get(f"{server.base}/Patient/dn-bleeding-disorder", timeout=10)
        assert before.status_code == 404
        loaded = dn_cds("load-patients", "--fhir-server", server.base)
        assert loaded.returncode == 0, loaded.stderr
        assert "Loaded 43 resources of 12 demo patients" in loaded.stdout
        yield server


def test_load_patients_puts_the_demo_charts_on_the_server(loaded_server: LocalFhirServer) -> None:
    patient = requests.get(f"{loaded_server.base}/Patient/dn-bleeding-disorder", timeout=10)
    conditions = requests.get(f"{loaded_server.base}/Condition?patient=dn-bleeding-disorder", timeout=10)
    orders = requests.get(f"{loaded_server.base}/ServiceRequest?status=draft", timeout=10)

    assert patient.status_code == 200
    assert conditions.json()["total"] >= 2
    assert orders.json()["total"] == 0  # the draft orders are the EHR's to send, not chart data


def test_check_reads_the_server_and_prints_the_cards(loaded_server: LocalFhirServer) -> None:
    result = dn_cds(
        "check",
        "--fhir-server",
        loaded_server.base,
        "--patient",
        "dn-bleeding-disorder",
        "--body-site",
        "37822005",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "HTTP 200, 3 card(s)" in result.stdout
    assert "<bleeding-disorder>" in result.stdout
    assert "evidence: Condition/dn-bleeding-disorder-hemophilia-a" in result.stdout
    assert "<patient-data-incomplete>" not in result.stdout


@pytest.mark.gunicorn
def test_check_against_a_served_service(loaded_server: LocalFhirServer) -> None:
    settings = {"DN_CDS_AUTH": "off", "DN_CDS_FHIR_SERVER_ALLOWLIST": loaded_server.base}
    with dn_cds_serve(settings, workers=1) as served:
        url = served.url
        ok = dn_cds(
            "check", "--fhir-server", loaded_server.base, "--patient", "dn-first-trimester", "--url", url
        )
        expired = dn_cds(
            "check",
            "--fhir-server",
            loaded_server.base,
            "--patient",
            "dn-eligible",
            "--url",
            url,
            "--token",
            "expired-1",
        )

    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"Service: {url}/cds-services/dry-needling-order-select" in ok.stdout
    assert "<pregnancy-first-trimester>" in ok.stdout
    assert expired.returncode == 1
    assert "HTTP 401" in expired.stderr


def test_check_an_unknown_patient_fails_clearly(loaded_server: LocalFhirServer) -> None:
    result = dn_cds("check", "--fhir-server", loaded_server.base, "--patient", "no-such-patient")

    assert result.returncode == 1
    assert "Patient/no-such-patient" in result.stderr
    assert "HTTP 404" in result.stderr


def test_check_refuses_plain_http_to_a_remote_server_before_any_request() -> None:
    result = dn_cds("check", "--fhir-server", "http://ehr.example.org/fhir", "--patient", "x")

    assert result.returncode == 2
    assert "must use https" in result.stderr
    assert "Service:" not in result.stdout


def test_check_request_is_a_dry_needling_order_without_prefetch() -> None:
    body = check_request("https://ehr.example.org/fhir", "p1", "order-select", "37822005", "tok")

    assert "prefetch" not in body
    assert body["fhirServer"] == "https://ehr.example.org/fhir"
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    assert order["code"]["coding"][0] == {
        "system": "http://www.ama-assn.org/go/cpt",
        "code": "20560",
        "display": "Dry needling, 1-2 muscles",
    }
    assert order["bodySite"][0]["coding"][0] == {"system": "http://snomed.info/sct", "code": "37822005"}
    assert order["subject"] == {"reference": "Patient/p1"}
    assert body["context"]["selections"] == ["ServiceRequest/dn-cds-check-order"]
    assert body["fhirAuthorization"]["access_token"] == "tok"  # noqa: S105
    assert "fhirAuthorization" not in check_request("https://e/fhir", "p1", "patient-view", None, None)
