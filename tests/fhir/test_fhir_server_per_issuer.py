"""Whose FHIR server a call may name (issue 15 item 10): an allowlist per issuer and tenant in
DN_CDS_TRUSTED_ISSUERS (the global list as the default), and no private, link-local or loopback address unless
explicitly listed (checked on the connected socket, with a real server on 127.0.0.1)."""

from __future__ import annotations

import ipaddress
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import responses
from support.cds_client import CdsClient
from support.clock import TODAY
from support.tokens import BASE_URL, ISSUER, jwk_set, token
from test_fhir_fetcher import PATIENT, SERVICE, body, bundle

from cds_service import Settings, create_app
from cds_service.fhir_client import AddressPolicy, FhirAddressRefused, FhirClient
from cds_service.settings import SettingsError
from cds_service.trust import IssuerTrust, TrustConfigError, parse_trusted_issuers

A_BASE = "https://ehr-a.example.org/fhir"
B_BASE = "https://ehr-b.example.org/fhir"
OTHER_ISSUER = "https://other-ehr.test.example/"
CALL = f"/cds-services/{SERVICE.id}"


def test_per_issuer_and_tenant_lists_are_read_and_checked() -> None:
    [trust] = parse_trusted_issuers(
        json.dumps(
            {
                ISSUER: {
                    "jwks": jwk_set(),
                    "fhir_servers": [A_BASE + "/"],
                    "tenant_fhir_servers": {"t1": [A_BASE + "/t1"]},
                }
            }
        )
    )

    assert trust.fhir_allowlist(None, (B_BASE,)) == (A_BASE,)
    assert trust.fhir_allowlist("t1", (B_BASE,)) == (A_BASE + "/t1",)
    assert trust.fhir_allowlist("t2", (B_BASE,)) == (A_BASE,)
    assert IssuerTrust(issuer=ISSUER).fhir_allowlist("t1", (B_BASE,)) == (B_BASE,)


@pytest.mark.parametrize(
    "entry",
    [
        {"fhir_servers": "https://x.example/fhir"},
        {"fhir_servers": ["http://x.example/fhir"]},
        {"fhir_servers": ["https://x.example/fhir/../admin"]},
        {"fhir_servers": ["https://user:pw@x.example/fhir"]},
        {"tenant_fhir_servers": ["https://x.example/fhir"]},
        {"tenant_fhir_servers": {"t1": "https://x.example/fhir"}},
    ],
)
def test_bad_per_issuer_lists_stop_start_up(entry: dict[str, Any]) -> None:
    with pytest.raises(TrustConfigError):
        parse_trusted_issuers(json.dumps({ISSUER: {"jwks": jwk_set(), **entry}}))


@pytest.fixture
def two_ehrs(tmp_path: Any) -> CdsClient:
    """Issuer A reads from A's server (tenant t1 from its own base), B from B's; the global list has both."""
    keys = json.dumps(jwk_set())
    issuers = (
        IssuerTrust(
            issuer=ISSUER,
            jwks_json=keys,
            fhir_servers=(A_BASE,),
            tenant_fhir_servers=(("t1", (A_BASE + "/t1",)),),
        ),
        IssuerTrust(issuer=OTHER_ISSUER, jwks_json=keys, fhir_servers=(B_BASE,)),
    )
    settings = Settings(trusted_issuers=issuers, fhir_server_allowlist=(A_BASE, B_BASE), data_dir=tmp_path)
    return CdsClient(create_app(settings, today=lambda: TODAY).test_client())


def call(client: CdsClient, server: str, issuer: str, tenant: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token(BASE_URL + CALL, iss=issuer, tenant=tenant)}"}
    return client.raw("POST", CALL, json=body(server=server), headers=headers)


@pytest.fixture
def servers() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        patient = {"resourceType": "Patient", "id": PATIENT.patient_id}
        for base in (A_BASE, A_BASE + "/t1", B_BASE):
            mock.get(re.compile(re.escape(base) + r"/Patient/.*"), json=patient)
            mock.get(re.compile(re.escape(base) + r"/[A-Z][A-Za-z]+\?.*"), json=bundle())
        yield mock


