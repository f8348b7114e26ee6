"""Shared fixtures."""

from __future__ import annotations

import pytest

# First: pin the suite's one clock (tests/suite_clock.py) before anything reads the time.
from suite_clock import TODAY

from fhir_mappings import Knowledge, load_knowledge

pytest_plugins = ["suite_markers"]  # markers from fixtures, Hypothesis profiles


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    """The shipped knowledge files, loaded and compiled once per session."""
    return load_knowledge()


# --- HTTP level -------------------------------------------------------------------------------------------
# Every response the HTTP tests see goes through CdsClient, which checks it against the CDS Hooks
# conformance rules (tests/conformance.py) before the test looks at it.

from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

from conformance import (  # noqa: E402
    assert_cards_response,
    assert_discovery,
    assert_operation_outcome,
)
from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from tokens import BASE_URL, ISSUER, issuer_trust, token  # noqa: E402
from werkzeug.test import TestResponse  # noqa: E402

from cds_service import Settings, create_app  # noqa: E402


class CdsClient:
    """A Flask test client that checks every response for CDS Hooks conformance.

    Like an EHR, it signs every request with a fresh JWT of the test issuer (tests/tokens.py), for the
    path it calls; a test that sets its own ``Authorization`` header (or ``signed=False``) sends that instead.
    """

    def __init__(self, client: FlaskClient, *, signed: bool = True, base_url: str = BASE_URL) -> None:
        self.client = client
        self.signed = signed
        self.base_url = base_url.rstrip("/")

    def _headers(self, path: str, headers: Any = None) -> dict[str, str]:
        merged = dict(headers or {})
        if self.signed and not any(name.lower() == "authorization" for name in merged):
            merged["Authorization"] = f"Bearer {token(self.base_url + path)}"
        return merged

    def discovery(self) -> TestResponse:
        response = self.client.get("/cds-services", headers=self._headers("/cds-services"))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert_discovery(response.get_json())
        return self.checked(response)

    def call(self, service_id: str, body: Any) -> TestResponse:
        path = f"/cds-services/{service_id}"
        return self.checked(self.client.post(path, json=body, headers=self._headers(path)))

    def feedback(self, service_id: str, body: Any) -> TestResponse:
        path = f"/cds-services/{service_id}/feedback"
        return self.checked(self.client.post(path, json=body, headers=self._headers(path)))

    def raw(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        kwargs["headers"] = self._headers(path.partition("?")[0], kwargs.get("headers"))
        return self.checked(self.client.open(path, method=method, **kwargs))

    @staticmethod
    def checked(response: TestResponse) -> TestResponse:
        assert response.status_code != 500, response.get_data(as_text=True)
        assert response.mimetype == "application/json", response.mimetype
        body = response.get_json()
        if response.status_code >= 400:
            assert_operation_outcome(body)
        elif (
            response.request.method == "POST"
            and response.request.path.startswith("/cds-services/")
            and not response.request.path.endswith("/feedback")
        ):
            assert_cards_response(body)
        return response


def card_codes(response: TestResponse) -> list[str]:
    """The finding codes of a cards response, sorted."""
    return sorted(card["source"]["topic"]["code"] for card in response.get_json()["cards"])


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """One app for the session: knowledge loads once; the clock is fixed to TODAY; auth is required and
    trusts the test issuer (tests/tokens.py) only."""
    settings = Settings(trusted_issuers=(issuer_trust(),), data_dir=tmp_path_factory.mktemp("app-data"))
    return create_app(settings, today=lambda: TODAY)


def issue_cards(app: Flask, service_id: str, *uuids: str, issuer: str | None = ISSUER) -> None:
    """Audit cards with these uuids as if ``service_id`` had returned them to ``issuer`` (the test issuer,
    whose tokens CdsClient sends), so feedback can name them."""
    from cds_service.routes import AUDIT_TRAIL
    from cds_service.store import AuditedCard, HookCallRecord

    trail = app.extensions[AUDIT_TRAIL]
    cards = [AuditedCard(uuid, "risk-disclosure", "info") for uuid in uuids]
    trail.store.audit.record(HookCallRecord(trail.now(), service_id, 200, 1.0, cards=cards, issuer=issuer))


@pytest.fixture
def cds(app: Flask) -> Iterator[CdsClient]:
    with app.test_client() as client:
        yield CdsClient(client)


@pytest.fixture(autouse=True)
def _no_dn_cds_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's DN_CDS_* settings."""
    import os

    for name in list(os.environ):
        if name.startswith("DN_CDS_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session", autouse=True)
def _no_user_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Settings() without a data_dir stores under XDG_DATA_HOME: a temporary one, never the developer's
    (session-wide, so module-scoped servers get it too)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
        yield


# --- A real FHIR server (tests/fhir_server: Medplum's FHIR router in memory, behind our Node wrapper) -------

from local_fhir import LocalFhirServer, running_fhir_server  # noqa: E402

FHIR_PAGE_SIZE = 20


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[LocalFhirServer]:
    """The test FHIR server on 127.0.0.1 (npm ci on first use), with the demo patients, the test patients and
    the clinical vignettes loaded, dated for TODAY; stopped at the end of the session."""
    from fhir_test_patients import load_test_patients

    from cds_service.integration_cli import load_patients

    with running_fhir_server(page_size=FHIR_PAGE_SIZE) as server:
        assert load_patients(server.base, today=TODAY) == 0
        load_test_patients(server.base, TODAY)
        yield server


# --- store (SQLite and PostgreSQL) ------------------------------------------------------------------------
from store_fixtures import postgresql_server, store, store_settings  # noqa: E402, F401
