"""The real server process (``dn-cds serve`` -> gunicorn) on 127.0.0.1, called over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from support.conformance import assert_cards_response, assert_discovery, assert_operation_outcome
from support.servers import dn_cds_serve

from cds_service.catalog import load_catalog
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.local_client import sign_service_request

pytestmark = pytest.mark.gunicorn  # the service as a real process on a loopback port
DATA_DIR: dict[str, str] = {}  # the server's DN_CDS_DATA_DIR, where its local client key lives


def signed(url: str) -> dict[str, str]:
    """Headers of a call to ``url`` signed as the local client, as ``dn-cds demo`` signs (the default
    ``serve`` trusts only that key)."""
    return sign_service_request(url, data_dir=Path(DATA_DIR["path"]))


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dn-cds serve`` as shipped (authentication required, trusting the local client key), 2 workers."""
    DATA_DIR["path"] = str(tmp_path_factory.mktemp("server-data"))
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with dn_cds_serve({"DN_CDS_DATA_DIR": DATA_DIR["path"]}, log_path=log_path, workers=2) as served:
        yield served.url


def test_discovery_over_http(server_url: str) -> None:
    response = requests.get(
        f"{server_url}/cds-services", headers=signed(f"{server_url}/cds-services"), timeout=5
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert_discovery(response.json())
    assert len(response.json()["services"]) == 3


def test_every_demo_patient_over_http(server_url: str) -> None:
    service = next(s for s in load_catalog().services if s.hook == "order-select")
    with requests.Session() as session:
        for patient in load_demo_patients(datetime.now(UTC).date()):
            url = f"{server_url}/cds-services/{service.id}"
            response = session.post(
                url, json=build_hook_request(patient, service), headers=signed(url), timeout=5
            )
            assert response.status_code == 200, patient.slug
            assert_cards_response(response.json())
            codes = sorted(card["source"]["topic"]["code"] for card in response.json()["cards"])
            assert codes == sorted(patient.expected_findings), patient.slug


def test_bad_json_over_http_is_400(server_url: str) -> None:
    url = f"{server_url}/cds-services/dry-needling-order-select"
    headers = {"Content-Type": "application/json", **signed(url)}
    response = requests.post(url, data="{oops", headers=headers, timeout=5)

    assert response.status_code == 400
    assert_operation_outcome(response.json())


def test_demo_command_against_the_running_server(server_url: str) -> None:
    env = {**os.environ, "DN_CDS_DATA_DIR": DATA_DIR["path"]}
    result = subprocess.run(
        [sys.executable, "-m", "cds_service", "demo", "--url", server_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 differing from the expected findings" in result.stdout


def test_disclosure_card_links_a_handout_the_server_serves(server_url: str) -> None:
    service = next(s for s in load_catalog().services if s.hook == "order-sign")
    patient = next(p for p in load_demo_patients(datetime.now(UTC).date()) if p.slug == "eligible")
    url = f"{server_url}/cds-services/{service.id}"
    response = requests.post(url, json=build_hook_request(patient, service), headers=signed(url), timeout=5)
    card = next(c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "risk-disclosure")
    [link] = card["links"]
    assert link["type"] == "absolute" and link["url"] == f"{server_url}/handouts/dry-needling"
    handout = requests.get(link["url"], timeout=5)
    assert handout.status_code == 200
    assert handout.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>" in handout.text and "pneumothorax" in handout.text


def test_unsigned_call_over_http_is_401(server_url: str) -> None:
    """The default ``serve`` requires a token: none, or one for another endpoint, gets a bare 401."""
    url = f"{server_url}/cds-services/dry-needling-order-select"
    body = {"hook": "order-select"}

    missing = requests.post(url, json=body, timeout=5)
    wrong_audience = requests.post(url, json=body, headers=signed(f"{server_url}/cds-services"), timeout=5)

    for response in (missing, wrong_audience):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert_operation_outcome(response.json())
        assert response.json()["issue"][0]["diagnostics"] == "unauthorized"
