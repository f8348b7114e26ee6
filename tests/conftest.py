"""Shared fixtures, and only fixtures: the helpers are modules under tests/support (tests/README.md)."""

from __future__ import annotations

# First: pin the suite's one clock (tests/support/clock.py) before anything reads the time.
from support.clock import TODAY  # isort: skip

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from support.cds_client import CdsClient
from support.local_fhir import LocalFhirServer, running_fhir_server
from support.tokens import issuer_trust

from cds_service import Settings, create_app
from fhir_mappings import Knowledge, load_knowledge

# Markers from fixtures and the Hypothesis profiles; the store fixtures (SQLite and PostgreSQL).
pytest_plugins = ["support.markers", "support.store_fixtures"]

FHIR_PAGE_SIZE = 20


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    """The shipped knowledge files, loaded and compiled once per session."""
    return load_knowledge()


# --- HTTP level -------------------------------------------------------------------------------------------
# Every response the HTTP tests see goes through CdsClient (tests/support/cds_client.py), which checks it
# against the CDS Hooks conformance rules (tests/support/conformance.py) before the test looks at it.


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """One app for the session: knowledge loads once; the clock is fixed to TODAY; auth is required and
    trusts the test issuer (tests/support/tokens.py) only."""
    settings = Settings(trusted_issuers=(issuer_trust(),), data_dir=tmp_path_factory.mktemp("app-data"))
    return create_app(settings, today=lambda: TODAY)


@pytest.fixture
def cds(app: Flask) -> Iterator[CdsClient]:
    with app.test_client() as client:
        yield CdsClient(client)


@pytest.fixture(autouse=True)
def _no_dn_cds_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's DN_CDS_* settings."""
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


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[LocalFhirServer]:
    """The test FHIR server on 127.0.0.1 (npm ci on first use), with the demo patients, the test patients and
    the clinical vignettes loaded, dated for TODAY; stopped at the end of the session."""
    from support.fhir_test_patients import load_test_patients

    from cds_service.integration_cli import load_patients

    with running_fhir_server(page_size=FHIR_PAGE_SIZE) as server:
        assert load_patients(server.base, today=TODAY) == 0
        load_test_patients(server.base, TODAY)
        yield server