def test_an_issuer_cannot_send_the_service_to_another_issuers_fhir_server(
    two_ehrs: CdsClient, servers: responses.RequestsMock
) -> None:
    refused = call(two_ehrs, A_BASE, OTHER_ISSUER)

    assert refused.status_code == 412
    assert refused.get_json()["issue"][0]["expression"] == ["fhirServer"]
    assert len(servers.calls) == 0  # B's token never went to A's server
    assert call(two_ehrs, B_BASE, OTHER_ISSUER).status_code == 200
    assert {c.request.url.split("/fhir")[0] for c in servers.calls} == {"https://ehr-b.example.org"}


def test_a_tenant_reads_only_from_its_own_base(two_ehrs: CdsClient, servers: responses.RequestsMock) -> None:
    assert call(two_ehrs, A_BASE, ISSUER, tenant="t1").status_code == 412
    assert len(servers.calls) == 0
    assert call(two_ehrs, A_BASE + "/t1", ISSUER, tenant="t1").status_code == 200
    assert call(two_ehrs, A_BASE, ISSUER, tenant="t2").status_code == 200  # no list of its own: the issuer's


# --- addresses -------------------------------------------------------------------------------------------


class PatientServer:
    def __init__(self) -> None:
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                data = json.dumps({"resourceType": "Patient", "id": "1"}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def patient_server() -> Iterator[PatientServer]:
    server = PatientServer()
    yield server
    server.close()


def test_an_internal_address_not_written_in_the_url_is_refused_before_anything_is_sent(
    patient_server: PatientServer,
) -> None:
    """``127.1`` is 127.0.0.1 spelt another way (as a host name resolving to an internal address would be):
    the connection is closed before the request, and its token, is sent."""
    url = f"http://127.1:{patient_server.port}/fhir/Patient/1"

    with pytest.raises(FhirAddressRefused):
        FhirClient().get_json(url, "secret-token", time.monotonic() + 5)

    assert patient_server.paths == []


def test_internal_addresses_listed_explicitly_are_reached(patient_server: PatientServer) -> None:
    deadline = time.monotonic() + 5
    listed = FhirClient(address_policy=AddressPolicy((ipaddress.ip_network("127.0.0.0/8"),)))

    assert listed.get_json(f"http://127.1:{patient_server.port}/fhir/Patient/1", None, deadline)["id"] == "1"
    assert FhirClient().get_json(f"http://127.0.0.1:{patient_server.port}/fhir/Patient/1", None, deadline)
    assert FhirClient().get_json(f"http://localhost:{patient_server.port}/fhir/Patient/1", None, deadline)


@pytest.mark.parametrize(
    ("host", "peer", "allowed"),
    [
        ("ehr.example.org", "93.184.216.34", True),
        ("ehr.example.org", "10.1.2.3", False),
        ("ehr.example.org", "169.254.169.254", False),
        ("ehr.example.org", "127.0.0.1", False),
        ("ehr.example.org", "fe80::1", False),
        ("169.254.169.254", "169.254.169.254", True),  # the allowlist named that very address
        ("localhost", "::1", True),
    ],
)
def test_the_address_policy(host: str, peer: str, allowed: bool) -> None:
    assert AddressPolicy().allows(host, peer) is allowed


def test_private_networks_setting() -> None:
    settings = Settings.from_env({"DN_CDS_FHIR_PRIVATE_NETWORKS": "10.20.0.0/16, fd00::/8"})
    assert settings.fhir_private_networks == ("10.20.0.0/16", "fd00::/8")
    with pytest.raises(SettingsError, match="FHIR_PRIVATE_NETWORKS"):
        Settings.from_env({"DN_CDS_FHIR_PRIVATE_NETWORKS": "intranet"})
